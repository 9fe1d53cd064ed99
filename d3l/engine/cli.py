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


def _close_matches(word: str, candidates: List[str], cutoff: float = 0.6) -> List[str]:
    import difflib
    return difflib.get_close_matches(word, [str(c) for c in candidates], n=1, cutoff=cutoff)


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


def check_top_level_keys(cfg: Config, path: str = '') -> None:
    """A top-level key within two typing mistakes of a key that the Runner
    or d3l reads (``trian_cfg``, ``optim_wrappers``, ``defualt_hooks``), or
    an unknown ``*_dataloader`` / ``*_evaluator`` / ``*_scheduler``, would be
    ignored silently: it is a :class:`CLIError` naming the closest known
    key. Other helper variables of a config (``num_classes``,
    ``la_train_pipeline``, ...) are left alone."""
    for key in cfg.keys():
        if key in KNOWN_TOP_LEVEL_KEYS or key.startswith('_'):
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


# ----------------------------------------------------------------------------
# registry types
# ----------------------------------------------------------------------------
def _iter_types(node: Any, path: str = '') -> Iterator[Tuple[str, str, dict]]:
    if isinstance(node, dict):
        value = node.get('type')
        if isinstance(value, str):
            yield (f'{path}.type' if path else 'type'), value, node
        for key, child in node.items():
            yield from _iter_types(child, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _iter_types(child, f'{path}.{i}')


def _check_arguments(component, node: dict, key: str, path: str) -> None:
    """Keys of a d3l component's config that its constructor does not take
    (``in_channel=`` for ``in_channels=``) are a CLIError naming the config
    key and the closest argument; a component taking ``**kwargs`` passes."""
    import inspect
    if not str(getattr(component, '__module__', '')).startswith('d3l.'):
        return  # other libraries' helpers (norm_cfg=dict(type='BN', requires_grad=...)) differ
    target = component.__init__ if inspect.isclass(component) else component
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name, p in parameters.items() if name != 'self' and p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    for arg in node:
        if arg in ('type', '_scope_', '_delete_') or arg in accepted:
            continue
        close = _close_matches(str(arg), accepted)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise CLIError(f'{path or "config"}: {key[:-len(".type")] or "config"}.{arg}: '
                       f'{getattr(component, "__name__", component)} takes no argument '
                       f'{arg!r}{hint}')


def check_config_types(cfg: Config, path: str = '') -> None:
    """Every ``type='Name'`` in the config must name a registered component
    (in d3l's registries, their MMEngine parents, or a scope like
    ``mmseg.``); otherwise a one-line error names the key."""
    from mmengine.registry import DefaultScope

    from d3l import registry as d3l_registry

    scope = cfg.get('default_scope', 'd3l')
    # the config's own scope first: MMEngine's parents may hold another class
    # of the same name (mmcv's RandomFlip beside d3l's)
    registries = sorted((value for value in vars(d3l_registry).values()
                         if type(value).__name__ == 'Registry'),
                        key=lambda registry: registry.scope != scope)
    instance = f'd3l-check-{os.getpid()}'
    if not DefaultScope.check_instance_created(instance):
        DefaultScope.get_instance(instance, scope_name=scope)
    for key, type_name, node in _iter_types(cfg._cfg_dict.to_dict()):
        # a config of another scope (e.g. an mmseg teacher config) names
        # that scope's components: look them up as '<scope>.<name>'
        candidates = [type_name]
        if scope != 'd3l' and '.' not in type_name:
            candidates.insert(0, f'{scope}.{type_name}')
        found = None
        for registry in registries:
            for candidate in candidates:
                try:
                    found = registry.get(candidate)
                except (KeyError, ImportError, AttributeError):
                    continue
                if found is not None:
                    break
            if found is not None:
                break
        if found is not None:
            _check_arguments(found, node, key, path)
        else:
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


def read_checkpoint(path: str, error: type = CLIError):
    """The checkpoint at ``path`` (weights_only, on the CPU); a missing,
    corrupt, truncated or unsafe file is ``error`` naming it."""
    try:
        return safe_torch_load(path, map_location='cpu')
    except FileNotFoundError:
        raise error(f'checkpoint {path} does not exist') from None
    except (CorruptCheckpointError, UnsafeCheckpointError) as err:
        raise error(str(err)) from None


def check_checkpoint(path: str) -> None:
    """Load a checkpoint once (weights_only) so that a corrupt, truncated or
    unsafe file is reported before the runner touches the work dir."""
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise CLIError(f'checkpoint {path} holds a {type(checkpoint).__name__}, not a dict')


def check_out_dir(path: Optional[str], option: str = '--out') -> None:
    """An output folder option must name a folder (or a path to create):
    a regular file there is a :class:`CLIError`, before anything runs."""
    if path is None:
        return
    if osp.exists(path) and not osp.isdir(path):
        raise CLIError(f'{option} {path} is a file, not a directory; give a folder for the '
                       'results')
    check_parent_folder(path, option)


def check_parent_folder(path: str, option: str) -> None:
    """The folders above ``path`` can be made: none of them is a file."""
    parent = osp.dirname(osp.abspath(path))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    if parent and not osp.isdir(parent):
        raise CLIError(f'{option} {path}: {parent} is a file, so the folder cannot be made')


def parse_with_launcher(parser, argv=None, cfg_options_help: Optional[str] = None):
    """Add ``--cfg-options``, ``--launcher`` and ``--local_rank`` (older
    launchers pass it; torchrun sets ``LOCAL_RANK``) to a tool's parser,
    parse ``argv`` and export ``LOCAL_RANK``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help=cfg_options_help)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def check_runner_config(cfg: Config, path: str = '') -> None:
    """Everything ``tools/train.py`` and ``tools/test.py`` check before the
    Runner starts: registered types and their arguments, top-level keys,
    value types."""
    check_top_level_keys(cfg, path)
    check_config_values(cfg, path)
    check_config_types(cfg, path)


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
    except TypeError as err:
        # a component built inside the Runner with arguments it does not
        # take (the config checks above cover d3l's own components)
        message = str(err)
        if not any(marker in message for marker in _ARGUMENT_ERRORS):
            raise
        print(f'error: {message.splitlines()[0]} (check that component\'s arguments in the '
              'config; D3L_DEBUG=1 shows the traceback)', file=sys.stderr)
        sys.exit(2)


#: TypeError texts of a call with arguments the callee does not take
_ARGUMENT_ERRORS = ('unexpected keyword argument', 'got unexpected arguments',
                    'required positional argument', 'required keyword-only argument')


__all__ = ['CLIError', 'DictAction', 'load_config', 'check_cfg_options', 'check_config_types',
           'check_top_level_keys', 'check_config_values', 'check_out_dir', 'check_runner_config',
           'fill_scheduler_ends', 'adapt_to_device', 'enable_amp', 'read_checkpoint',
           'check_checkpoint',
           'find_resume_checkpoint', 'check_parent_folder', 'parse_with_launcher', 'run_cli']
