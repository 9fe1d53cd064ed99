"""Training and testing through MMEngine's Runner, as functions
(``tools/train.py`` and ``tools/test.py`` are their CLIs).

Both check the config before the Runner touches the work dir (registered
types and their arguments, top-level keys, value types, the checkpoint),
so bad input is one :class:`~d3l.engine.cli.CLIError` naming the file or
key. ``config`` may be a path, an mmengine ``Config`` or a dict;
``cfg_options`` follow the ``--cfg-options`` rules with Python values.
"""
from __future__ import annotations

import json
import math
import os.path as osp
from typing import Optional

from mmengine.hooks import Hook

import d3l.evaluation  # noqa: F401  (registers VotingModel and PredictionExportHook)
from d3l.engine.cli import (
    CLIError,
    adapt_to_device,
    check_checkpoint,
    check_out_dir,
    check_runner_config,
    enable_amp,
    fill_scheduler_ends,
    find_resume_checkpoint,
)
from d3l.engine.stage_utils import ConfigLike, resolve_config


def train(config: ConfigLike, *, work_dir: Optional[str] = None, resume: Optional[str] = None,
          amp: bool = False, launcher: str = 'none', cfg_options: Optional[dict] = None,
          format_config: bool = True) -> dict:
    """Train (pre-train, fine-tune) the model of ``config``.

    Args:
        work_dir: logs and checkpoints (default ``work_dirs/<config name>``).
        resume: ``None``, ``'auto'`` (the latest checkpoint of the work dir)
            or a checkpoint path.
        amp: mixed precision (GPU; a warning and fp32 on the CPU).
        format_config: False writes the config into the log, the work dir
            and the checkpoint without yapf's formatting (see
            :func:`_prepare`; the demo's jobs, which build many Runners).

    ``load_from`` must fill the whole backbone unless the config says why
    not at its top level (``allow_partial = 'reason'``).

    Returns ``{'work_dir', 'checkpoint'}`` (the one ``last_checkpoint``
    names, or None) and ``'scalars'``, the last logged value of every
    training scalar of this run (``loss``, ``lr``, ...).
    """
    check_out_dir(work_dir, '--work-dir')
    cfg, label = resolve_config(config, cfg_options)
    check_runner_config(cfg, label)
    allow_partial = cfg.get('allow_partial')
    _prepare(cfg, launcher, work_dir, format_config=format_config)
    if amp:
        enable_amp(cfg)
    if resume == 'auto':
        latest = find_resume_checkpoint(cfg.work_dir)
        if latest is not None:
            check_checkpoint(latest)
        cfg.resume = True
        cfg.load_from = None
    elif resume is not None:
        check_checkpoint(resume)
        cfg.resume = True
        cfg.load_from = resume
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from)

    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    from d3l.models.utils.weight_transfer import WeightTransferError, allow_partial_transfer
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else _build_custom_runner(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        allow_partial_transfer(model, allow_partial, source=cfg.get('load_from'))
    except WeightTransferError as err:
        raise CLIError(f'{label}: {err}') from None
    runner.train()
    checkpoint = find_resume_checkpoint(cfg.work_dir)
    return dict(work_dir=cfg.work_dir,
                checkpoint=checkpoint if checkpoint and osp.isfile(checkpoint) else None,
                scalars=last_scalars(runner.log_dir))


def test(config: ConfigLike, checkpoint: str, *, out: Optional[str] = None,
         work_dir: Optional[str] = None, tta: bool = False, show_dir: Optional[str] = None,
         max_show: Optional[int] = None, save_preds: Optional[str] = None,
         predict_only: bool = False, launcher: str = 'none',
         cfg_options: Optional[dict] = None, format_config: bool = True) -> dict:
    """Evaluate ``checkpoint`` on the config's test set; returns the metrics.

    Every tensor of the model must come from the checkpoint and every
    tensor of it must be used. ``out`` writes ``metrics.json``,
    ``per_class.txt`` and ``run.json``; ``tta`` votes over the config's
    ``tta_pipeline``; ``show_dir`` writes coloured PLYs (at most
    ``max_show``), ``save_preds`` per-point class ids; ``predict_only``
    counts predictions instead of scoring them (no ground truth);
    ``format_config`` as for :func:`train`.
    """
    for option, value in (('out', out), ('show_dir', show_dir), ('save_preds', save_preds),
                          ('work_dir', work_dir)):
        check_out_dir(value, '--' + option.replace('_', '-'))
    cfg, label = resolve_config(config, cfg_options)
    if tta:
        apply_tta(cfg, label)
    add_export_hooks(cfg, show_dir, save_preds, max_show)
    if predict_only:
        if not (save_preds or show_dir):
            raise CLIError('--predict-only writes nothing without --save-preds or --show-dir')
        cfg.test_evaluator = dict(type='PredictionCount')
    check_runner_config(cfg, label)
    check_checkpoint(checkpoint)
    _prepare(cfg, launcher, work_dir, 'test', format_config=format_config)
    cfg.load_from = None  # CompleteCheckpointLoad loads it, strictly
    cfg.resume = False

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    runner.register_hook(CompleteCheckpointLoad(checkpoint))
    metrics = runner.test()
    if out and runner.rank == 0:
        write_results(metrics, out)
        info = dict(config=osp.abspath(cfg.filename) if cfg.filename else None,
                    config_name=cfg.config_name, checkpoint=osp.abspath(checkpoint),
                    tta=bool(tta),
                    cfg_options={k: str(v) for k, v in (cfg_options or {}).items()})
        _write_json(osp.join(out, 'run.json'), info)
    return metrics


def _prepare(cfg, launcher: str, work_dir: Optional[str], *default_tail: str,
             format_config: bool = True) -> None:
    """Launcher, work dir (given, the config's, else
    ``work_dirs/<config name>/<default_tail>``), scheduler ends, device
    adjustments and whether the config text is formatted."""
    if not format_config:
        # MMEngine formats the whole config with yapf each time it logs it,
        # dumps it, hands it to the visualizer or saves a checkpoint (4-5
        # times a Runner, ~0.25 s CPU each for the demo's configs); without
        # yapf the text is the same Python, not wrapped (Config's own option)
        object.__setattr__(cfg, '_format_python_code', False)
    cfg.launcher = launcher
    if work_dir:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', cfg.config_name, *default_tail)
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg, launcher)


def _build_custom_runner(cfg):
    from d3l.registry import RUNNERS
    return RUNNERS.build(cfg)


def last_scalars(log_dir: str) -> dict:
    """The last logged value of each scalar in ``log_dir/vis_data/scalars.json``
    (MMEngine's LocalVisBackend); {} when there is none."""
    path = osp.join(log_dir, 'vis_data', 'scalars.json')
    last = {}
    if not osp.isfile(path):
        return last
    with open(path, encoding='utf-8') as f:
        for line in f:
            try:
                last.update(json.loads(line))
            except ValueError:
                continue
    return last


# ------------------------------------------------------------------ testing
def _plain_metric(value):
    """A metric as JSON can hold it: numpy scalars (mmseg's IoUMetric gives
    float32) become Python numbers, NaN (a class absent from the data) None."""
    if hasattr(value, 'item') and getattr(value, 'ndim', 1) == 0:
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _write_json(path: str, obj) -> None:
    from d3l.utils import fileio
    fileio.write_json(path, obj, indent=2)


def write_results(metrics: dict, out_dir: str) -> None:
    """``metrics.json`` (every metric) and ``per_class.txt`` (the table)."""
    from d3l.utils import fileio

    clean = {k: _plain_metric(v) for k, v in metrics.items()}
    _write_json(osp.join(out_dir, 'metrics.json'), clean)
    per_class = {k.split('.', 1)[1]: v for k, v in clean.items() if '.' in k}
    lines = [f'{"class":<24} {"score":>8}']
    for name, value in per_class.items():
        lines.append(f'{name:<24} {"absent" if value is None else f"{value:8.2f}":>8}')
    for key, value in clean.items():
        if '.' not in key and isinstance(value, (int, float)) and not isinstance(value, bool):
            lines.append(f'{key:<24} {value:8.2f}')
    fileio.write_text(osp.join(out_dir, 'per_class.txt'), '\n'.join(lines) + '\n')


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


def add_export_hooks(cfg, show_dir: Optional[str], save_preds: Optional[str],
                     max_show: Optional[int] = None) -> None:
    hooks = list(cfg.get('custom_hooks') or [])
    if show_dir:
        hooks.append(dict(type='PredictionExportHook', out_dir=show_dir, ply=True,
                          labels=False, max_samples=max_show))
    if save_preds:
        hooks.append(dict(type='PredictionExportHook', out_dir=save_preds, ply=False,
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


__all__ = ['train', 'test', 'last_scalars', 'write_results', 'apply_tta', 'add_export_hooks',
           'CompleteCheckpointLoad']

# pytest collects functions named test* wherever a test module imports them
test.__test__ = False
