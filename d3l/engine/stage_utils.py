"""Plumbing shared by the stage functions of :mod:`d3l.apis` and the
components they run: a config given as a path, a ``Config`` or a dict;
config values as JSON builtins; a dataset built for a stage; SIGTERM as a
clean exit for writers."""
from __future__ import annotations

import copy
import os
import os.path as osp
import signal
import threading
from contextlib import contextmanager
from typing import Any, Dict, Optional, Tuple, Union

from mmengine.config import Config

from .cli import CLIError, check_cfg_options, load_config

#: what the stage functions take as a config
ConfigLike = Union[str, os.PathLike, Config, dict]


def resolve_config(config: ConfigLike, cfg_options: Optional[Dict[str, Any]] = None
                   ) -> Tuple[Config, str]:
    """``(Config, its name in messages)`` from a path (loaded as the tools
    load it, :func:`~d3l.engine.cli.load_config`), an mmengine ``Config`` or
    a plain dict. The caller's object is copied, never changed: the stages
    fill in work dirs and hooks. ``cfg_options`` follow the
    ``--cfg-options`` rules (every key must exist; ``'+key'`` adds one),
    with Python values instead of strings."""
    if isinstance(config, (str, os.PathLike)):
        path = os.fspath(config)
        return load_config(path, cfg_options), path
    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
    elif isinstance(config, dict):
        cfg = Config(copy.deepcopy(dict(config)))
    else:
        raise CLIError(f'a config is a file path, an mmengine Config or a dict, not a '
                       f'{type(config).__name__}')
    label = cfg.filename or 'config'
    if cfg_options:
        cfg.merge_from_dict(check_cfg_options(cfg, cfg_options, label))
    cfg.setdefault('config_name', osp.splitext(osp.basename(cfg.filename))[0]
                   if cfg.filename else 'config')
    return cfg, label


def plain(value: Any) -> Any:
    """Config values as JSON-friendly builtins (manifests, identities)."""
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


def build_dataset(cfg: dict, what: str, error: type = CLIError):
    """The fully initialised dataset of ``cfg``; a config the dataset
    refuses (a missing root, a bad argument) is ``error`` naming ``what``
    (``'source'``, ``'scenes'``) and the dataset type."""
    from d3l.registry import DATASETS

    cfg = dict(cfg)
    try:
        dataset = DATASETS.build(cfg)
    except (FileNotFoundError, ValueError, TypeError, KeyError) as err:
        raise error(f'cannot build the {what} dataset {cfg.get("type")!r}: '
                    f'{type(err).__name__}: {err}') from None
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    return dataset


def _sigterm_as_exit(signum, frame):
    # a clean exit: finally-blocks remove the shard in progress and the lock
    raise SystemExit(128 + signum)


@contextmanager
def sigterm_as_exit():
    """While the block runs in the main thread, SIGTERM (a killed
    ``torchrun``, a scheduler) raises ``SystemExit(143)``, so that
    ``finally`` blocks drop a partial shard and the writer lock. In other
    threads (signals go to the main one) nothing changes."""
    in_main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGTERM) if in_main_thread else None
    if in_main_thread:
        signal.signal(signal.SIGTERM, _sigterm_as_exit)
    try:
        yield
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def init_launcher(launcher: str) -> Tuple[int, int]:
    """Start ``torch.distributed`` for ``launcher`` (``'none'``: nothing);
    returns ``(rank, world_size)``."""
    import torch
    from mmengine.dist import get_dist_info, init_dist

    if launcher != 'none':
        init_dist(launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    return get_dist_info()


__all__ = ['ConfigLike', 'resolve_config', 'plain', 'build_dataset', 'sigterm_as_exit',
           'init_launcher']
