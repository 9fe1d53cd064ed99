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

from d3l.apis import fuse_soft_labels
from d3l.engine.cli import parse_with_launcher, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Fuse frame soft labels onto scenes')
    parser.add_argument('config', help='config with fusion and fused_label_cfg')
    parser.add_argument('--out', help='label directory (default: fused_label_cfg.out_dir)')
    parser.add_argument('--resume', action='store_true',
                        help='continue a directory: keep complete shards, redo the rest')
    return parse_with_launcher(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    return fuse_soft_labels(args.config, out_dir=args.out, resume=args.resume,
                            launcher=args.launcher, cfg_options=args.cfg_options)


if __name__ == '__main__':
    run_cli(main)
