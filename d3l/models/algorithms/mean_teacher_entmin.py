"""Semi-supervised fine-tuning around any Segmentor or Classifier: entropy
minimisation and the mean teacher (EMA teacher + consistency), each switched
on from the config; confident pseudo-labels come in through the data
(:class:`~d3l.datasets.PseudoLabelDataset`).

The wrapper was called ``SemiSupervised`` until issue 15; that name, which
hid the entropy term, is a deprecated alias (:mod:`.mean_teacher`)."""
from __future__ import annotations

import copy
import logging
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.logging import print_log
from mmengine.model import BaseModel
from torch import Tensor, nn

from d3l.registry import MODELS
from d3l.structures import PointBatch

IGNORE_INDEX = 255
_WHERE = ('unlabeled', 'all')
#: what the teacher sees: the student's own batch (the paper's code) or the
#: second augmented view of ``SemiDataset(num_views=2)`` (Tarvainen & Valpola)
TEACHER_INPUTS = ('same', 'second_view')
#: registered names of this wrapper (the deprecated one included)
WRAPPER_NAMES = ('MeanTeacherEntMin', 'SemiSupervised')
#: first key components that belong to the wrapper itself in a state dict
_OWN_KEYS = ('student.', 'teacher.', 'data_preprocessor.', 'loss_entropy.',
             'loss_consistency.', 'ema_steps')


def match_views(index_a: Tensor, batch_a: Tensor, index_b: Tensor,
                batch_b: Tensor) -> Tuple[Tensor, Tensor]:
    """Pair the points of two views of the same clouds.

    Args:
        index_a / index_b: (N_a,) / (N_b,) original point index of every
            point of each view (``point_index`` of the data samples).
        batch_a / batch_b: cloud of every point.

    Returns:
        ``(rows_a, rows_b)``: rows of view a and of view b showing the same
        original point of the same cloud, ordered by ``rows_a``. Points that
        one view dropped (a crop, another voxel representative) have no
        partner and are left out.
    """
    if index_a.numel() == 0 or index_b.numel() == 0:
        empty = index_a.new_zeros(0, dtype=torch.long)
        return empty, empty
    span = int(torch.maximum(index_a.max(), index_b.max())) + 1
    key_a = batch_a.long() * span + index_a.long()
    key_b = batch_b.long() * span + index_b.long()
    sorted_b, order_b = torch.sort(key_b)
    pos = torch.searchsorted(sorted_b, key_a).clamp_(max=sorted_b.numel() - 1)
    found = sorted_b[pos] == key_a
    rows_a = torch.nonzero(found, as_tuple=False).squeeze(1)
    return rows_a, order_b[pos[found]]


@MODELS.register_module()
class MeanTeacherEntMin(BaseModel):
    """Wraps a :class:`Segmentor` or :class:`Classifier` (any model with
    ``forward(batch, data_samples, mode='tensor')`` returning per-point
    ``(N, C)`` or per-cloud ``(B, C)`` logits and a ``loss_decode`` /
    ``loss_cls`` module) and adds unsupervised terms on the unlabelled part
    of each batch.

    **Labelled vs unlabelled.** A point (or shape) is unlabelled when its
    target is the ignore label (255) or the sample has no target: the points
    outside the LA annotation, and every sample of the unlabelled stream of
    :class:`~d3l.datasets.SemiDataset` (which hides its labels). Pseudo-labelled
    samples are labelled where they carry a pseudo-label.

    **Losses** (``loss_seg`` / ``loss_cls`` is the wrapped model's supervised
    loss on the labelled part):

    - ``loss_entropy``: ``-1/N sum_i sum_c p_i[c] log p_i[c]`` of the
      student on the unlabelled points (``entropy_on='unlabeled'``) or on
      all of them;
    - ``loss_consistency``: MSE between the student's softmax and the
      teacher's softmax. By default (``teacher_input='same'``, the paper's
      code) the teacher predicts the student's own batch and the loss covers
      the unlabelled points only (``consistency_on='unlabeled'``).
      ``teacher_input='second_view'`` gives the teacher view 1 of the same
      clouds (a differently augmented copy from
      ``SemiDataset(num_views=2)``), matched point to point through
      ``point_index``, and ``consistency_on='all'`` covers every point, as in
      the mean-teacher paper. Its weight is ramped up by
      :class:`~d3l.engine.hooks.RampUpHook`.

    **Teacher.** With a consistency loss (or ``test_with='teacher'``) the
    wrapper holds ``teacher``, a frozen copy of ``student`` that
    :class:`~d3l.engine.hooks.MeanTeacherHook` keeps as the EMA of the
    student. It is a registered submodule, so it is saved in and resumed
    from the ordinary checkpoint ``state_dict``; it never requires gradients
    (the optimizer skips it) and always stays in eval mode. It starts as an
    exact copy of the initialised student (pre-trained weights included).

    **Checkpoints of the plain model** (a supervised fine-tuning run, a
    pre-training checkpoint loaded with ``load_from``) load into both the
    student and the teacher: keys without a ``student.`` / ``teacher.``
    prefix are mapped onto both.

    Args:
        model: config of the wrapped Segmentor / Classifier.
        entropy_loss: e.g. ``dict(type='EntropyLoss', loss_weight=0.5)``;
            None disables entropy minimisation.
        consistency_loss: e.g. ``dict(type='ConsistencyLoss', loss_weight=10.)``;
            None disables the mean teacher.
        entropy_on / consistency_on: ``'unlabeled'`` or ``'all'`` points.
        teacher_input: ``'same'`` (the student's batch) or ``'second_view'``.
        teacher_bn: ``'eval'``: the teacher predicts with its running
            BatchNorm statistics, which the EMA hook averages from the
            student's (``MeanTeacherHook(buffers='ema')``); ``'train'``: it
            normalises with the batch's statistics and keeps its own running
            ones, as the paper's code (``MeanTeacherHook(buffers='none')``).
            Evaluation with ``test_with='teacher'`` is in eval mode either way.
        test_with: ``'student'`` or ``'teacher'``: which network predicts in
            validation, test and ``mode='tensor'``.
        data_preprocessor: defaults to the wrapped model's.
    """

    def __init__(self, model: dict, entropy_loss: Optional[dict] = None,
                 consistency_loss: Optional[dict] = None, entropy_on: str = 'unlabeled',
                 consistency_on: str = 'unlabeled', teacher_input: str = 'same',
                 teacher_bn: str = 'eval', test_with: str = 'student',
                 data_preprocessor: Optional[dict] = None, init_cfg=None):
        if entropy_on not in _WHERE or consistency_on not in _WHERE:
            raise ValueError(f'MeanTeacherEntMin: entropy_on / consistency_on must be one of '
                             f'{_WHERE}, got {entropy_on!r} / {consistency_on!r}')
        if teacher_bn not in ('eval', 'train'):
            raise ValueError(f"MeanTeacherEntMin: teacher_bn must be 'eval' or 'train', "
                             f'got {teacher_bn!r}')
        if teacher_input not in TEACHER_INPUTS:
            raise ValueError(f'MeanTeacherEntMin: teacher_input must be one of {TEACHER_INPUTS}, '
                             f'got {teacher_input!r}')
        if test_with not in ('student', 'teacher'):
            raise ValueError(f"MeanTeacherEntMin: test_with must be 'student' or 'teacher', "
                             f'got {test_with!r}')
        model = copy.deepcopy(dict(model))
        if model.get('type') in WRAPPER_NAMES:
            raise ValueError('MeanTeacherEntMin cannot wrap another MeanTeacherEntMin model')
        if data_preprocessor is None:
            data_preprocessor = model.get('data_preprocessor') or dict(
                type='PointDataPreprocessor')
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.student = MODELS.build(model)
        self.loss_entropy = MODELS.build(entropy_loss) if entropy_loss else None
        self.loss_consistency = MODELS.build(consistency_loss) if consistency_loss else None
        self.entropy_on = entropy_on
        self.consistency_on = consistency_on
        self.teacher_input = teacher_input
        self.teacher_bn = teacher_bn
        self.test_with = test_with
        if self.loss_consistency is not None or test_with == 'teacher':
            self.teacher = copy.deepcopy(self.student)
            self.teacher.requires_grad_(False)
            self.teacher.eval()
            # number of EMA updates so far (warm-up of MeanTeacherHook); in
            # the state dict so that a resumed run continues exactly
            self.register_buffer('ema_steps', torch.zeros((), dtype=torch.long))
        else:
            self.teacher = None
        self.ema_hook_attached = False
        self._warned_no_hook = False
        self._register_load_state_dict_pre_hook(self._map_plain_checkpoint)

    # ------------------------------------------------------------------ setup
    @property
    def num_classes(self) -> int:
        return self.student.num_classes

    @property
    def predictor(self) -> nn.Module:
        """The network that predicts in val / test (``test_with``)."""
        if self.test_with == 'teacher':
            if self.teacher is None:
                raise ValueError("MeanTeacherEntMin: test_with='teacher' but this model was built "
                                 'without a teacher (set test_with in the model config)')
            return self.teacher
        return self.student

    def init_weights(self):
        """Initialise the student (its ``init_cfg`` loads pre-trained
        weights) and start the teacher as an exact copy of it."""
        self.student.init_weights()
        if self.teacher is not None:
            self.sync_teacher()

    @torch.no_grad()
    def sync_teacher(self) -> None:
        """Copy every parameter and buffer of the student into the teacher."""
        teacher = self.teacher.state_dict(keep_vars=True)
        for name, value in self.student.state_dict(keep_vars=True).items():
            teacher[name].data.copy_(value.data)

    def train(self, mode: bool = True):
        super().train(mode)
        if self.teacher is not None:
            self.teacher.eval()  # the teacher's targets use its running statistics
        return self

    def _map_plain_checkpoint(self, state_dict, prefix, local_metadata, strict,
                              missing_keys, unexpected_keys, error_msgs) -> None:
        keys = [k for k in state_dict if k.startswith(prefix)]
        if any(k[len(prefix):].startswith('student.') for k in keys):
            # a checkpoint of this wrapper; one trained without a teacher
            # (entropy only) gives the teacher the student's weights rather
            # than leaving it at its initial ones
            if self.teacher is not None and not any(
                    k[len(prefix):].startswith('teacher.') for k in keys):
                print_log('MeanTeacherEntMin: the checkpoint has no teacher; the teacher starts '
                          'as a copy of its student', logger='current', level=logging.WARNING)
                for key in keys:
                    if key[len(prefix):].startswith('student.'):
                        rest = key[len(prefix) + len('student.'):]
                        state_dict[f'{prefix}teacher.{rest}'] = state_dict[key]
            return
        plain = [k for k in keys if not k[len(prefix):].startswith(_OWN_KEYS)]
        for key in plain:
            rest = key[len(prefix):]
            value = state_dict.pop(key)
            state_dict[f'{prefix}student.{rest}'] = value
            if self.teacher is not None:
                state_dict[f'{prefix}teacher.{rest}'] = value

    # ---------------------------------------------------------------- forward
    def forward(self, inputs: Union[PointBatch, List[PointBatch]],
                data_samples: Optional[List[dict]] = None,
                mode: str = 'tensor') -> Union[Dict[str, Tensor], List[dict], Tensor]:
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self.predictor(_first_view(inputs), data_samples, mode='tensor')
        raise ValueError(f'MeanTeacherEntMin.forward: invalid mode {mode!r}')

    @torch.no_grad()
    def predict(self, inputs, data_samples: Optional[List[dict]] = None) -> List[dict]:
        return self.predictor.predict(_first_view(inputs), data_samples)

    def _supervised_loss(self) -> Tuple[nn.Module, str]:
        for name, suffix in (('loss_decode', 'seg'), ('loss_cls', 'cls')):
            module = getattr(self.student, name, None)
            if isinstance(module, nn.Module):
                return module, suffix
        raise TypeError(f'MeanTeacherEntMin: the wrapped {type(self.student).__name__} has no '
                        'loss_decode (segmentation) or loss_cls (classification) module')

    def loss(self, inputs, data_samples: List[dict]) -> Dict[str, Tensor]:
        views = list(inputs) if isinstance(inputs, (list, tuple)) else [inputs]
        batch = views[0]
        if data_samples is None or len(data_samples) != batch.batch_size:
            raise ValueError(f'MeanTeacherEntMin.loss: {batch.batch_size} clouds but '
                             f'{0 if data_samples is None else len(data_samples)} data samples')
        logits = self.student(batch, data_samples, mode='tensor')
        per_point = _per_point(logits, batch, type(self.student).__name__)
        sup_loss, suffix = self._supervised_loss()
        ignore = getattr(sup_loss, 'ignore_index', IGNORE_INDEX)
        targets = _targets(data_samples, batch, per_point, ignore, logits.device)
        unlabeled = targets == ignore

        losses = {f'loss_{suffix}': sup_loss(logits, targets)}
        with torch.no_grad():
            labeled = ~unlabeled
            correct = (logits.argmax(1) == targets) & labeled
            losses[f'acc_{suffix}'] = correct.sum().float() / labeled.sum().clamp(min=1) * 100
        if self.loss_entropy is not None:
            mask = unlabeled if self.entropy_on == 'unlabeled' else None
            losses['loss_entropy'] = self.loss_entropy(logits, mask)
        if self.loss_consistency is not None:
            losses.update(self._consistency(views, data_samples, logits, per_point, unlabeled))
        return losses

    def _consistency(self, views: Sequence[PointBatch], data_samples: List[dict],
                     logits: Tensor, per_point: bool, unlabeled: Tensor) -> Dict[str, Tensor]:
        if self.training and not self.ema_hook_attached and not self._warned_no_hook:
            print_log('MeanTeacherEntMin: no MeanTeacherHook updates the teacher, so its targets '
                      'stay at the initial weights; add custom_hooks=[dict(type='
                      '"MeanTeacherHook")]', logger='current', level=logging.WARNING)
            self._warned_no_hook = True
        if self.teacher_input == 'same':
            teacher_logits = self._teacher_logits(views[0], data_samples)
            if teacher_logits.shape != logits.shape:
                raise ValueError(f'teacher gave logits of shape {tuple(teacher_logits.shape)} '
                                 f'for the student\'s {tuple(logits.shape)}')
            rows = torch.arange(logits.shape[0], device=logits.device)
            return self._consistency_term(logits, teacher_logits, rows, rows, unlabeled, {})
        if len(views) < 2:
            raise ValueError(
                "MeanTeacherEntMin: teacher_input='second_view' needs two views of every cloud; "
                'wrap the training dataset in dict(type="SemiDataset", num_views=2, ...)')
        teacher_samples = [_view_sample(s, 1) for s in data_samples]
        teacher_logits = self._teacher_logits(views[1], teacher_samples)
        out = {}
        if per_point:
            index_s = _point_index(data_samples, 0, views[0])
            index_t = _point_index(data_samples, 1, views[1])
            rows_s, rows_t = match_views(index_s, views[0].batch, index_t, views[1].batch)
            out['cons_matched'] = torch.tensor(rows_s.numel() / max(views[0].num_points, 1),
                                               device=logits.device)
        else:
            if teacher_logits.shape[0] != logits.shape[0]:
                raise ValueError(f'teacher gave {teacher_logits.shape[0]} rows for '
                                 f'{logits.shape[0]} clouds')
            rows_s = rows_t = torch.arange(logits.shape[0], device=logits.device)
        return self._consistency_term(logits, teacher_logits, rows_s, rows_t, unlabeled, out)

    @torch.no_grad()
    def _teacher_logits(self, batch: PointBatch, data_samples: List[dict]) -> Tensor:
        if self.teacher_bn == 'eval' or not self.training:
            return self.teacher(batch, data_samples, mode='tensor')
        self.teacher.train()  # batch statistics; its running ones move as in train mode
        try:
            return self.teacher(batch, data_samples, mode='tensor')
        finally:
            self.teacher.eval()

    def _consistency_term(self, logits: Tensor, teacher_logits: Tensor, rows_s: Tensor,
                          rows_t: Tensor, unlabeled: Tensor,
                          out: Dict[str, Tensor]) -> Dict[str, Tensor]:
        mask = unlabeled[rows_s] if self.consistency_on == 'unlabeled' else None
        out['loss_consistency'] = self.loss_consistency(
            logits[rows_s], teacher_logits[rows_t].to(logits.dtype), mask)
        return out


# ----------------------------------------------------------------------------
# helpers
# ----------------------------------------------------------------------------
def _first_view(inputs):
    return inputs[0] if isinstance(inputs, (list, tuple)) else inputs


def _per_point(logits: Tensor, batch: PointBatch, name: str) -> bool:
    if logits.dim() != 2:
        raise ValueError(f'{name} returned logits of shape {tuple(logits.shape)}, not (rows, C)')
    if logits.shape[0] == batch.num_points:
        return True
    if logits.shape[0] == batch.batch_size:
        return False
    raise ValueError(f'{name} returned {logits.shape[0]} rows of logits for a batch of '
                     f'{batch.batch_size} clouds and {batch.num_points} points')


def _targets(data_samples: List[dict], batch: PointBatch, per_point: bool, ignore: int,
             device) -> Tensor:
    """Per-point ``labels`` or per-cloud ``label``; the ignore label where a
    sample has none (an unlabelled sample)."""
    if not per_point:
        values = [int(s['label']) if s.get('label') is not None else ignore
                  for s in data_samples]
        return torch.as_tensor(values, dtype=torch.long, device=device)
    parts = []
    for i, (sample, count) in enumerate(zip(data_samples, batch.counts.tolist())):
        labels = sample.get('labels')
        if labels is None:
            parts.append(torch.full((count,), ignore, dtype=torch.long, device=device))
            continue
        labels = torch.as_tensor(labels, device=device).long().reshape(-1)
        if labels.numel() != count:
            raise ValueError(f'sample {i} ({sample.get("metainfo", {})}) has {labels.numel()} '
                             f'labels for {count} points')
        parts.append(labels)
    return torch.cat(parts)


def _view_sample(sample: dict, view: int) -> dict:
    views = sample.get('views')
    if views is None:
        if view == 0:
            return sample
        raise ValueError('a data sample has no "views": build the training set with '
                         'SemiDataset(num_views=2) for the consistency loss')
    if view >= len(views):
        raise ValueError(f'a data sample has {len(views)} views, view {view} was asked for')
    return views[view]


def _point_index(data_samples: List[dict], view: int, batch: PointBatch) -> Tensor:
    parts = []
    for i, (sample, count) in enumerate(zip(data_samples, batch.counts.tolist())):
        index = _view_sample(sample, view).get('point_index')
        if index is None:
            raise ValueError(f'sample {i} view {view} has no "point_index"; SemiDataset adds it '
                             'so that the two views can be matched point to point')
        index = torch.as_tensor(index, device=batch.device).long().reshape(-1)
        if index.numel() != count:
            raise ValueError(
                f'sample {i} view {view}: point_index has {index.numel()} rows for {count} '
                'points; a transform subsampled the points without indexing "point_index" '
                '(subsampling transforms must use d3l.datasets.transforms.select_points)')
        parts.append(index)
    return torch.cat(parts)
