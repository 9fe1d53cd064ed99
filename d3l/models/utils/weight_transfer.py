"""Weight transfer from a pre-training checkpoint to a fine-tuning model.

Every d3l algorithm (``Segmentor``, ``Classifier`` and their subclasses)
carries a *transfer guard*: a ``load_state_dict`` pre-hook that runs however
weights arrive (``load_from``, ``resume``, ``tools/test.py``, an
``init_cfg=dict(type='Pretrained', ...)``, a plain ``model.load_state_dict``)
and

- loads every checkpoint tensor whose key and shape match the model;
- drops checkpoint tensors of a *head* whose shape differs (the C-class
  pre-training head meeting a K-class task head): the model keeps its
  freshly initialised head;
- raises :class:`WeightTransferError` when a tensor *outside* the heads
  differs in shape (a different backbone configuration), instead of
  MMEngine's warning-and-skip;
- on a transfer (``load_from`` through ``tools/train.py`` or
  :class:`~d3l.engine.hooks.WeightTransferHook`, :func:`load_pretrained`)
  raises :class:`WeightTransferError` when the model's *backbone* is not
  fully loaded (some ``backbone.*`` tensors are not in the checkpoint: a
  checkpoint of another architecture would otherwise load a tensor or two
  and fine-tune the rest from scratch, exit 0), unless partial loading was
  allowed with a reason (:func:`allow_partial_transfer`, the config's
  top-level ``allow_partial = 'why'`` in ``tools/train.py``); the reason is
  logged. Checkpoint tensors the model has no place for (a segmentation
  decoder when fine-tuning a classifier's encoder) are dropped and listed;
- logs exactly which keys were loaded, which are new (in the model, not in
  the checkpoint) and which were dropped (in the checkpoint, not used), and
  keeps that :class:`TransferReport` as ``model.transfer_report``.

``tools/test.py`` is stricter still: every model tensor must come from the
checkpoint (:func:`check_complete_load`).

A head whose shape happens to match (teacher and task with the same number
of classes) would be loaded; ``drop_heads`` drops it explicitly, either
through :class:`~d3l.engine.hooks.WeightTransferHook` (``load_from`` in a
fine-tuning config; resume and test untouched) or :func:`load_pretrained`.
"""
from __future__ import annotations

import functools
import logging
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

from mmengine.logging import print_log
from torch import Tensor, nn

from d3l.utils.errors import D3LError

#: attribute of a guarded module holding one-shot options for its next load
_PENDING = '_d3l_transfer_pending'
#: attribute of a guarded module: why a partially loaded backbone is fine
_ALLOW_PARTIAL = '_d3l_allow_partial'
#: module name whose tensors must all come from a transfer checkpoint
BACKBONE_NAME = 'backbone'


class WeightTransferError(D3LError, RuntimeError):
    """A checkpoint tensor outside the heads does not fit the model."""


@dataclass
class TransferReport:
    """What one state-dict load did.

    Attributes:
        loaded: model keys filled from the checkpoint.
        new: model keys the checkpoint does not provide (keep their init).
        dropped: checkpoint keys not used, with the reason.
        source: where the weights came from (a file name when known).
    """

    loaded: List[str] = field(default_factory=list)
    new: List[str] = field(default_factory=list)
    dropped: Dict[str, str] = field(default_factory=dict)
    source: str = 'state dict'

    @property
    def backbone_new(self) -> List[str]:
        """Backbone keys of the model the checkpoint did not fill."""
        return [k for k in self.new if is_head_key(k, (BACKBONE_NAME,))]

    def summary(self) -> str:
        """Multi-line log text listing every key by outcome."""
        backbone = [k for k in self.loaded + self.new if is_head_key(k, (BACKBONE_NAME,))]
        head = (f'weight transfer from {self.source}: loaded {len(self.loaded)}, '
                f'new {len(self.new)}, dropped {len(self.dropped)}; backbone '
                f'{len(backbone) - len(self.backbone_new)}/{len(backbone)} tensors loaded')
        if not self.new and not self.dropped:
            return f'{head} (every model key loaded)'
        lines = [head]
        lines.append(f'  loaded ({len(self.loaded)}): ' + (', '.join(self.loaded) or '-'))
        lines.append(f'  new, not in the checkpoint ({len(self.new)}): '
                     + (', '.join(self.new) or '-'))
        lines.append(f'  dropped from the checkpoint ({len(self.dropped)}): '
                     + (', '.join(f'{k} [{why}]' for k, why in self.dropped.items()) or '-'))
        return '\n'.join(lines)


def is_head_key(key: str, head_names: Iterable[str]) -> bool:
    """Whether a state-dict key belongs to a head: one of its dotted module
    names is in ``head_names`` (so ``teacher.decode_head.x`` counts too)."""
    parts = key.split('.')[:-1]
    return any(name in parts for name in head_names)


def plan_transfer(model_state: Mapping[str, Tensor], checkpoint_state: Mapping[str, Tensor],
                  head_names: Sequence[str] = (), drop_heads: Sequence[str] = (),
                  source: str = 'state dict') -> Tuple[List[str], TransferReport]:
    """Decide what to load; returns ``(keys to remove from the checkpoint,
    report)``.

    Args:
        model_state: the model's ``state_dict()`` (keys relative to it).
        checkpoint_state: the incoming tensors, same key space.
        head_names: module names of heads (``decode_head``, ``cls_head``):
            their tensors may differ in shape and are then dropped.
        drop_heads: module names whose checkpoint tensors are dropped
            whatever their shape (the pre-training head), matched like
            ``head_names``.
        source: named in the report and in errors.

    Raises:
        WeightTransferError: a tensor outside the heads differs in shape.
    """
    report = TransferReport(source=source)
    remove: List[str] = []
    mismatched = []
    for key, value in checkpoint_state.items():
        if is_head_key(key, drop_heads):
            remove.append(key)
            report.dropped[key] = 'pre-training head (drop_heads)'
            continue
        if key not in model_state:
            report.dropped[key] = 'not in the model'
            continue
        target = model_state[key]
        shape = tuple(getattr(value, 'shape', ()))
        if shape != tuple(target.shape):
            if is_head_key(key, head_names):
                remove.append(key)
                report.dropped[key] = (f'head shape {shape} does not fit '
                                       f'{tuple(target.shape)}')
                continue
            mismatched.append(f'{key}: checkpoint {shape} vs model {tuple(target.shape)}')
            continue
        report.loaded.append(key)
    if mismatched:
        raise WeightTransferError(
            f'cannot load {source}: {len(mismatched)} tensor(s) outside the heads '
            f'({", ".join(head_names) or "none"}) differ in shape, so the checkpoint was '
            'trained with another backbone configuration (in_channels, channels, blocks, '
            'resblock): ' + '; '.join(mismatched[:10])
            + (f'; ... {len(mismatched) - 10} more' if len(mismatched) > 10 else ''))
    used = set(report.loaded)
    report.new = [key for key in model_state if key not in used]
    return remove, report


def _guard_pre_hook(module: nn.Module, state_dict, prefix, local_metadata, strict,
                    missing_keys, unexpected_keys, error_msgs, *,
                    head_names: Optional[Sequence[str]] = None):
    """``load_state_dict`` pre-hook installed by :func:`install_transfer_guard`."""
    pending = module.__dict__.pop(_PENDING, None) or {}
    names = tuple(head_names if head_names is not None
                  else getattr(module, 'transfer_head_names', ()))
    incoming = {key[len(prefix):]: value for key, value in state_dict.items()
                if key.startswith(prefix)}
    own = module.state_dict()
    remove, report = plan_transfer(
        own, incoming, names, pending.get('drop_heads', ()),
        source=(pending.get('source') or getattr(module, '_d3l_transfer_source', None)
                or f'a state dict loaded into {type(module).__name__}'))
    for key in remove:
        state_dict.pop(prefix + key, None)
    if prefix:
        report.loaded = [prefix + k for k in report.loaded]
        report.new = [prefix + k for k in report.new]
        report.dropped = {prefix + k: v for k, v in report.dropped.items()}
    module.transfer_report = report
    print_log(report.summary(), logger='current', level=logging.INFO)
    # armed by a transfer (WeightTransferHook, load_pretrained, tools/train.py);
    # check_complete_load reports every key itself, and a plain
    # load_state_dict(strict=False) of another tool keeps its own checks
    armed = bool(pending) or _ALLOW_PARTIAL in module.__dict__
    if armed and not pending.get('complete_check'):
        _check_backbone_loaded(module, report, pending.get('allow_partial'))


def _check_backbone_loaded(module: nn.Module, report: TransferReport,
                           reason: Optional[str]) -> None:
    missing = report.backbone_new
    if not missing:
        return
    reason = reason or getattr(module, _ALLOW_PARTIAL, None)
    total = len([k for k in report.loaded + report.new if is_head_key(k, (BACKBONE_NAME,))])
    what = (f'{report.source} fills {total - len(missing)} of the {total} backbone tensors of '
            f'{type(module).__name__}; not in the checkpoint: ' + ', '.join(missing[:8])
            + (f', ... {len(missing) - 8} more' if len(missing) > 8 else ''))
    if reason:
        print_log(f'partial weight transfer allowed ({reason}): {what}', logger='current',
                  level=logging.WARNING)
        return
    raise WeightTransferError(
        f'{what}. The checkpoint holds another architecture, so most of the backbone would '
        "train from scratch; use the matching checkpoint, or allow it on purpose with "
        "allow_partial = '<reason>' at the config's top level")


def install_transfer_guard(module: nn.Module,
                           head_names: Optional[Sequence[str]] = None) -> nn.Module:
    """Attach the transfer guard (see the module docstring) to ``module``.

    ``head_names`` defaults to the module's ``transfer_head_names``
    attribute, read at load time so subclasses can extend it.
    """
    if getattr(module, '_d3l_transfer_guarded', False):
        return module
    hook = functools.partial(_guard_pre_hook, head_names=head_names)
    module.register_load_state_dict_pre_hook(hook)
    module._d3l_transfer_guarded = True
    module.transfer_report = None
    return module


def allow_partial_transfer(model: nn.Module, reason: Optional[str],
                           source: Optional[str] = None) -> None:
    """Let later loads into ``model`` leave backbone tensors at their
    initialisation (``reason`` is logged with the list); ``None`` forbids it
    again. ``source`` names the file in reports and errors of loads that do
    not name theirs (``tools/train.py`` passes ``load_from``). A model
    without any guard gets one at its top when ``reason`` is given."""
    if reason is not None and (not isinstance(reason, str) or not reason.strip()):
        raise WeightTransferError(f'allow_partial must be a non-empty string saying why the '
                                  f'backbone may be partly loaded, got {reason!r}')
    guarded = [m for m in model.modules() if getattr(m, '_d3l_transfer_guarded', False)]
    if not guarded and reason is None:
        return  # nothing to forbid on a model without a guard
    # setting the attribute (None included) arms the backbone check of the guard
    for module in guarded or [install_transfer_guard(model)]:
        setattr(module, _ALLOW_PARTIAL, reason)
        if source is not None:
            module._d3l_transfer_source = str(source)


def check_complete_load(model: nn.Module, state_dict: Mapping[str, Tensor],
                        source: str = 'the checkpoint') -> TransferReport:
    """Load ``state_dict`` into ``model`` and require that every model
    tensor came from it and every tensor of it was used (a test-time load:
    a random or partly random network must never be evaluated). Module
    load hooks (the guard, mean teacher's key mapping) run as usual.

    Raises:
        WeightTransferError: naming the missing and unexpected keys, and the
            heads whose class count differs.
    """
    state_dict = {(k[7:] if k.startswith('module.') else k): v for k, v in state_dict.items()}
    guarded = [m for m in model.modules() if getattr(m, '_d3l_transfer_guarded', False)]
    for module in guarded:
        setattr(module, _PENDING, {'source': source, 'complete_check': True})
    try:
        result = model.load_state_dict(state_dict, strict=False)
    finally:
        clear_pending_transfer(model)
    missing, unexpected = list(result.missing_keys), list(result.unexpected_keys)
    reports = [m.transfer_report for m in guarded if m.transfer_report is not None]
    heads = {k: why for r in reports for k, why in r.dropped.items() if 'head shape' in why}
    if missing or unexpected or heads:
        parts = []
        if heads:
            parts.append('heads that do not fit (another class count?): '
                         + ', '.join(f'{k} [{why}]' for k, why in list(heads.items())[:4]))
        if missing:
            parts.append(f'{len(missing)} missing keys (the model has them, the checkpoint '
                         'not): ' + ', '.join(missing[:6]) + (' ...' if len(missing) > 6 else ''))
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected keys (in the checkpoint, not the '
                         'model): ' + ', '.join(unexpected[:6])
                         + (' ...' if len(unexpected) > 6 else ''))
        raise WeightTransferError(f'{source} does not fit the model {type(model).__name__}: '
                                  + '; '.join(parts) + ' (is it the checkpoint of this config?)')
    return reports[0] if reports else TransferReport(loaded=list(state_dict), source=source)


def set_pending_transfer(model: nn.Module, drop_heads: Sequence[str] = (),
                         source: Optional[str] = None) -> None:
    """Options for the *next* load of every guarded module in ``model``
    (used by :class:`~d3l.engine.hooks.WeightTransferHook`, which runs right
    before MMEngine loads ``load_from``). A model without any guard gets one
    at its top."""
    guarded = [m for m in model.modules() if getattr(m, '_d3l_transfer_guarded', False)]
    if not guarded:
        guarded = [install_transfer_guard(model, head_names=tuple(drop_heads))]
    for module in guarded:
        setattr(module, _PENDING, {'drop_heads': tuple(drop_heads), 'source': source})


def clear_pending_transfer(model: nn.Module) -> None:
    for module in model.modules():
        module.__dict__.pop(_PENDING, None)


def load_pretrained(model: nn.Module, filename: str, drop_heads: Sequence[str] = (),
                    map_location='cpu') -> TransferReport:
    """Load a pre-training checkpoint into ``model`` (non-strict) through the
    guard and return its report; ``model`` without a guard gets one.

    Args:
        model: the fine-tuning model.
        filename: checkpoint (MMEngine's ``{'state_dict': ...}`` or a bare
            state dict).
        drop_heads: head module names to drop whatever their shape, e.g.
            ``('decode_head',)``.
        map_location: as in ``torch.load``.

    Raises:
        FileNotFoundError / CorruptCheckpointError / UnsafeCheckpointError:
            the file cannot be read safely.
        WeightTransferError: a non-head tensor does not fit.
    """
    from mmengine.runner.checkpoint import _load_checkpoint_to_model

    from d3l.utils.compat import safe_torch_load

    if not any(getattr(m, '_d3l_transfer_guarded', False) for m in model.modules()):
        install_transfer_guard(model)
    checkpoint = safe_torch_load(filename, map_location=map_location)
    if not isinstance(checkpoint, dict):
        raise WeightTransferError(f'checkpoint {filename} holds a {type(checkpoint).__name__}, '
                                  'not a dict')
    set_pending_transfer(model, drop_heads, source=str(filename))
    try:
        _load_checkpoint_to_model(model, checkpoint, strict=False)
    finally:
        clear_pending_transfer(model)
    reports = [m.transfer_report for m in model.modules()
               if getattr(m, '_d3l_transfer_guarded', False) and m.transfer_report is not None]
    return reports[0]


__all__ = ['WeightTransferError', 'TransferReport', 'plan_transfer', 'install_transfer_guard',
           'set_pending_transfer', 'clear_pending_transfer', 'load_pretrained', 'is_head_key',
           'allow_partial_transfer', 'check_complete_load']
