"""Run a 2D teacher once over an RGB-D dataset and store compact soft labels.

    python tools/generate_pseudo_labels.py CONFIG [--out DIR] [--resume]
        [--launcher none|pytorch|slurm] [--vis N] [--device DEV] [--cfg-options k=v ...]
    python tools/generate_pseudo_labels.py (CONFIG [--out DIR] | DIR) --verify

    torchrun --nproc_per_node 8 tools/generate_pseudo_labels.py CONFIG --launcher pytorch

The config holds ``teacher`` (a registered teacher: ``MMSegTeacher``,
``HFTeacher``, ``PrecomputedTeacher``, ...) and ``pseudo_label_cfg``::

    pseudo_label_cfg = dict(
        source=dict(type='RGBDFolderDataset', data_root=..., pipeline=[dict(type='LoadRGBD')]),
        out_dir='data/pseudo_labels/...',    # default for --out
        codec=dict(topk=3, prob_dtype='float16'),
        stride=1,                            # label grid stride in pixels
        shard_size=64)                       # frames per shard file

The frame list is cut into shards of ``shard_size`` consecutive frames;
shard ``i`` belongs to rank ``i % world_size``, so every frame is labelled
exactly once and the files do not depend on the number of processes. Each
shard is written under a temporary name and renamed when complete;
``--resume`` requires the same teacher, codec, frames and source files
(type, root, each file's size and mtime), keeps the complete shards whose
sha256 and frames check out, and redoes the rest (counted). Frames that
cannot be loaded, or whose teacher output is not a distribution (NaN), are
counted, listed in the summary and in ``manifest.json``. One writer at a
time: ``DIR/writer.lock`` names the running one. ``--verify`` checks every
shard (sha256, frames, rows) and exits 2 listing the bad ones.
``--vis N`` saves PNG overlays (image | top-1 class | confidence) of the
first N labelled frames of each rank under ``DIR/vis``.
"""
import argparse

from d3l.apis import generate_soft_labels, verify_soft_labels
from d3l.engine.cli import CLIError, parse_with_launcher, run_cli  # noqa: F401  (CLIError)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate soft pseudo-labels with a 2D teacher')
    parser.add_argument('config', help='config with teacher and pseudo_label_cfg')
    parser.add_argument('--out', help='label directory (default: pseudo_label_cfg.out_dir)')
    parser.add_argument('--resume', action='store_true',
                        help='continue a directory: keep complete shards, redo the rest')
    parser.add_argument('--verify', action='store_true',
                        help='check every shard of the directory (CONFIG may be the directory)'
                             '; exit 2 listing the bad ones')
    parser.add_argument('--vis', type=int, default=0, metavar='N',
                        help='save PNG overlays of the first N frames of each rank')
    parser.add_argument('--device', help='teacher device (default: cuda:LOCAL_RANK or cpu)')
    return parse_with_launcher(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    if args.verify:
        return verify_soft_labels(args.config, out_dir=args.out, cfg_options=args.cfg_options)
    return generate_soft_labels(args.config, out_dir=args.out, resume=args.resume,
                                launcher=args.launcher, vis=args.vis, device=args.device,
                                cfg_options=args.cfg_options)


if __name__ == '__main__':
    run_cli(main)
