"""Ramp a model attribute (a loss weight) up over the first part of training."""
from __future__ import annotations

import math
from typing import Any, Optional, Tuple

from mmengine.hooks import Hook

from d3l.registry import HOOKS

from .ema_hook import unwrap_model

SHAPES = ('sigmoid', 'linear')


def sigmoid_rampup(current: float, length: float) -> float:
    """``exp(-5 (1 - t/T)^2)`` for ``t < T``, 1 afterwards (Laine & Aila
    2017; Tarvainen & Valpola 2017). ``length <= 0`` means no ramp (1)."""
    if length <= 0:
        return 1.0
    phase = 1.0 - min(max(float(current), 0.0), float(length)) / float(length)
    return math.exp(-5.0 * phase * phase)


def linear_rampup(current: float, length: float) -> float:
    """``t / T`` clipped to [0, 1]."""
    if length <= 0:
        return 1.0
    return min(max(float(current), 0.0), float(length)) / float(length)


def _resolve(model, target: str) -> Tuple[Any, str]:
    """The object holding the last attribute of a dotted path, and its name."""
    owner = model
    parts = target.split('.')
    for i, part in enumerate(parts[:-1]):
        if not hasattr(owner, part) or getattr(owner, part) is None:
            raise AttributeError(
                f'RampUpHook: {type(model).__name__} has no {".".join(parts[:i + 1])!r} '
                f'(target {target!r}); is the loss it ramps enabled in the model config?')
        owner = getattr(owner, part)
    if not isinstance(getattr(owner, parts[-1], None), (int, float)):
        raise AttributeError(f'RampUpHook: {target!r} of {type(model).__name__} is not a '
                             f'number (got {type(getattr(owner, parts[-1], None)).__name__})')
    return owner, parts[-1]


@HOOKS.register_module()
class RampUpHook(Hook):
    """Set ``model.<target>`` to ``start + (end - start) * ramp(t / length)``
    before every training iteration.

    ``t`` is the (fractional) epoch ``runner.iter / iters_per_epoch`` with
    ``by_epoch=True``, else the iteration. It is recomputed from the
    runner's counters every iteration, so a resumed run continues on the
    same curve. The value is logged as ``train/<log_name>``.

    Args:
        target: dotted attribute path on the (unwrapped) model, by default
            the consistency weight of :class:`~d3l.models.algorithms.MeanTeacherEntMin`.
        end: final value (the reference: 10 for mean-teacher consistency).
        length: ramp length in epochs (``by_epoch``) or iterations (30 epochs).
        start: value the ramp starts from (the sigmoid ramp starts at
            ``start + (end - start) * exp(-5)``, as in the reference).
        shape: ``'sigmoid'`` or ``'linear'``.
        by_epoch: measure ``t`` and ``length`` in epochs.
        log_name: name of the logged scalar (default ``w_consistency`` for
            ``loss_consistency.loss_weight``).
    """

    priority = 'NORMAL'

    def __init__(self, target: str = 'loss_consistency.loss_weight', end: float = 10.0,
                 length: float = 30, start: float = 0.0, shape: str = 'sigmoid',
                 by_epoch: bool = True, log_name: Optional[str] = None):
        if shape not in SHAPES:
            raise ValueError(f'RampUpHook: shape must be one of {SHAPES}, got {shape!r}')
        if length < 0:
            raise ValueError(f'RampUpHook: length must be >= 0, got {length}')
        self.target = target
        self.end = float(end)
        self.start = float(start)
        self.length = float(length)
        self.shape = shape
        self.by_epoch = by_epoch
        self.log_name = log_name or 'w_' + target.split('.')[0].removeprefix('loss_')
        self._ramp = sigmoid_rampup if shape == 'sigmoid' else linear_rampup

    def value_at(self, progress: float) -> float:
        """The value at ``progress`` epochs (or iterations)."""
        return self.start + (self.end - self.start) * self._ramp(progress, self.length)

    def _progress(self, runner) -> float:
        if not self.by_epoch:
            return float(runner.iter)
        iters_per_epoch = len(runner.train_dataloader)
        if iters_per_epoch == 0:
            raise ValueError('RampUpHook: the training dataloader is empty')
        return runner.iter / iters_per_epoch

    def _apply(self, runner) -> float:
        owner, name = _resolve(unwrap_model(runner.model), self.target)
        value = self.value_at(self._progress(runner))
        setattr(owner, name, value)
        runner.message_hub.update_scalar(f'train/{self.log_name}', value)
        return value

    def before_train(self, runner) -> None:
        self._apply(runner)  # fails early, with the path, when the target is missing

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._apply(runner)
