"""Mean teacher: keep an exponential moving average (EMA) of the student.

The teacher lives inside the model (``model.teacher``, a frozen copy of
``model.student``; see :class:`~d3l.models.algorithms.MeanTeacherEntMin`), so
that ``train_step`` can ask it for consistency targets and so that it is
saved in, and resumed from, the ordinary ``state_dict`` of a checkpoint. This
hook only updates it after every optimizer step.

MMEngine's :class:`~mmengine.hooks.EMAHook` keeps its average outside the
model (for evaluation only) and swaps weights around validation; neither
fits a teacher that must be queried during training, hence this hook. It
follows the contract of mmdet's ``MeanTeacherHook`` (``model.teacher`` and
``model.student``, updated in ``after_train_iter``), which does not use
MMEngine's averaged models either.

Why :func:`ema_update_` and not MMEngine's ``ExponentialMovingAverage``
(``mmengine.model.averaged_model``, 0.10) as the teacher: it would change
what the tests check (tests/test_engine/test_ema_hook.py):

- warm-up: its first update copies the student (``steps == 0``), so the
  first ``alpha_t`` is 0, not Tarvainen & Valpola's 0.5;
- ``update_buffers=True`` copies integer buffers (``num_batches_tracked``)
  only on that first update, and averages ``state_dict()`` tensors captured
  at construction: the teacher is built in the model's ``__init__`` and the
  Runner moves the model to the GPU afterwards, so the average would go to
  the orphaned CPU tensors and the teacher would never change, silently;
- ``update_buffers=False`` overwrites the teacher's buffers with the
  student's on every update: ``buffers='none'`` (the paper's train-mode
  teacher keeping its own BatchNorm statistics) cannot be expressed;
- it nests the network as ``teacher.module.*`` with ``teacher.steps``, so
  existing checkpoints and the plain-checkpoint mapping would break;
- it refuses ``alpha`` 0 and 1 (``momentum`` must be in (0, 1)).

Each was checked on mmengine 0.10.7. What is left of our own is the one
``lerp`` per tensor group of :func:`ema_update_`.
"""
from __future__ import annotations

from typing import Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from torch import nn

from d3l.registry import HOOKS

BUFFER_MODES = ('ema', 'copy', 'none')


@torch.no_grad()
def ema_update_(teacher: nn.Module, student: nn.Module, alpha: float,
                buffers: str = 'ema') -> None:
    """In place: ``theta' = alpha * theta' + (1 - alpha) * theta`` for every
    parameter ``theta'`` of ``teacher`` and ``theta`` of ``student``.

    Args:
        teacher / student: modules with the same parameter and buffer names.
        alpha: weight of the old teacher value, in [0, 1].
        buffers: ``'ema'`` averages floating-point buffers (BatchNorm running
            mean / variance) with the same ``alpha``; ``'copy'`` copies them
            from the student; with both, integer buffers
            (``num_batches_tracked``) are copied. ``'none'`` leaves every
            buffer of the teacher alone (the paper's code: its teacher runs in
            train mode and keeps its own BatchNorm statistics).
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f'EMA alpha must be in [0, 1], got {alpha}')
    if buffers not in BUFFER_MODES:
        raise ValueError(f'EMA buffers must be one of {BUFFER_MODES}, got {buffers!r}')
    teacher_params = dict(teacher.named_parameters())
    student_params = dict(student.named_parameters())
    if teacher_params.keys() != student_params.keys():
        missing = sorted(set(student_params) ^ set(teacher_params))[:5]
        raise ValueError(f'teacher and student parameters differ: {missing}')
    names = list(student_params)
    targets = [teacher_params[n] for n in names]
    sources = [student_params[n].detach() for n in names]
    # lerp: t + (1 - alpha) (s - t) = alpha t + (1 - alpha) s, one fused
    # kernel per device/dtype group instead of one launch per tensor
    if targets:
        if hasattr(torch, '_foreach_lerp_'):
            torch._foreach_lerp_(targets, sources, 1.0 - alpha)
        else:  # pragma: no cover - torch < 1.13
            for t, s in zip(targets, sources):
                t.lerp_(s, 1.0 - alpha)

    if buffers == 'none':
        return
    teacher_buffers = dict(teacher.named_buffers())
    for name, source in student.named_buffers():
        target = teacher_buffers.get(name)
        if target is None:
            raise ValueError(f'teacher has no buffer {name!r}')
        if buffers == 'ema' and source.is_floating_point():
            target.lerp_(source.to(target.dtype), 1.0 - alpha)
        else:
            target.copy_(source)


def unwrap_model(model: nn.Module) -> nn.Module:
    return model.module if is_model_wrapper(model) else model


@HOOKS.register_module()
class MeanTeacherHook(Hook):
    """Update ``model.teacher`` as the EMA of ``model.student`` after every
    optimizer step.

    ``theta'_t = alpha_t theta'_{t-1} + (1 - alpha_t) theta_t`` with
    ``alpha_t = alpha`` or, with ``warmup``, ``min(alpha, 1 - 1 / (t + 1))``
    (``t`` = number of updates so far, counting this one) as in Tarvainen &
    Valpola's code: early teachers then average the few students there are
    instead of staying at the initial weights for ~1/(1 - alpha) steps.

    BatchNorm statistics are averaged like the weights by default
    (``buffers='ema'``): the teacher runs in eval mode, so its running
    statistics must describe the averaged network, and the EMA of the
    student's statistics over the same horizon as the weights is the
    matching estimate; copying them (``buffers='copy'``) pairs statistics of
    the current student with weights that lag ~1/(1 - alpha) steps behind.

    The update count lives in the model (``model.ema_steps``, a buffer saved
    in checkpoints), so a resumed run continues the warm-up exactly. With
    gradient accumulation the teacher is updated only on iterations where
    the optimizer stepped.

    Args:
        alpha: EMA decay (weight of the old teacher), 0.999 by default.
            MMEngine's ``EMAHook`` calls ``1 - alpha`` "momentum".
        warmup: use ``min(alpha, 1 - 1 / (t + 1))``.
        buffers: ``'ema'``, ``'copy'`` or ``'none'`` (see :func:`ema_update_`);
            ``'none'`` goes with ``MeanTeacherEntMin(teacher_bn='train')``, whose
            teacher updates its own statistics.
        interval: update on every ``interval``-th iteration (counted by
            ``runner.iter``, so resuming keeps the phase) where the
            optimizer stepped.
    """

    priority = 'ABOVE_NORMAL'  # before checkpoint / logger hooks of the same iteration

    def __init__(self, alpha: float = 0.999, warmup: bool = True, buffers: str = 'ema',
                 interval: int = 1):
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'MeanTeacherHook: alpha must be in [0, 1], got {alpha}')
        if buffers not in BUFFER_MODES:
            raise ValueError(f'MeanTeacherHook: buffers must be one of {BUFFER_MODES}, '
                             f'got {buffers!r}')
        if interval < 1:
            raise ValueError(f'MeanTeacherHook: interval must be >= 1, got {interval}')
        self.alpha = float(alpha)
        self.warmup = warmup
        self.buffers = buffers
        self.interval = interval

    @staticmethod
    def _check_model(runner) -> nn.Module:
        model = unwrap_model(runner.model)
        teacher = getattr(model, 'teacher', None)
        student = getattr(model, 'student', None)
        if not isinstance(teacher, nn.Module) or not isinstance(student, nn.Module):
            raise TypeError(
                f'MeanTeacherHook needs a model with a teacher and a student (e.g. '
                f'MeanTeacherEntMin with consistency_loss or test_with="teacher"); '
                f'{type(model).__name__} has teacher={type(teacher).__name__}')
        return model

    def before_train(self, runner) -> None:
        model = self._check_model(runner)
        model.ema_hook_attached = True
        teacher_bn = getattr(model, 'teacher_bn', 'eval')
        if (teacher_bn == 'train') != (self.buffers == 'none'):
            raise ValueError(
                f"MeanTeacherHook(buffers={self.buffers!r}) does not fit "
                f"MeanTeacherEntMin(teacher_bn={teacher_bn!r}): a train-mode teacher keeps its own "
                "BatchNorm statistics (buffers='none'); an eval-mode teacher needs them from "
                "the student (buffers='ema' or 'copy')")

    def current_alpha(self, step: int) -> float:
        """``alpha_t`` for the ``step``-th update (1-based)."""
        if self.warmup:
            return min(self.alpha, 1.0 - 1.0 / (step + 1))
        return self.alpha

    def after_train_iter(self, runner, batch_idx: int, data_batch=None,
                         outputs: Optional[dict] = None) -> None:
        should_update = getattr(runner.optim_wrapper, 'should_update', None)
        if callable(should_update) and not should_update():
            return  # gradient accumulation: the optimizer did not step
        if (runner.iter + 1) % self.interval != 0:
            return
        model = self._check_model(runner)
        counter = getattr(model, 'ema_steps', None)
        step = int(counter) + 1 if counter is not None else runner.iter + 1
        alpha = self.current_alpha(step)
        ema_update_(model.teacher, model.student, alpha, self.buffers)
        if isinstance(counter, torch.Tensor):
            counter.add_(1)
        runner.message_hub.update_scalar('train/ema_alpha', alpha)
