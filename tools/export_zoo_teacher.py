"""Turn a teacher training checkpoint into a model zoo file (docs/model_zoo.md).

    python tools/export_zoo_teacher.py work_dirs/.../iter_N.pth OUT.pth [--half]

Keeps the weights (``state_dict``) and ``meta.dataset_meta`` (class names and
palette, so :class:`d3l.teachers.MMSegTeacher` needs nothing else) and drops
the optimizer, scheduler and message hub. Prints the size and sha256 of the
written file (record them in ``d3l/model_zoo`` and ``docs/model_zoo.md``).
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('checkpoint', help='training checkpoint (MMEngine format)')
    parser.add_argument('out', help='zoo checkpoint to write')
    parser.add_argument('--half', action='store_true', help='store float16 weights')
    return parser.parse_args(argv)


def export(checkpoint: str, out: str, half: bool = False) -> dict:
    import torch

    from d3l.model_zoo import file_sha256
    from d3l.utils import fileio
    from d3l.utils.compat import safe_torch_load
    from d3l.utils.errors import D3LError

    state = safe_torch_load(checkpoint, map_location='cpu')
    if not isinstance(state, dict) or 'state_dict' not in state:
        raise D3LError(f'{checkpoint}: not an MMEngine checkpoint (no "state_dict")')
    meta = state.get('meta') or {}
    dataset_meta = meta.get('dataset_meta') or {}
    if not dataset_meta.get('classes'):
        raise D3LError(f'{checkpoint}: meta.dataset_meta has no class names; the teacher '
                       'would not know its classes')
    weights = {k: (v.half() if half and v.is_floating_point() else v).clone()
               for k, v in state['state_dict'].items()}
    kept_meta = dict(dataset_meta=dict(classes=list(dataset_meta['classes']),
                                       palette=[list(p) for p in dataset_meta.get('palette', [])]),
                     iter=meta.get('iter'), source=osp.basename(checkpoint))
    with fileio.atomic_path(out) as tmp:
        torch.save(dict(state_dict=weights, meta=kept_meta), tmp)
    return dict(out=osp.abspath(out), bytes=osp.getsize(out), sha256=file_sha256(out),
                iter=meta.get('iter'), tensors=len(weights))


def main(argv=None) -> dict:
    args = parse_args(argv)
    report = export(args.checkpoint, args.out, args.half)
    print(json.dumps(report))
    return report


if __name__ == '__main__':
    repo_root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    from d3l.engine.cli import run_cli
    run_cli(main)
