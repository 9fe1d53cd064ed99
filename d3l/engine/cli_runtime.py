"""Runtime adjustments ``tools/train.py`` makes to a loaded config: scheduler
ends, the CPU fallback of the distributed backend, mixed precision."""
from __future__ import annotations

import sys

import torch
from mmengine.config import Config, ConfigDict

from .cli_errors import CLIError


def fill_scheduler_ends(cfg: Config) -> None:
    """A scheduler with ``end=None`` runs until the end of training, so that
    a config can change ``max_epochs`` without rewriting its schedule."""
    train_cfg = cfg.get('train_cfg') or {}
    schedulers = cfg.get('param_scheduler')
    if schedulers is None:
        return
    if isinstance(schedulers, dict):
        schedulers = [schedulers]
    for scheduler in schedulers:
        if 'end' in scheduler and scheduler['end'] is None:
            by_epoch = scheduler.get('by_epoch', True)
            total = train_cfg.get('max_epochs') if by_epoch else train_cfg.get('max_iters')
            if total is None:
                raise CLIError(
                    f'param_scheduler {scheduler.get("type")} has end=None but train_cfg has no '
                    f'{"max_epochs" if by_epoch else "max_iters"}')
            scheduler['end'] = total


def adapt_to_device(cfg: Config, launcher: str = 'none') -> None:
    """CPU-only machines: gloo instead of nccl, DDP without device ids."""
    if torch.cuda.is_available():
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    dist_cfg = env_cfg.setdefault('dist_cfg', ConfigDict())
    if dist_cfg.get('backend', 'nccl') == 'nccl':
        dist_cfg['backend'] = 'gloo'
    if launcher != 'none':
        wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
            type='MMDistributedDataParallel', broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False))
        wrapper.setdefault('device_ids', None)
        cfg.model_wrapper_cfg = wrapper


def enable_amp(cfg: Config) -> None:
    """``--amp``: MMEngine's AmpOptimWrapper (dynamic loss scale) on GPU."""
    if not torch.cuda.is_available():
        print('warning: --amp needs a CUDA device; training in fp32 on the CPU', file=sys.stderr)
        return
    optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
    if optim_wrapper == 'AmpOptimWrapper':
        return
    if optim_wrapper != 'OptimWrapper':
        raise CLIError(f'--amp cannot replace optim_wrapper type {optim_wrapper!r}')
    cfg.optim_wrapper.type = 'AmpOptimWrapper'
    cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
