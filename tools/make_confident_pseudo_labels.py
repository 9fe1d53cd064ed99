"""Confident pseudo-labels for unlabelled scenes (Limited Reconstructions).

    python tools/make_confident_pseudo_labels.py CONFIG CHECKPOINT
        [--out-dir DIR] [--ratio 0.2] [--overwrite] [--cfg-options k=v ...]

Runs the model of CONFIG with the weights of CHECKPOINT (e.g. the supervised
LR fine-tuning run) over ``pseudo_label.dataset`` of the config (the
unlabelled scenes with a test pipeline) and writes, for every scene,
``{out_dir}/{scene_id}/{label_name}``: per predicted class the top ``ratio``
most confident points keep their predicted class, every other point gets
the ignore label (the rule: ``select_confident``, called by
:func:`d3l.apis.make_confident_pseudo_labels`). The files use the
ground-truth format (int16, -1 = ignore) in a separate folder;
ground-truth files are never written. ``PseudoLabelDataset`` reads them back
for training.

The config holds::

    pseudo_label = dict(
        dataset=dict(type='ScanNetDataset', ..., subset='unlabeled',
                     pipeline=test_pipeline),   # GridSample(return_inverse=True)
        out_dir='work_dirs/pseudo_labels/scannet_lr1',
        ratio=0.2, label_name='segment20.npy')

or, with the paper's combined LR recipe (``configs/_base_/semi/combined.py``),
only ``pseudo_label = dict(ratio=0.2, label_name=...)``: the scenes are then
those of ``train_dataloader.dataset.pseudo_labeled`` (the task's scenes with
``subset='unlabeled'``) with the config's ``test_pipeline``, and ``out_dir``
is its ``label_root``.

Resumable: scenes whose file exists are skipped (and counted) unless
``--overwrite``; every file is written under a temporary name and renamed.
``{out_dir}/meta.json`` summarises the run (kept points per class).
"""
import argparse

from d3l.apis.confident import make_confident_pseudo_labels, pseudo_label_settings  # noqa: F401
from d3l.engine.cli import CLIError, DictAction, run_cli  # noqa: F401  (CLIError: for callers)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write confident pseudo-labels')
    parser.add_argument('config', help='config with a pseudo_label = dict(dataset=..., ...)')
    parser.add_argument('checkpoint', help='weights of the model that predicts')
    parser.add_argument('--out-dir', help='output folder (default: pseudo_label.out_dir)')
    parser.add_argument('--ratio', type=float,
                        help='fraction of each class kept per scene (default: '
                        'pseudo_label.ratio, else 0.2)')
    parser.add_argument('--overwrite', action='store_true',
                        help='recompute scenes whose file already exists')
    parser.add_argument('--device', default=None,
                        help='cuda or cpu (default: cuda when available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    return make_confident_pseudo_labels(args.config, args.checkpoint, out_dir=args.out_dir,
                                        ratio=args.ratio, overwrite=args.overwrite,
                                        device=args.device, cfg_options=args.cfg_options)


if __name__ == '__main__':
    run_cli(main)
