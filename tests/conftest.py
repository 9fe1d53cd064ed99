"""Shared fixtures. Real-data tests read ``../shared/realdata`` (or
``$D3L_SHARED_DIR/realdata``) and skip with a reason when it is absent."""
import os
import os.path as osp
import subprocess
import sys

import numpy as np
import pytest
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DIR = os.environ.get('D3L_SHARED_DIR', osp.join(osp.dirname(REPO_ROOT), 'shared'))
REALDATA_DIR = osp.join(SHARED_DIR, 'realdata')

# two cores: keep torch from oversubscribing when tests spawn processes
torch.set_num_threads(min(2, torch.get_num_threads()))


@pytest.fixture(autouse=True)
def isolated_mmengine_state():
    """Each test starts in d3l's default scope, with MMEngine loggers writing
    to this test's streams: a Runner of an earlier test may have left another
    scope current (mmseg's for a teacher config), and a logger created under
    an earlier test's captured output would write to a closed stream."""
    import logging

    from mmengine.logging import MMLogger
    from mmengine.registry import init_default_scope

    init_default_scope('d3l')
    for logger in list(MMLogger._instance_dict.values()):
        for handler in logger.handlers:
            stream = getattr(handler, 'stream', None)
            if (type(handler) is logging.StreamHandler and stream is not None
                    and getattr(stream, 'closed', False)):
                # not setStream: it flushes the closed stream first
                handler.stream = sys.stdout  # MMLogger's console handler writes to stdout
    yield


def angles_deg(a, b):
    """Angles between rows, in float64 (arccos of a float32 dot bottoms out at 0.02 deg)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    return np.degrees(np.arctan2(np.linalg.norm(np.cross(a, b), axis=1), (a * b).sum(1)))


def realdata_path(*parts: str) -> str:
    """Path below ../shared/realdata; skips the test when it is missing."""
    path = osp.join(REALDATA_DIR, *parts)
    if not osp.exists(path):
        pytest.skip(f'real-data sample {path} is absent (needs ../shared/realdata beside the '
                    'checkout, or D3L_SHARED_DIR)')
    return path


@pytest.fixture
def realdata():
    return realdata_path


def run_tool(script: str, *args: str, timeout: float = 600, env=None, check: bool = True):
    """Run ``tools/<script>`` in a subprocess with the test interpreter."""
    full_env = dict(os.environ)
    full_env.setdefault('OMP_NUM_THREADS', '1')
    full_env['PYTHONPATH'] = REPO_ROOT + os.pathsep + full_env.get('PYTHONPATH', '')
    if env:
        full_env.update(env)
    cmd = [sys.executable, osp.join(REPO_ROOT, 'tools', script), *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=full_env,
                          cwd=REPO_ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f'{script} {" ".join(map(str, args))} exited {proc.returncode}\n'
                             f'--- stdout ---\n{proc.stdout[-4000:]}\n'
                             f'--- stderr ---\n{proc.stderr[-4000:]}')
    return proc


@pytest.fixture
def tool():
    return run_tool


def tool_module(name: str):
    """``tools/<name>.py`` as a module, to run its ``main(argv)`` in this process
    (no interpreter start-up; the tools are scripts, and ``test`` is a stdlib name)."""
    from d3l.benchmark.jobs import tool as load
    return load(name)
