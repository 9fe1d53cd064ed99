"""Fuse the stored soft labels of posed RGB-D frames onto reconstructed scenes.

    python tools/fuse_soft_labels.py CONFIG [--out DIR] [--resume]
        [--launcher none|pytorch|slurm] [--cfg-options k=v ...]
    torchrun --nproc_per_node 8 tools/fuse_soft_labels.py CONFIG --launcher pytorch

The config holds ``fusion`` (a ``SoftLabelFuser``: the scenes, their frames
and the frames' label directory written by tools/generate_pseudo_labels.py;
the teacher is not run again) and ``fused_label_cfg = dict(out_dir=...,
shard_size=4)``. The output is a label directory in d3l's soft-label store
format (one record per scene, one row per vertex), read by
``FusedSceneDataset``; see docs/fusion.md. ``--resume`` keeps complete
shards whose checksums and scenes check out and redoes the rest; check a
directory with ``tools/generate_pseudo_labels.py DIR --verify``.
"""
import argparse
import os
import signal
import threading

from d3l.engine.cli import CLIError, DictAction, load_config, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Fuse frame soft labels onto scenes')
    parser.add_argument('config', help='config with fusion and fused_label_cfg')
    parser.add_argument('--out', help='label directory (default: fused_label_cfg.out_dir)')
    parser.add_argument('--resume', action='store_true',
                        help='continue a directory: keep complete shards, redo the rest')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _on_sigterm(signum, frame):
    raise SystemExit(128 + signum)  # finally-blocks drop the partial shard and the lock


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if 'fusion' not in cfg:
        raise CLIError(f'{args.config} has no "fusion" (dict(type=\'SoftLabelFuser\', ...))')
    run_cfg = dict(cfg.get('fused_label_cfg') or {})
    out_dir = args.out or run_cfg.get('out_dir')
    if not out_dir:
        raise CLIError('no output directory: pass --out DIR or set fused_label_cfg.out_dir')
    if os.path.exists(out_dir) and not os.path.isdir(out_dir):
        raise CLIError(f'--out {out_dir} is a file, not a directory')

    import torch
    from mmengine.dist import get_dist_info, init_dist
    from mmengine.registry import init_default_scope

    import d3l  # noqa: F401
    from d3l.fusion import run_fusion
    from d3l.registry import TASK_UTILS

    if args.launcher != 'none':
        init_dist(args.launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    rank, world_size = get_dist_info()
    init_default_scope(cfg.get('default_scope', 'd3l'))
    fusion_cfg = cfg.fusion.to_dict() if hasattr(cfg.fusion, 'to_dict') else dict(cfg.fusion)
    try:
        fuser = TASK_UTILS.build(fusion_cfg)
    except TypeError as err:
        raise CLIError(f'{args.config}: fusion: {err}') from None
    previous = signal.getsignal(signal.SIGTERM)
    in_main = threading.current_thread() is threading.main_thread()
    if in_main:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        run_fusion(fuser, out_dir, shard_size=int(run_cfg.get('shard_size', 4)),
                   resume=args.resume, rank=rank, world_size=world_size,
                   watch_parent=args.launcher == 'pytorch')
    finally:
        if in_main:
            signal.signal(signal.SIGTERM, previous)


if __name__ == '__main__':
    run_cli(main)
