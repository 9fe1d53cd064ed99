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

from typing import Dict, Union

import numpy as np
import torch
from torch import Tensor

Array = Union[Tensor, np.ndarray]

PROB_DTYPES = ('float16', 'uint8')


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
    def encode(self, probs: Tensor) -> Dict[str, Tensor]:
        """Encode ``probs`` (N, C), rows summing to 1 (or all zero = no label).

        Returns ``{'indices': (N, k) uint8|uint16, 'probs': (N, k)
        float16|uint8}`` with the top-k classes in decreasing order, on the
        input's device.
        """
        if not isinstance(probs, Tensor):
            probs = torch.as_tensor(np.asarray(probs))
        if probs.dim() != 2 or probs.shape[1] < 1:
            raise ValueError(
                f'SoftLabelCodec.encode: probs must be (N, C), got {tuple(probs.shape)}')
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
            probs = torch.from_numpy(np.ascontiguousarray(probs))
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
    def decode(cls, encoded: Dict[str, Array], num_classes: int) -> Tensor:
        """Dense float32 (N, C) distributions from :meth:`encode`'s output.

        Works for either probability dtype (it is read from the arrays), with
        numpy or torch inputs, on the inputs' device. Rows sum to 1, except
        rows without a label, which are all zero.
        """
        indices = cls.stored_indices(encoded)
        values = cls.stored_probs(encoded).to(indices.device)
        if indices.shape != values.shape or indices.dim() != 2:
            raise ValueError(f'SoftLabelCodec.decode: indices {tuple(indices.shape)} and probs '
                             f'{tuple(values.shape)} must be the same (N, k) shape')
        num_rows, k = indices.shape
        if num_rows and int(indices.max()) >= num_classes:
            raise ValueError(f'SoftLabelCodec.decode: class index {int(indices.max())} is out of '
                             f'range for num_classes={num_classes}')
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
    def top1(cls, encoded: Dict[str, Array], ignore_index: int = 255) -> Tensor:
        """(N,) int64 argmax class per row; rows without a label get
        ``ignore_index``."""
        indices = cls.stored_indices(encoded)
        values = cls.stored_probs(encoded)
        labels = indices[:, 0].clone()
        labels[values[:, 0] <= 0] = ignore_index
        return labels

    def __repr__(self) -> str:
        return f'{type(self).__name__}(topk={self.topk}, prob_dtype={self.prob_dtype!r})'
