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

Opt-in: with ``pseudo_label_cfg.normals = dict(method='pca', window=5,
depth_edges=dict())`` (the training pipeline's ``DepthNormals`` and
``FilterDepthEdges`` arguments; ``depth_edges=None`` without that filter),
rank 0 then stores every labelled frame's per-pixel normals beside the labels
(:mod:`d3l.soft_labels.normals_pass`), read back by the ``StoredNormals``
transform. ``--normals-only`` adds (or recomputes) them for a store that
has its labels. Without the key nothing changes: the files are those of
before.
"""
import argparse

from d3l.apis import generate_soft_labels, verify_soft_labels
from d3l.engine.cli import CLIError, parse_with_launcher, run_cli
from d3l.engine.stage_utils import resolve_config
from d3l.soft_labels import read_manifest
from d3l.soft_labels.normals_pass import store_normals


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
    parser.add_argument('--normals-only', action='store_true',
                        help='store the normals of the labelled frames of an existing '
                             'directory (pseudo_label_cfg.normals, default PCA 5x5 after '
                             'FilterDepthEdges()); no labelling')
    return parse_with_launcher(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    if args.verify:
        return verify_soft_labels(args.config, out_dir=args.out, cfg_options=args.cfg_options)
    if not args.normals_only:
        manifest = generate_soft_labels(args.config, out_dir=args.out, resume=args.resume,
                                        launcher=args.launcher, vis=args.vis,
                                        device=args.device, cfg_options=args.cfg_options)
        if manifest is None:  # ranks > 0: rank 0 stores the normals
            return None
    cfg, label = resolve_config(args.config, args.cfg_options)
    label_cfg = cfg.get('pseudo_label_cfg') or {}
    normals_cfg = label_cfg.get('normals')
    if normals_cfg is None and not args.normals_only:
        return manifest  # the default: labels only, as before
    out_dir = args.out or label_cfg.get('out_dir')
    if 'source' not in label_cfg or not out_dir:
        raise CLIError(f'{label}: --normals-only needs pseudo_label_cfg.source and --out DIR '
                       '(or pseudo_label_cfg.out_dir)')
    store_normals(cfg, out_dir, normals_cfg=dict(normals_cfg or {}))
    return read_manifest(out_dir)


if __name__ == '__main__':
    run_cli(main)
