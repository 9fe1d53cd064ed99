"""Label your own scans with a trained segmentor.

    python tools/infer.py CONFIG CHECKPOINT INPUT [INPUT ...] --out DIR
                          [--device cpu|cuda] [--save-probs] [--no-progress]
                          [--cfg-options k=v ...]

INPUT: ``.ply`` (ASCII or binary, with or without colours and normals;
ScanNet's ``*_vh_clean_2.ply`` as is), ``.npy`` / ``.npz`` point arrays, or a
folder of them. For each file, DIR gets ``{name}_pred.ply`` (the points
coloured by class, with an integer ``label`` property), ``{name}_labels.npy``
and with ``--save-probs`` ``{name}_probs.npy`` (N x C, float16). One summary
line per file (points, seconds, class histogram). A bad file (unreadable,
empty, truncated, NaN coordinates, not a point cloud) is reported and the
others are still processed; the exit code is 1 if any file failed.
Scenes larger than the network's extent are predicted with sliding windows
(the model's ``test_cfg``). See docs/inference.md.
"""
import argparse
import os.path as osp
import sys

import torch

from d3l.engine.cli import CLIError, DictAction, check_checkpoint, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Segment point-cloud files with a d3l model')
    parser.add_argument('config', help='config file of the model')
    parser.add_argument('checkpoint', help='checkpoint (.pth) of that config')
    parser.add_argument('inputs', nargs='+', help='.ply / .npy / .npz files or folders')
    parser.add_argument('--out', required=True, help='output folder')
    parser.add_argument('--device', default=None,
                        help='torch device (default: cuda if available, else cpu)')
    parser.add_argument('--save-probs', action='store_true',
                        help='also write per-point class probabilities ({name}_probs.npy)')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. model.test_cfg.stride=4.0')
    return parser.parse_args(argv)


def resolve_device(name):
    if name is None:
        return 'cuda' if torch.cuda.is_available() else 'cpu'
    try:
        device = torch.device(name)
    except RuntimeError as err:
        raise CLIError(f'--device {name!r}: {err}') from None
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise CLIError(f'--device {name}: CUDA is not available on this machine')
    return device


def main(argv=None) -> int:
    args = parse_args(argv)
    from d3l.apis import init_model, segment_files

    if not osp.isfile(args.config):
        raise CLIError(f'config file {args.config} does not exist')
    check_checkpoint(args.checkpoint)
    model = init_model(args.config, args.checkpoint, resolve_device(args.device),
                       args.cfg_options or None)
    results = segment_files(model, args.inputs, args.out, save_probs=args.save_probs,
                            progress=not args.no_progress)
    failed = [r for r in results if not r.ok]
    points = sum(r.num_points for r in results if r.ok)
    seconds = sum(r.seconds for r in results if r.ok)
    print(f'done: {len(results) - len(failed)} of {len(results)} files segmented '
          f'({points} points, {seconds:.1f} s) into {args.out}; {len(failed)} failed')
    for result in failed:
        print(f'  failed: {result.message}', file=sys.stderr)
    return 1 if failed else 0


if __name__ == '__main__':
    def _entry():
        sys.exit(main())
    run_cli(_entry)
