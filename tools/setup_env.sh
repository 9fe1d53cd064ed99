#!/usr/bin/env bash
# Create (or update) the d3l virtual environment in .venv, in the one order that
# works on a CPU machine from the package registries alone:
#   1. torch pinned first (torch==2.13.0 takes the local CPU build; an open range
#      downloads GBs of CUDA packages),
#   2. plain dependencies,
#   3. mmcv-lite / mmsegmentation / ocnn with --no-deps (their metadata would
#      replace torch or ask for full mmcv),
#   4. optional extras, 5. d3l itself (editable, --no-deps).
# Usage: bash tools/setup_env.sh [--dev] [--mmdet3d] [--hf] [--bench] [--no-optional] [--venv DIR]
#   --dev       also test tools (pytest, ruff), the mmdet3d and hf extras (tests use them) and
#               the bench extra
#   --bench     open3d-cpu (the benchmarks' reference) and, when root with apt-get, Debian's
#               libusb-1.0-0 that Open3D's library loads
#   --mmdet3d   mmdet 3.3.0 + mmdet3d 1.4.0 (--no-deps) and what they import
#   --hf        transformers, for Hugging Face teachers
# Environment: PYTHON (default python3.11 if present, else python3), D3L_TORCH_SPEC.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
DEV=0
MMDET3D=0
HF=0
BENCH=0
OPTIONAL=1
while [ $# -gt 0 ]; do
  case "$1" in
    --dev) DEV=1; MMDET3D=1; HF=1; BENCH=1 ;;
    --bench) BENCH=1 ;;
    --mmdet3d) MMDET3D=1 ;;
    --hf) HF=1 ;;
    --no-optional) OPTIONAL=0 ;;
    --venv) VENV="$2"; shift ;;
    *) echo "setup_env.sh: unknown option $1" >&2; exit 2 ;;
  esac
  shift
done

PYTHON=${PYTHON:-$(command -v python3.11 || command -v python3)}
start=$(date +%s)
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup_env] creating $VENV with $($PYTHON --version)"
  "$PYTHON" -m venv "$VENV"
fi
PIP=("$VENV/bin/python" -m pip install -q --disable-pip-version-check)
# this machine's pip.conf lists local mirrors that print a warning per package
pip_install() { "${PIP[@]}" "$@" 2> >(grep -v "^WARNING: Location 'file:" >&2); }

# Open3D's pybind library links libusb-1.0.so.0; without it `import open3d` fails and the
# benchmarks skip their Open3D rows (saying so). Installed where this script can.
install_libusb() {
  if ldconfig -p 2>/dev/null | grep 'libusb-1\.0\.so\.0' >/dev/null; then
    return 0
  fi
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "[setup_env] skipping Debian libusb-1.0-0: needs root and apt-get (Open3D will not" \
         "import; run 'apt-get install libusb-1.0-0' as root)"
    return 0
  fi
  local apt=(env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends)
  if ! "${apt[@]}" libusb-1.0-0 >/dev/null; then
    apt-get update -q >/dev/null || true
    "${apt[@]}" libusb-1.0-0 >/dev/null \
      || echo "[setup_env] could not install libusb-1.0-0 (Open3D will not import)"
  fi
}

echo "[setup_env] 1/5 torch (pinned first)"
pip_install ${D3L_TORCH_SPEC:-torch==2.13.0}
echo "[setup_env] 2/5 runtime dependencies"
pip_install -r requirements/runtime.txt
echo "[setup_env] 3/5 mmcv-lite, mmsegmentation, ocnn (--no-deps)"
pip_install --no-deps -r requirements/no_deps.txt
if [ "$OPTIONAL" = 1 ]; then
  echo "[setup_env] 4/5 optional: spconv, py360convert"
  pip_install -r requirements/optional.txt
fi
if [ "$HF" = 1 ]; then
  echo "[setup_env] 4/5 hf extra: transformers"
  pip_install -r requirements/hf.txt
fi
if [ "$MMDET3D" = 1 ]; then
  echo "[setup_env] 4/5 mmdet3d extra (--no-deps) and its imports"
  pip_install -r requirements/mmdet3d.txt
  pip_install --no-deps -r requirements/mmdet3d_no_deps.txt
fi
if [ "$DEV" = 1 ]; then
  pip_install -r requirements/tests.txt
fi
if [ "$BENCH" = 1 ]; then
  echo "[setup_env] 4/5 bench extra: open3d-cpu (+ Debian libusb-1.0-0)"
  install_libusb
  pip_install -r requirements/bench.txt
fi
echo "[setup_env] 5/5 d3l (editable)"
pip_install --no-deps --no-build-isolation -e .

# the pinned torch must have survived every step above
"$VENV/bin/python" - <<'PY'
import torch, d3l
print(f'[setup_env] torch {torch.__version__}, d3l {d3l.__version__}, '
      f'CUDA {"available" if torch.cuda.is_available() else "not available (CPU)"}')
PY
echo "[setup_env] done in $(( $(date +%s) - start )) s"
