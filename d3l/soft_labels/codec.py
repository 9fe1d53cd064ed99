"""Compact storage of soft class distributions: top-k indices + probabilities.

A distribution ``p`` over ``C`` classes is stored as the indices of its
``k`` largest entries (uint8 when ``C <= 256``, else uint16) and their
probabilities (fp16, or uint8 quantised to ``round(255 p)``). Decoding puts
the stored probabilities back and spreads the remaining mass
``1 - sum(top-k)`` uniformly over the other ``C - k`` classes, so decoded
rows sum to 1 and the top-1 class is always preserved.

A row whose stored top-1 probability is 0 marks a pixel *without a label*
(e.g. ignore pixels of ground-truth maps); it is encoded from an all-zero
input row and decodes to an all-zero row, which the soft cross-entropy
ignores. A real distribution never has top-1 probability 0 (it is at least
``1 / C``), and quantisation keeps a non-zero top-1 non-zero.
"""
from __future__ import annotations

from typing import Dict, Optional, Union

import numpy as np
import torch
from torch import Tensor

from d3l.utils.errors import D3LError

Array = Union[Tensor, np.ndarray]

PROB_DTYPES = ('float16', 'uint8')
#: how far a row's sum may be from 1 (a float16 teacher's softmax is ~1e-3 off)
SUM_TOLERANCE = 1e-2


class SoftLabelError(D3LError, ValueError):
    """Probabilities that are not distributions (NaN, out of [0, 1], rows not
    summing to 1) or stored labels that cannot be decoded."""


def _where(name: Optional[str]) -> str:
    return f'{name}: ' if name else ''


def check_distributions(probs: Tensor, name: Optional[str] = None) -> None:
    """Raise :class:`SoftLabelError` unless every row of ``probs`` (N, C) is a
    distribution (finite, in [0, 1], sum 1) or all zero (no label)."""
    finite = torch.isfinite(probs)
    if not bool(finite.all()):
        bad_rows = (~finite).any(1).nonzero().flatten()
        raise SoftLabelError(
            f'{_where(name)}{int((~finite).sum())} non-finite teacher probabilities (NaN or inf) '
            f'in {len(bad_rows)} of {len(probs)} rows (first: row {int(bad_rows[0])})')
    outside = (probs < 0) | (probs > 1 + SUM_TOLERANCE)
    if bool(outside.any()):
        row = int(outside.any(1).nonzero()[0, 0])
        raise SoftLabelError(
            f'{_where(name)}{int(outside.sum())} teacher probabilities outside [0, 1] (first: '
            f'row {row}, min {float(probs[row].min()):.4g}, max {float(probs[row].max()):.4g}); '
            'pass probabilities (softmax), not logits')
    sums = probs.double().sum(1)
    wrong = (sums > 0) & ((sums - 1).abs() > SUM_TOLERANCE)
    if bool(wrong.any()):
        row = int(wrong.nonzero()[0, 0])
        raise SoftLabelError(
            f'{_where(name)}{int(wrong.sum())} rows of teacher probabilities do not sum to 1 '
            f'(first: row {row} sums to {float(sums[row]):.4g}; all-zero rows mean "no label")')


class SoftLabelCodec:
    """Top-k encoder/decoder of per-point (or per-pixel) class distributions.

    Args:
        topk: number of classes stored per row (1 stores hard labels with
            their confidence).
        prob_dtype: ``'float16'`` (2 bytes per stored probability) or
            ``'uint8'`` (1 byte, probabilities quantised to multiples of 1/255).

    Stored probabilities are rounded towards zero, so the mass left for the
    other classes is never lost to rounding.

    Bytes per row: ``topk * (index bytes + probability bytes)``; top-3 with
    uint8 indices is 9 B (fp16) or 6 B (uint8), against ``4 C`` bytes for a
    float32 distribution (600 B for 150 classes).
    """

    def __init__(self, topk: int = 3, prob_dtype: str = 'float16'):
        if int(topk) != topk or topk < 1:
            raise ValueError(f'SoftLabelCodec: topk must be a positive integer, got {topk!r}')
        if prob_dtype not in PROB_DTYPES:
            raise ValueError(f'SoftLabelCodec: prob_dtype must be one of {PROB_DTYPES}, '
                             f'got {prob_dtype!r}')
        self.topk = int(topk)
        self.prob_dtype = prob_dtype

    # ------------------------------------------------------------------
    @staticmethod
    def index_dtype(num_classes: int) -> torch.dtype:
        if num_classes <= 256:
            return torch.uint8
        if num_classes <= 65536:
            return torch.uint16
        raise ValueError(f'SoftLabelCodec: at most 65536 classes, got {num_classes}')

    def bytes_per_row(self, num_classes: int) -> int:
        """Stored bytes per point/pixel for ``num_classes`` classes."""
        index_bytes = 1 if num_classes <= 256 else 2
        prob_bytes = 2 if self.prob_dtype == 'float16' else 1
        return min(self.topk, num_classes) * (index_bytes + prob_bytes)

    def config(self) -> dict:
        """What the manifest records (enough to rebuild the codec)."""
        return {'type': 'SoftLabelCodec', 'topk': self.topk, 'prob_dtype': self.prob_dtype}

    # ------------------------------------------------------------------
    def encode(self, probs: Tensor, name: Optional[str] = None) -> Dict[str, Tensor]:
        """Encode ``probs`` (N, C), rows summing to 1 (or all zero = no label).

        Non-finite values, values outside [0, 1] and rows that do not sum to
        1 raise :class:`SoftLabelError`, prefixed by ``name`` (e.g. the
        frame): stored as they are, NaN would decode as "no label" yet keep a
        top-1 class.

        Returns ``{'indices': (N, k) uint8|uint16, 'probs': (N, k)
        float16|uint8}`` with the top-k classes in decreasing order, on the
        input's device.
        """
        if not isinstance(probs, Tensor):
            probs = torch.as_tensor(np.asarray(probs))
        if probs.dim() != 2 or probs.shape[1] < 1:
            raise ValueError(
                f'SoftLabelCodec.encode: probs must be (N, C), got {tuple(probs.shape)}')
        check_distributions(probs, name)
        num_classes = probs.shape[1]
        k = min(self.topk, num_classes)
        values, indices = probs.float().topk(k, dim=1, largest=True, sorted=True)
        values = values.clamp_(0.0, 1.0)
        # round towards zero: the stored mass never exceeds the true top-k
        # mass, so the classes outside the top-k keep a non-zero share on
        # decode (rounding up could leave them 0, an infinite KL)
        if self.prob_dtype == 'float16':
            stored = values.half()
            too_big = stored.float() > values
            stored = torch.where(too_big, torch.nextafter(stored, torch.zeros_like(stored)),
                                 stored)
        else:
            stored = torch.floor(values * 255.0)
            # a labelled row must keep a non-zero top-1 (0 means "no label")
            stored[:, 0] = torch.where(values[:, 0] > 0, stored[:, 0].clamp(min=1.0),
                                       stored[:, 0])
            stored = stored.to(torch.uint8)
        index_dtype = self.index_dtype(num_classes)
        return {'indices': indices.to(index_dtype), 'probs': stored}

    # ------------------------------------------------------------------
    @staticmethod
    def stored_probs(encoded: Dict[str, Array]) -> Tensor:
        """The stored top-k probabilities as float32 (undoing quantisation)."""
        probs = encoded['probs']
        if not isinstance(probs, Tensor):
            probs = np.ascontiguousarray(probs)
            # read-only rows (memory-mapped shards): torch needs its own copy
            probs = torch.from_numpy(probs if probs.flags.writeable else probs.copy())
        if probs.dtype == torch.uint8:
            return probs.float() / 255.0
        if not probs.is_floating_point():
            raise TypeError(f'SoftLabelCodec: stored probabilities must be float16/float32 or '
                            f'uint8, got {probs.dtype}')
        return probs.float()

    @staticmethod
    def stored_indices(encoded: Dict[str, Array]) -> Tensor:
        indices = encoded['indices']
        if not isinstance(indices, Tensor):
            indices = torch.from_numpy(np.ascontiguousarray(indices).astype(np.int64))
        return indices.long()

    @classmethod
    def check_stored(cls, indices: Tensor, values: Tensor, num_classes: int,
                     name: Optional[str] = None) -> None:
        """Raise :class:`SoftLabelError` for stored rows no encoder writes:
        a class index >= ``num_classes`` or a probability that is not finite
        or outside [0, 1] (the signs of a corrupt file)."""
        if indices.shape != values.shape or indices.dim() != 2:
            raise SoftLabelError(f'{_where(name)}SoftLabelCodec: indices {tuple(indices.shape)} '
                                 f'and probs {tuple(values.shape)} must be the same (N, k) shape')
        if not len(indices):
            return
        if int(indices.max()) >= num_classes:
            row = int((indices >= num_classes).any(1).nonzero()[0, 0])
            raise SoftLabelError(f'{_where(name)}class index {int(indices[row].max())} (row '
                                 f'{row}) is out of range for num_classes={num_classes}')
        bad = ~torch.isfinite(values) | (values < 0) | (values > 1 + SUM_TOLERANCE)
        if bool(bad.any()):
            row = int(bad.any(1).nonzero()[0, 0])
            raise SoftLabelError(f'{_where(name)}{int(bad.sum())} stored probabilities are not in '
                                 f'[0, 1] (first: row {row}, {values[row].tolist()})')

    @classmethod
    def decode(cls, encoded: Dict[str, Array], num_classes: int,
               name: Optional[str] = None) -> Tensor:
        """Dense float32 (N, C) distributions from :meth:`encode`'s output.

        Works for either probability dtype (it is read from the arrays), with
        numpy or torch inputs, on the inputs' device. Rows sum to 1, except
        rows without a label, which are all zero. Rows that no encoder writes
        raise :class:`SoftLabelError` (see :meth:`check_stored`), prefixed by
        ``name``.
        """
        indices = cls.stored_indices(encoded)
        values = cls.stored_probs(encoded).to(indices.device)
        cls.check_stored(indices, values, num_classes, name)
        num_rows, k = indices.shape
        labelled = values[:, 0] > 0
        total = values.sum(1)
        # rows written elsewhere (or rounded up) may store slightly more than 1
        over = total > 1.0
        values = torch.where(over[:, None], values / total.clamp(min=1e-12)[:, None], values)
        rest = (1.0 - values.sum(1)).clamp(min=0.0)
        if num_classes > k:
            fill = rest / (num_classes - k)
        else:
            fill = torch.zeros_like(rest)
        # rounding can tie neighbours (or the top-1 with the uniform fill);
        # keep the stored order strict so that the top-1 class survives
        values = values.clone()
        if k > 1:
            # a stored class is at least as likely as the average other class;
            # this also restores entries quantised to 0 (below 1/255)
            values[:, 1:] = torch.maximum(values[:, 1:], fill[:, None])
            values[:, 1:] = torch.minimum(values[:, 1:], values[:, :1] - 1e-6).clamp(min=0.0)
        values[:, 0] = torch.where(labelled, torch.maximum(values[:, 0], fill + 1e-6),
                                   values[:, 0])
        out = fill[:, None].expand(num_rows, num_classes).clone()
        out.scatter_(1, indices, values)
        # top-k = all classes: rounding leftovers go back proportionally
        out = out / out.sum(1, keepdim=True).clamp(min=1e-12)
        out[~labelled] = 0.0
        return out

    @classmethod
    def top1(cls, encoded: Dict[str, Array], ignore_index: int = 255,
             num_classes: Optional[int] = None, name: Optional[str] = None) -> Tensor:
        """(N,) int64 argmax class per row; rows without a label get
        ``ignore_index``. Non-finite stored probabilities raise
        :class:`SoftLabelError` (and class indices >= ``num_classes``, when
        given)."""
        indices = cls.stored_indices(encoded)
        values = cls.stored_probs(encoded)
        cls.check_stored(indices, values, num_classes if num_classes else 1 << 30, name)
        labels = indices[:, 0].clone()
        labels[values[:, 0] <= 0] = ignore_index
        return labels

    def __repr__(self) -> str:
        return f'{type(self).__name__}(topk={self.topk}, prob_dtype={self.prob_dtype!r})'
