"""Labels that already exist: stored label maps / probabilities, or the
sample's own ground truth (the paper's "oracle" ablation)."""
from __future__ import annotations

import os.path as osp
from typing import Dict, Optional, Sequence, Union

import numpy as np
import torch
from torch import Tensor

from d3l.registry import MODELS

from .base import BaseTeacher, check_class_names

IGNORE_INDEX = 255


@MODELS.register_module()
class PrecomputedTeacher(BaseTeacher):
    """Per-pixel labels read from the sample or from files, as soft labels.

    Args:
        num_classes: number of classes (or give ``class_names``).
        class_names: the classes' names.
        source: ``'sample'`` reads ``label_key`` (default ``pixel_labels``,
            the ground-truth 2D labels some RGB-D datasets provide) from the
            sample dict; ``'files'`` reads ``root/pattern``.
        root / pattern: file location; ``pattern`` is formatted with the
            sample's ``frame_id`` and ``scene_id`` (default
            ``'{frame_id}.png'``). ``.png`` / ``.npy`` label maps (H, W)
            integers; with ``kind='probs'``, ``.npy`` (H, W, C) float
            probabilities or ``.npz`` with key ``probs``.
        kind: ``'labels'`` or ``'probs'``.
        label_smoothing: for label maps, ``(1 - eps) one_hot + eps / C``.
        label_map: optional mapping from stored label values to classes
            (dict or list); unmapped values become ``ignore_index``.
        ignore_index: label value meaning "no label"; those pixels get an
            all-zero distribution, stored as unlabelled.
        temperature: for ``kind='probs'``: ``softmax(log p / T)``.
    """

    def __init__(self, num_classes: Optional[int] = None,
                 class_names: Optional[Sequence[str]] = None, source: str = 'sample',
                 label_key: str = 'pixel_labels', root: Optional[str] = None,
                 pattern: str = '{frame_id}.png', kind: str = 'labels',
                 label_smoothing: float = 0.0,
                 label_map: Union[Dict[int, int], Sequence[int], None] = None,
                 ignore_index: int = IGNORE_INDEX, temperature: float = 1.0, panorama=None,
                 device=None):
        super().__init__(temperature=temperature, panorama=None, device=device or 'cpu')
        if panorama not in (None, 'whole') and panorama != {'mode': 'whole'}:
            raise ValueError('PrecomputedTeacher: stored labels are already per pixel of the '
                             'panorama; panorama crops do not apply')
        if num_classes is None and class_names is None:
            raise ValueError('PrecomputedTeacher: give num_classes or class_names')
        num_classes = int(num_classes if num_classes is not None else len(class_names))
        self.class_names = check_class_names('PrecomputedTeacher', class_names, num_classes)
        if source not in ('sample', 'files'):
            raise ValueError(f"PrecomputedTeacher: source must be 'sample' or 'files', got "
                             f'{source!r}')
        if source == 'files' and not root:
            raise ValueError("PrecomputedTeacher: source='files' needs root")
        if source == 'files' and not osp.isdir(root):
            raise FileNotFoundError(f'PrecomputedTeacher: label directory {root} does not exist')
        if kind not in ('labels', 'probs'):
            raise ValueError(f"PrecomputedTeacher: kind must be 'labels' or 'probs', got {kind!r}")
        if not 0 <= label_smoothing < 1:
            raise ValueError(f'PrecomputedTeacher: label_smoothing must be in [0, 1), '
                             f'got {label_smoothing}')
        self.source, self.label_key, self.root, self.pattern = source, label_key, root, pattern
        self.kind = kind
        self.label_smoothing = float(label_smoothing)
        self.ignore_index = int(ignore_index)
        self.lut = self._build_lut(label_map)

    def _build_lut(self, label_map) -> Optional[np.ndarray]:
        if label_map is None:
            return None
        items = (label_map.items() if isinstance(label_map, dict) else enumerate(label_map))
        items = [(int(k), int(v)) for k, v in items]
        lut = np.full(max(k for k, _ in items) + 1, self.ignore_index, np.int64)
        for key, value in items:
            if value != self.ignore_index and not 0 <= value < self.num_classes:
                raise ValueError(f'PrecomputedTeacher: label_map sends {key} to {value}, outside '
                                 f'[0, {self.num_classes})')
            lut[key] = value
        return lut

    # ------------------------------------------------------------------
    def _path(self, sample: dict) -> str:
        try:
            name = self.pattern.format(frame_id=sample['frame_id'],
                                       scene_id=sample.get('scene_id', ''))
        except KeyError as err:
            raise KeyError(f'PrecomputedTeacher: the sample has no {err} for pattern '
                           f'{self.pattern!r}') from None
        return osp.join(self.root, name)

    def _read(self, sample: dict) -> np.ndarray:
        if self.source == 'sample':
            if sample.get(self.label_key) is None:
                raise KeyError(f'PrecomputedTeacher: sample {sample.get("frame_id")!r} has no '
                               f'{self.label_key!r} (does the dataset provide 2D labels?)')
            return np.asarray(sample[self.label_key])
        path = self._path(sample)
        if not osp.isfile(path):
            raise FileNotFoundError(f'PrecomputedTeacher: label file {path} does not exist')
        try:
            if path.endswith('.npy'):
                return np.load(path, allow_pickle=False)
            if path.endswith('.npz'):
                with np.load(path, allow_pickle=False) as data:
                    return data['probs' if self.kind == 'probs' else 'labels']
            from PIL import Image
            with Image.open(path) as image:
                return np.asarray(image)
        except (OSError, ValueError, KeyError) as err:
            raise ValueError(f'PrecomputedTeacher: cannot read {path}: {err}') from None

    def _labels_to_probs(self, labels: np.ndarray, where: str) -> Tensor:
        if labels.ndim != 2:
            raise ValueError(f'PrecomputedTeacher: label map of {where} must be (H, W), got '
                             f'{labels.shape}')
        labels = labels.astype(np.int64)
        if self.lut is not None:
            inside = (labels >= 0) & (labels < len(self.lut))
            labels = np.where(inside, self.lut[np.clip(labels, 0, len(self.lut) - 1)],
                              self.ignore_index)
        valid = labels != self.ignore_index
        if valid.any() and (labels[valid].min() < 0 or labels[valid].max() >= self.num_classes):
            raise ValueError(f'PrecomputedTeacher: label {int(labels[valid].max())} of {where} is '
                             f'outside [0, {self.num_classes}) and not {self.ignore_index}')
        labels_t = torch.from_numpy(np.where(valid, labels, 0))
        eps = self.label_smoothing
        probs = torch.full((self.num_classes,) + labels.shape, eps / self.num_classes)
        probs.scatter_(0, labels_t[None], 1.0 - eps + eps / self.num_classes)
        probs[:, torch.from_numpy(~valid)] = 0.0
        return probs

    def _probs(self, array: np.ndarray, where: str) -> Tensor:
        if array.ndim != 3 or array.shape[2] != self.num_classes:
            raise ValueError(f'PrecomputedTeacher: probabilities of {where} must be '
                             f'(H, W, {self.num_classes}), got {array.shape}')
        probs = torch.from_numpy(np.ascontiguousarray(array, np.float32)).permute(2, 0, 1)
        labelled = probs.sum(0) > 0
        if self.temperature != 1.0:
            tempered = torch.softmax(probs.clamp(min=1e-12).log() / self.temperature, dim=0)
            probs = torch.where(labelled[None], tempered, torch.zeros_like(probs))
        return probs

    @torch.no_grad()
    def label_frame(self, sample: dict, stride: int = 1) -> Tensor:
        where = f'frame {sample.get("frame_id")!r}'
        array = self._read(sample)
        probs = (self._labels_to_probs(array, where) if self.kind == 'labels'
                 else self._probs(array, where))
        if 'img' in sample and tuple(probs.shape[1:]) != tuple(np.shape(sample['img'])[:2]):
            raise ValueError(f'PrecomputedTeacher: labels of {where} are {tuple(probs.shape[1:])} '
                             f'but its image is {tuple(np.shape(sample["img"])[:2])}')
        if stride == 1:
            return probs
        height, width = probs.shape[1:]
        grid_h, grid_w = (height + stride - 1) // stride, (width + stride - 1) // stride
        # nearest cell centre: soft averaging would invent mixtures at borders
        rows = ((torch.arange(grid_h) + 0.5) * height / grid_h).long().clamp(max=height - 1)
        cols = ((torch.arange(grid_w) + 0.5) * width / grid_w).long().clamp(max=width - 1)
        return probs[:, rows][:, :, cols]

    @torch.no_grad()
    def forward(self, imgs: Tensor, metas: Optional[Sequence[dict]] = None) -> Tensor:
        if not metas or len(metas) != imgs.shape[0]:
            raise ValueError('PrecomputedTeacher needs one meta dict (the sample) per image')
        return torch.stack([self.label_frame({**meta, 'img': imgs[i].permute(1, 2, 0)})
                            for i, meta in enumerate(metas)])

    def describe(self) -> dict:
        info = super().describe()
        info.update(source=self.source, label_key=self.label_key, root=self.root,
                    pattern=self.pattern, kind=self.kind, label_smoothing=self.label_smoothing,
                    label_map=None if self.lut is None else self.lut.tolist())
        return info
