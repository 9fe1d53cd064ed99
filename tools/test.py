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
import json
import math
import os
import os.path as osp

from mmengine.hooks import Hook

import d3l.evaluation  # noqa: F401  (registers VotingModel and PredictionExportHook)
from d3l.engine.cli import (
    CLIError,
    DictAction,
    adapt_to_device,
    check_checkpoint,
    check_out_dir,
    check_runner_config,
    fill_scheduler_ends,
    load_config,
    run_cli,
)


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
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def _plain(value):
    """A metric as JSON can hold it: numpy scalars (mmseg's IoUMetric gives
    float32) become Python numbers, NaN (a class absent from the data) None."""
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def write_results(metrics: dict, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    clean = {k: _plain(v) for k, v in metrics.items()}
    tmp = osp.join(out_dir, 'metrics.json.tmp')
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(clean, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'metrics.json'))
    per_class = {k.split('.', 1)[1]: v for k, v in clean.items() if '.' in k}
    lines = [f'{"class":<24} {"score":>8}']
    for name, value in per_class.items():
        lines.append(f'{name:<24} {"absent" if value is None else f"{value:8.2f}":>8}')
    for key, value in clean.items():
        if '.' not in key and isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(f'{key:<24} {value:8.2f}')
    with open(osp.join(out_dir, 'per_class.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def write_run_info(args, cfg, out_dir: str) -> None:
    info = dict(config=osp.abspath(args.config), config_name=cfg.config_name,
                checkpoint=osp.abspath(args.checkpoint), tta=bool(args.tta),
                cfg_options={k: str(v) for k, v in (args.cfg_options or {}).items()})
    tmp = osp.join(out_dir, 'run.json.tmp')
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(info, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'run.json'))


def apply_tta(cfg, path: str) -> None:
    """Swap in the voting pipeline and wrap the model (``--tta``)."""
    if not cfg.get('tta_pipeline'):
        raise CLIError(f'{path} defines no tta_pipeline; --tta needs one (a mmcv.TestTimeAug '
                       'whose branches end with PackPointInputs, see docs/downstream.md)')
    tta_model = dict(cfg.get('tta_model') or dict(type='VotingModel'))
    cfg.model = dict(**tta_model, module=cfg.model)
    dataset = cfg.test_dataloader.dataset
    while 'pipeline' not in dataset and 'dataset' in dataset:  # dataset wrappers
        dataset = dataset.dataset
    dataset.pipeline = cfg.tta_pipeline


def add_export_hooks(cfg, args) -> None:
    hooks = list(cfg.get('custom_hooks') or [])
    if args.show_dir:
        hooks.append(dict(type='PredictionExportHook', out_dir=args.show_dir, ply=True,
                          labels=False, max_samples=args.max_show))
    if args.save_preds:
        hooks.append(dict(type='PredictionExportHook', out_dir=args.save_preds, ply=False,
                          labels=True))
    cfg.custom_hooks = hooks


class CompleteCheckpointLoad(Hook):
    """Loads the checkpoint after every hook's ``before_run`` (where MMEngine
    would load ``load_from``) and requires it to fill the whole model: the
    algorithm itself, inside a test-time-augmentation wrapper or DDP."""

    priority = 'LOWEST'

    def __init__(self, path: str):
        self.path = path

    def before_run(self, runner) -> None:
        from mmengine.model import BaseTTAModel, is_model_wrapper
        from mmengine.runner.checkpoint import _load_checkpoint

        from d3l.models.utils.weight_transfer import check_complete_load

        checkpoint = _load_checkpoint(self.path, map_location='cpu')
        runner.call_hook('after_load_checkpoint', checkpoint=checkpoint)
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        if isinstance(model, BaseTTAModel):
            model = model.module
        state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) \
            else checkpoint
        check_complete_load(model, state, source=f'checkpoint {self.path}')
        runner._has_loaded = True


def main(argv=None):
    args = parse_args(argv)
    for option in ('out', 'show_dir', 'save_preds', 'work_dir'):
        check_out_dir(getattr(args, option), '--' + option.replace('_', '-'))
    cfg = load_config(args.config, args.cfg_options)
    if args.tta:
        apply_tta(cfg, args.config)
    add_export_hooks(cfg, args)
    if args.predict_only:
        if not (args.save_preds or args.show_dir):
            raise CLIError('--predict-only writes nothing without --save-preds or --show-dir')
        cfg.test_evaluator = dict(type='PredictionCount')
    check_runner_config(cfg, args.config)
    check_checkpoint(args.checkpoint)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', cfg.config_name, 'test')
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg, args.launcher)
    cfg.load_from = None  # CompleteCheckpointLoad loads it, strictly
    cfg.resume = False

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.register_hook(CompleteCheckpointLoad(args.checkpoint))
    metrics = runner.test()
    if args.out and runner.rank == 0:
        write_results(metrics, args.out)
        write_run_info(args, cfg, args.out)
    return metrics


if __name__ == '__main__':
    run_cli(main)
