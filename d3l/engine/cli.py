"""Shared plumbing of ``tools/train.py``, ``tools/test.py`` and friends.

Bad input (a missing config, an unknown ``type``, a typo in
``--cfg-options``, a corrupt checkpoint) raises :class:`CLIError` with one
line that names the file or key; the tools print it and exit non-zero
without a traceback, before anything is written to the work dir.
"""
from __future__ import annotations

import os
import os.path as osp
import sys
from typing import Any, Dict, Iterator, List, Optional, Tuple

import torch
from mmengine.config import Config, ConfigDict, DictAction

from d3l.utils.compat import CorruptCheckpointError, UnsafeCheckpointError, safe_torch_load
from d3l.utils.errors import D3LError


class CLIError(D3LError):
    """A user error found by the tool itself: printed as one line, exit 2."""


# ----------------------------------------------------------------------------
# config loading
# ----------------------------------------------------------------------------
def load_config(path: str, cfg_options: Optional[Dict[str, Any]] = None) -> Config:
    """Load a config and merge ``--cfg-options``.

    Every ``--cfg-options`` key must already exist in the config (a typo
    would otherwise add a key nobody reads). Prefix a key with ``+`` to add
    a new one on purpose: ``--cfg-options +model.backbone.new_arg=1``.
    """
    if not osp.isfile(path):
        raise CLIError(f'config file {path} does not exist')
    try:
        cfg = Config.fromfile(path)
    except (SyntaxError, NameError, ImportError, KeyError, TypeError, ValueError) as err:
        raise CLIError(f'cannot load config {path}: {type(err).__name__}: {err}') from None
    if cfg_options:
        cfg.merge_from_dict(check_cfg_options(cfg, cfg_options, path))
    # configs name themselves; tools use it for the default work dir
    cfg.setdefault('config_name', osp.splitext(osp.basename(path))[0])
    return cfg


def check_cfg_options(cfg: Config, options: Dict[str, Any], path: str = '') -> Dict[str, Any]:
    checked = {}
    for full_key, value in options.items():
        if full_key.startswith('+'):
            checked[full_key[1:]] = value
            continue
        node: Any = cfg._cfg_dict
        walked = []
        for part in full_key.split('.'):
            if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            elif isinstance(node, dict) and part in node:
                node = node[part]
            else:
                where = '.'.join(walked) or 'the top level'
                hint = ''
                if isinstance(node, dict):
                    close = _close_matches(part, list(node.keys()))
                    if close:
                        hint = f' (did you mean {".".join(walked + [close[0]])}?)'
                raise CLIError(
                    f'--cfg-options key {full_key!r}: {part!r} is not in {where} of '
                    f'{path or "the config"}{hint}; prefix the key with "+" to add a new key')
            walked.append(part)
        checked[full_key] = value
    return checked


def _close_matches(word: str, candidates: List[str]) -> List[str]:
    import difflib
    return difflib.get_close_matches(word, [str(c) for c in candidates], n=1)


# ----------------------------------------------------------------------------
# registry types
# ----------------------------------------------------------------------------
def _iter_types(node: Any, path: str = '') -> Iterator[Tuple[str, str]]:
    if isinstance(node, dict):
        value = node.get('type')
        if isinstance(value, str):
            yield (f'{path}.type' if path else 'type'), value
        for key, child in node.items():
            yield from _iter_types(child, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _iter_types(child, f'{path}.{i}')


def check_config_types(cfg: Config, path: str = '') -> None:
    """Every ``type='Name'`` in the config must name a registered component
    (in d3l's registries, their MMEngine parents, or a scope like
    ``mmseg.``); otherwise a one-line error names the key."""
    from mmengine.registry import DefaultScope

    from d3l import registry as d3l_registry

    registries = [value for value in vars(d3l_registry).values()
                  if type(value).__name__ == 'Registry']
    scope = cfg.get('default_scope', 'd3l')
    instance = f'd3l-check-{os.getpid()}'
    if not DefaultScope.check_instance_created(instance):
        DefaultScope.get_instance(instance, scope_name=scope)
    for key, type_name in _iter_types(cfg._cfg_dict.to_dict()):
        # a config of another scope (e.g. an mmseg teacher config) names
        # that scope's components: look them up as '<scope>.<name>'
        candidates = [type_name]
        if scope != 'd3l' and '.' not in type_name:
            candidates.insert(0, f'{scope}.{type_name}')
        found = False
        for registry in registries:
            for candidate in candidates:
                try:
                    if registry.get(candidate) is not None:
                        found = True
                        break
                except (KeyError, ImportError, AttributeError):
                    continue
            if found:
                break
        if not found:
            raise CLIError(f'{path or "config"}: {key} = {type_name!r} is not a registered type '
                           '(check the spelling, or load the plugin that registers it with '
                           'custom_imports)')


# ----------------------------------------------------------------------------
# runtime adjustments
# ----------------------------------------------------------------------------
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


def check_checkpoint(path: str) -> None:
    """Load a checkpoint once (weights_only) so that a corrupt, truncated or
    unsafe file is reported before the runner touches the work dir."""
    try:
        checkpoint = safe_torch_load(path, map_location='cpu')
    except FileNotFoundError:
        raise CLIError(f'checkpoint {path} does not exist') from None
    except (CorruptCheckpointError, UnsafeCheckpointError) as err:
        raise CLIError(str(err)) from None
    if not isinstance(checkpoint, dict):
        raise CLIError(f'checkpoint {path} holds a {type(checkpoint).__name__}, not a dict')


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``work_dir/last_checkpoint``, if any."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker, encoding='utf-8') as f:
        path = f.read().strip()
    if path and not osp.isabs(path) and not osp.isfile(path):
        path = osp.join(work_dir, osp.basename(path))
    return path or None


def run_cli(main) -> None:
    """Run ``main()``. A user error (:class:`~d3l.utils.errors.D3LError`, a
    missing file, a registry miss raised while the runner builds a component
    lazily) becomes one line on stderr and exit code 2; ``D3L_DEBUG=1``
    shows the traceback instead."""
    if os.environ.get('D3L_DEBUG') == '1':
        main()
        return
    try:
        main()
    except (D3LError, FileNotFoundError) as err:
        message = str(err) or type(err).__name__
        print(f'error: {message.splitlines()[0] if len(message) < 2000 else message[:2000]}',
              file=sys.stderr)
        sys.exit(2)
    except KeyError as err:
        message = str(err.args[0]) if err.args else ''
        if 'registry' not in message:
            raise
        print(f'error: {message.splitlines()[0]}', file=sys.stderr)
        sys.exit(2)


__all__ = ['CLIError', 'DictAction', 'load_config', 'check_cfg_options', 'check_config_types',
           'fill_scheduler_ends', 'adapt_to_device', 'enable_amp', 'check_checkpoint',
           'find_resume_checkpoint', 'run_cli']
