"""The interface every 2D teacher implements."""
from __future__ import annotations

from typing import List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .panorama import PanoramaCrops, build_panorama


def image_to_tensor(img, device=None) -> Tensor:
    """(H, W, 3) uint8 RGB (numpy or torch) -> (1, 3, H, W) float32 in [0, 255]."""
    if isinstance(img, np.ndarray):
        img = torch.from_numpy(img if img.flags.writeable and img.flags.c_contiguous
                               else np.array(img, order="C"))
    if img.dim() != 3 or img.shape[2] != 3:
        raise ValueError(f'teacher input image must be (H, W, 3) RGB, got {tuple(img.shape)}')
    return img.permute(2, 0, 1)[None].to(device=device, dtype=torch.float32)


class BaseTeacher(nn.Module):
    """A 2D scene parser giving soft per-pixel class distributions.

    Subclasses implement :meth:`logits` and set ``class_names``. The public
    interface:

    - ``forward(imgs, metas=None)``: (B, 3, H, W) RGB images with values in
      [0, 255] -> (B, C, H, W) class probabilities at image resolution,
      ``softmax(logits / temperature)``;
    - ``label_frame(sample, stride=1)``: one RGB-D sample dict (``img``,
      ``projection``, ...) -> (C, ceil(H / stride), ceil(W / stride))
      probabilities; equirectangular panoramas go whole or as perspective
      crops stitched back (``panorama``);
    - ``class_names`` / ``num_classes``; ``describe()`` for the manifest.

    Args:
        temperature: divides the logits before the softmax (> 1 softens,
            < 1 sharpens the pseudo-labels).
        panorama: ``'whole'`` (default), ``'crops'`` or
            ``dict(mode='crops', fov=90, yaws=8, pitches=(-60, 0, 60),
            crop_size=None)`` (see :class:`PanoramaCrops`).
        device: where the teacher runs; None picks CUDA when available.
    """

    def __init__(self, temperature: float = 1.0, panorama=None, device=None):
        super().__init__()
        if not temperature > 0:
            raise ValueError(f'{type(self).__name__}: temperature must be > 0, got {temperature}')
        self.temperature = float(temperature)
        self.panorama: Optional[PanoramaCrops] = build_panorama(panorama)
        self.class_names: List[str] = []
        self._device = torch.device(device) if device is not None else torch.device(
            'cuda' if torch.cuda.is_available() else 'cpu')

    # ------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def device(self) -> torch.device:
        for tensor in list(self.parameters()) + list(self.buffers()):
            return tensor.device
        return self._device

    def logits(self, imgs: Tensor, metas: Optional[Sequence[dict]] = None) -> Tensor:
        """(B, 3, H, W) RGB in [0, 255] -> (B, C, h, w) logits at any resolution."""
        raise NotImplementedError

    def probs_from_logits(self, logits: Tensor, size: Tuple[int, int]) -> Tensor:
        """Resize logits (bilinear) to ``size`` and apply the tempered softmax."""
        if tuple(logits.shape[-2:]) != tuple(size):
            logits = F.interpolate(logits.float(), size=tuple(size), mode='bilinear',
                                   align_corners=False)
        return torch.softmax(logits.float() / self.temperature, dim=1)

    @torch.no_grad()
    def forward(self, imgs: Tensor, metas: Optional[Sequence[dict]] = None) -> Tensor:
        if imgs.dim() != 4 or imgs.shape[1] != 3:
            raise ValueError(f'{type(self).__name__}: images must be (B, 3, H, W), got '
                             f'{tuple(imgs.shape)}')
        logits = self.logits(imgs.to(self.device, torch.float32), metas)
        self._check_classes(logits)
        return self.probs_from_logits(logits, imgs.shape[-2:])

    def _check_classes(self, logits: Tensor) -> None:
        if logits.shape[1] != self.num_classes:
            raise RuntimeError(f'{type(self).__name__} produced {logits.shape[1]} classes but has '
                               f'{self.num_classes} class names')

    # ------------------------------------------------------------------
    @torch.no_grad()
    def label_frame(self, sample: dict, stride: int = 1) -> Tensor:
        """(C, Hg, Wg) float32 probabilities of one RGB-D sample on the
        label grid of ``stride`` (cells sample the image at their centres)."""
        if 'img' not in sample:
            raise KeyError(f'{type(self).__name__}.label_frame: the sample has no "img" '
                           f'(keys: {sorted(sample)})')
        img = image_to_tensor(sample['img'], self.device)
        height, width = img.shape[-2:]
        grid = ((height + stride - 1) // stride, (width + stride - 1) // stride)
        meta = {k: v for k, v in sample.items() if k not in ('img', 'depth')}
        if sample.get('projection', 'perspective') == 'equirect' and self.panorama is not None:
            panorama = self.panorama
            # one crop at a time: V crops x C classes at full size would not fit
            crop_probs = (self.forward(panorama.crop(img[0], view)[None], [meta])[0]
                          for view in range(len(panorama.views)))
            return panorama.stitch(crop_probs, (height, width), grid)
        logits = self.logits(img, [meta])
        self._check_classes(logits)
        return self.probs_from_logits(logits, grid)[0]

    def weight_files(self) -> List[str]:
        """Files holding the teacher's weights (hashed into the manifest)."""
        return []

    def describe(self) -> dict:
        """What the manifest records about the teacher."""
        return {'type': type(self).__name__, 'temperature': self.temperature,
                'num_classes': self.num_classes}

    def panorama_config(self) -> dict:
        return {'mode': 'whole'} if self.panorama is None else self.panorama.config()

    def extra_repr(self) -> str:
        return f'classes={self.num_classes}, temperature={self.temperature}'


def check_class_names(owner: str, class_names: Optional[Sequence[str]], num_classes: int
                      ) -> List[str]:
    """Class names of a teacher: given ones must match ``num_classes``;
    without any, ``class_0 ... class_{C-1}``."""
    if class_names is None:
        return [f'class_{i}' for i in range(num_classes)]
    names = [str(n) for n in class_names]
    if len(names) != num_classes:
        raise ValueError(f'{owner}: {len(names)} class names for a model with {num_classes} '
                         'classes')
    return names
