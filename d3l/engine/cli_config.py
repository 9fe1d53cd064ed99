"""Loading a config for a tool and checking it before the Runner starts:
``--cfg-options`` keys that exist, top-level keys that something reads,
values of the right kind (:func:`check_runner_config` runs them all, with the
registry checks of :mod:`.cli_types`)."""
from __future__ import annotations

import os.path as osp
from typing import Any, Dict, Optional

from mmengine.config import Config

from .cli_errors import CLIError, close_matches
from .cli_types import check_config_types


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
                    close = close_matches(part, list(node.keys()))
                    if close:
                        hint = f' (did you mean {".".join(walked + [close[0]])}?)'
                raise CLIError(
                    f'--cfg-options key {full_key!r}: {part!r} is not in {where} of '
                    f'{path or "the config"}{hint}; prefix the key with "+" to add a new key')
            walked.append(part)
        checked[full_key] = value
    return checked


#: top-level keys that MMEngine's Runner, d3l's tools or the configs' shared
#: pieces read; any other top-level name is a helper variable of the config
KNOWN_TOP_LEVEL_KEYS = (
    # mmengine.runner.Runner.from_cfg
    'model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg',
    'val_cfg', 'test_cfg', 'auto_scale_lr', 'optim_wrapper', 'param_scheduler',
    'val_evaluator', 'test_evaluator', 'default_hooks', 'custom_hooks', 'data_preprocessor',
    'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level', 'visualizer',
    'default_scope', 'randomness', 'experiment_name',
    # MMEngine elsewhere, d3l's tools
    'custom_imports', 'runner_type', 'model_wrapper_cfg', 'find_unused_parameters',
    'config_name', 'tta_model', 'tta_pipeline', 'allow_partial',
    # conventional helper names of the shared config pieces
    'train_pipeline', 'val_pipeline', 'test_pipeline', 'dataset_type', 'data_root',
    'metainfo', 'vis_backends', 'max_epochs', 'max_iters', 'val_interval')
#: suffixes that mark a key as meant for the Runner (an unknown one is a typo)
RUNNER_SUFFIXES = ('_dataloader', '_evaluator', '_scheduler')
#: mmcv's conventional helper variables of model configs (``norm_cfg = dict(type='BN',
#: requires_grad=True)``, passed on to the model by the config itself): never a typo,
#: though ``conv_cfg`` is two edits from ``env_cfg``; not typo targets either
MMCV_HELPER_KEYS = ('norm_cfg', 'conv_cfg', 'act_cfg')


def check_top_level_keys(cfg: Config, path: str = '') -> None:
    """A top-level key within two typing mistakes of a key that the Runner
    or d3l reads (``trian_cfg``, ``optim_wrappers``, ``defualt_hooks``), or
    an unknown ``*_dataloader`` / ``*_evaluator`` / ``*_scheduler``, would be
    ignored silently: it is a :class:`CLIError` naming the closest known
    key. Other helper variables of a config (``num_classes``,
    ``la_train_pipeline``, ...) are left alone."""
    for key in cfg.keys():
        if key in KNOWN_TOP_LEVEL_KEYS or key in MMCV_HELPER_KEYS or key.startswith('_'):
            continue
        distance, closest = min((_typo_distance(key, known), known)
                                for known in KNOWN_TOP_LEVEL_KEYS)
        if distance <= 2 or key.endswith(RUNNER_SUFFIXES):
            raise CLIError(f'{path or "config"}: unknown top-level key {key!r} (nothing reads '
                           f'it); did you mean {closest!r}?')


def _typo_distance(a: str, b: str) -> int:
    """Edits (insert, delete, substitute, swap neighbours) from ``a`` to ``b``."""
    rows = [list(range(len(b) + 1))]
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            row[j] = min(rows[-1][j] + 1, row[j - 1] + 1,
                         rows[-1][j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                row[j] = min(row[j], rows[-2][j - 2] + 1)
        rows.append(row)
    return rows[-1][-1]


#: (config path, what it must be) of values whose type the Runner only
#: checks deep inside a loop, with a traceback
_VALUE_CHECKS = (
    ('train_cfg.max_epochs', 'int'), ('train_cfg.max_iters', 'int'),
    ('train_cfg.val_interval', 'int'), ('train_cfg.val_begin', 'int'),
    ('train_dataloader.batch_size', 'int'), ('val_dataloader.batch_size', 'int'),
    ('test_dataloader.batch_size', 'int'), ('train_dataloader.num_workers', 'int0'),
    ('val_dataloader.num_workers', 'int0'), ('test_dataloader.num_workers', 'int0'),
    ('optim_wrapper.optimizer.lr', 'number'), ('optim_wrapper.optimizer.weight_decay', 'number'),
    ('default_hooks.checkpoint.interval', 'int_or_neg'), ('default_hooks.logger.interval', 'int'),
)


def check_config_values(cfg: Config, path: str = '') -> None:
    """Numbers the Runner needs (``train_cfg.max_epochs``, batch sizes,
    learning rate, ...) are numbers of the right kind: ``max_epochs=two``
    is a :class:`CLIError` naming the key, not a traceback from the loop."""
    for dotted, kind in _VALUE_CHECKS:
        node: Any = cfg._cfg_dict
        for part in dotted.split('.'):
            node = node.get(part) if isinstance(node, dict) else None
        if node is None:
            continue
        number = isinstance(node, (int, float)) and not isinstance(node, bool)
        whole = number and float(node).is_integer() and isinstance(node, int)
        ok = {'int': whole and node >= 1, 'int0': whole and node >= 0,
              'int_or_neg': whole and node != 0, 'number': number and node >= 0}[kind]
        if not ok:
            expected = {'int': 'a whole number >= 1', 'int0': 'a whole number >= 0',
                        'int_or_neg': 'a whole number (-1 = never)',
                        'number': 'a number >= 0'}[kind]
            raise CLIError(f'{path or "config"}: {dotted} = {node!r} must be {expected}')


def check_runner_config(cfg: Config, path: str = '') -> None:
    """Everything ``tools/train.py`` and ``tools/test.py`` check before the
    Runner starts: registered types and their arguments, top-level keys,
    value types."""
    check_top_level_keys(cfg, path)
    check_config_values(cfg, path)
    check_config_types(cfg, path)
