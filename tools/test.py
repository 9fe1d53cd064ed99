"""Evaluate a checkpoint on a config's test set.

    python tools/test.py CONFIG CHECKPOINT [--out DIR] [--work-dir DIR]
                         [--tta] [--show-dir DIR] [--save-preds DIR]
                         [--cfg-options k=v ...] [--launcher ...]

Every tensor of the model must come from CHECKPOINT (and every tensor of
CHECKPOINT must be used): another model's checkpoint, or a head with another
class count, is an error naming the missing / unexpected keys, never a
random network evaluated with exit 0.

``--out DIR`` writes ``metrics.json`` (every metric, per-class IoU included),
``per_class.txt`` (the per-class table) and ``run.json`` (config, checkpoint,
options; read by ``tools/summarize.py``).
``--tta`` votes over augmented copies: the config's ``tta_pipeline`` replaces
the test pipeline and the model is wrapped in ``tta_model`` (default
``VotingModel``), which averages the class probabilities per point / shape.
``--show-dir DIR`` writes ``{name}_pred.ply`` / ``{name}_gt.ply`` coloured by
class (full-resolution scenes); ``--save-preds DIR`` per-point class ids
(``.npy``; ScanNet also ``.txt`` with NYU40 ids, the benchmark's submission
format) or ``predictions.csv`` for classification. ``--predict-only`` skips
scoring, for splits without ground truth (ScanNet test: add
``--cfg-options test_dataloader.dataset.split=test``).
"""
import argparse

from d3l.apis.runner import CompleteCheckpointLoad, test, write_results  # noqa: F401
from d3l.engine.cli import CLIError, parse_with_launcher, run_cli  # noqa: F401  (for callers)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a d3l model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory for metrics.json and per_class.txt')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config>/test)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time voting with the config\'s tta_pipeline / tta_model')
    parser.add_argument('--show-dir', help='write coloured prediction / ground-truth PLYs here')
    parser.add_argument('--max-show', type=int, default=None,
                        help='export at most this many PLYs (default: all)')
    parser.add_argument('--save-preds', help='write per-point predictions (or a CSV) here')
    parser.add_argument('--predict-only', action='store_true',
                        help='no ground truth (e.g. ScanNet test split): count predictions '
                        'instead of scoring them; use with --save-preds / --show-dir')
    return parse_with_launcher(parser, argv)


def main(argv=None):
    args = parse_args(argv)
    return test(args.config, args.checkpoint, out=args.out, work_dir=args.work_dir,
                tta=args.tta, show_dir=args.show_dir, max_show=args.max_show,
                save_preds=args.save_preds, predict_only=args.predict_only,
                launcher=args.launcher, cfg_options=args.cfg_options)


if __name__ == '__main__':
    run_cli(main)
