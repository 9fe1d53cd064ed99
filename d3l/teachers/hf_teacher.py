"""A Hugging Face ``transformers`` semantic-segmentation model as a teacher."""
from __future__ import annotations

import json
import math
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from d3l.registry import MODELS

from .base import BaseTeacher, check_class_names
from .mmseg_teacher import TeacherCheckpointError, keep_ratio_size

#: PIL resampling codes of preprocessor configs -> F.interpolate modes
_RESAMPLE = {0: 'nearest', 2: 'bilinear', 3: 'bicubic'}
_WEIGHT_FILES = ('model.safetensors', 'pytorch_model.bin', 'model.safetensors.index.json',
                 'pytorch_model.bin.index.json')


def dpt_resize_size(height: int, width: int, target_h: int, target_w: int,
                    multiple: int = 1) -> Tuple[int, int]:
    """Input size of DPT's ``keep_aspect_ratio`` resize (isl-org's
    ``resize_method='minimal'``, transformers' ``DPTImageProcessor``): one
    scale for both sides, the one nearer to 1 among those that fit the
    target height or width, then each side rounded to ``multiple``."""
    scale_h, scale_w = target_h / height, target_w / width
    if abs(1 - scale_w) < abs(1 - scale_h):
        scale_h = scale_w
    else:
        scale_w = scale_h

    def fit(value: float) -> int:
        rounded = int(round(value / multiple) * multiple)
        return rounded if rounded > 0 else int(math.ceil(value / multiple) * multiple)
    return fit(scale_h * height), fit(scale_w * width)


def dpt_segmentation_logits(model, x: Tensor) -> Tensor:
    """``DPTForSemanticSegmentation`` logits for any input size (multiples of
    32, as isl-org's DPT takes, e.g. a 960 x 480 panorama). transformers'
    own forward assumes a square token grid in its neck, and its hybrid
    embeddings refuse sizes other than ``config.image_size`` although they
    resize the position embeddings; this runs the same modules with the
    grid's true height and width."""
    config = model.config
    patch = config.patch_size
    embeddings = model.dpt.embeddings
    if config.is_hybrid:
        embeddings.image_size = tuple(x.shape[-2:])
    outputs = model.dpt(x, output_hidden_states=True)
    layers = outputs.hidden_states[1:]  # [0] is the embedding output
    if config.is_hybrid:
        features = list(outputs.intermediate_activations)
        features += [layers[i] for i in config.backbone_out_indices[2:]]
    else:
        features = [layers[i] for i in config.backbone_out_indices]
    features = model.neck(features, x.shape[-2] // patch, x.shape[-1] // patch)
    return model.head(features)


@MODELS.register_module()
class HFTeacher(BaseTeacher):
    """A ``*ForSemanticSegmentation`` model (DPT, SegFormer, UPerNet, ...)
    loaded from a local directory written by ``save_pretrained`` (nothing is
    downloaded).

    Preprocessing follows the directory's ``preprocessor_config.json``
    (``image_mean``/``image_std``, ``rescale_factor``, ``size``) read
    directly, so no image-processor extras (torchvision) are needed.

    Args:
        model_dir: the local directory (``config.json`` + weights).
        size: input size: ``'config'`` uses the preprocessor's ``size``
            (``{'height', 'width'}`` = fixed size, or with
            ``keep_aspect_ratio`` / ``ensure_multiple_of`` DPT's resize, see
            :func:`dpt_resize_size`; ``{'shortest_edge'}`` = keep ratio), a
            ``(long, short)`` pair resizes keeping the ratio, ``None`` feeds
            images as they are. The preprocessor's ``resample`` (bilinear
            when absent) picks the interpolation.
        class_names: override ``config.id2label``.
        image_mean / image_std: override the preprocessor's (in [0, 1] units).
        temperature / panorama / device: see :class:`BaseTeacher`.
    """

    def __init__(self, model_dir: str, size: Union[str, Sequence[int], None] = 'config',
                 class_names: Optional[Sequence[str]] = None,
                 image_mean: Optional[Sequence[float]] = None,
                 image_std: Optional[Sequence[float]] = None,
                 temperature: float = 1.0, panorama=None, device=None):
        super().__init__(temperature=temperature, panorama=panorama, device=device)
        try:
            import transformers
        except ImportError:
            raise ImportError('HFTeacher needs transformers: pip install "transformers>=4.40" '
                              '(see requirements/optional.txt)') from None
        model_dir = str(model_dir)
        if not osp.isdir(model_dir):
            raise TeacherCheckpointError(f'HFTeacher: model directory {model_dir} does not exist')
        if not osp.isfile(osp.join(model_dir, 'config.json')):
            raise TeacherCheckpointError(f'HFTeacher: {model_dir} has no config.json (write it '
                                         'with model.save_pretrained(dir))')
        if not any(osp.isfile(osp.join(model_dir, name)) for name in _WEIGHT_FILES):
            raise TeacherCheckpointError(f'HFTeacher: {model_dir} holds no weights (expected one '
                                         f'of {", ".join(_WEIGHT_FILES)})')
        self.model_dir = model_dir
        try:
            model, info = transformers.AutoModelForSemanticSegmentation.from_pretrained(
                model_dir, local_files_only=True, output_loading_info=True)
        except (OSError, ValueError, RuntimeError) as err:
            raise TeacherCheckpointError(f'HFTeacher: cannot load {model_dir}: '
                                         f'{str(err).splitlines()[0]}') from None
        problems = []
        for key in ('missing_keys', 'mismatched_keys'):
            if info.get(key):
                problems.append(f'{len(info[key])} {key.replace("_", " ")} '
                                f'(e.g. {list(info[key])[:3]})')
        if problems:
            raise TeacherCheckpointError(f'HFTeacher: the weights in {model_dir} do not fit its '
                                         f'config: {"; ".join(problems)}')
        model.eval()
        self.model = model
        num_classes = int(model.config.num_labels)
        if class_names is None:
            id2label = getattr(model.config, 'id2label', None) or {}
            class_names = [id2label.get(i, id2label.get(str(i), f'class_{i}'))
                           for i in range(num_classes)]
        self.class_names = check_class_names('HFTeacher', class_names, num_classes)
        pre = self._preprocessor_config(model_dir)
        mean = image_mean if image_mean is not None else pre.get('image_mean', [0.5] * 3)
        std = image_std if image_std is not None else pre.get('image_std', [0.5] * 3)
        rescale = pre.get('rescale_factor', 1 / 255) if pre.get('do_rescale', True) else 1.0
        self.normalize = pre.get('do_normalize', True) or image_mean is not None
        self.rescale = float(rescale)
        # pixels arrive in [0, 255]: fold the rescale into mean / std
        self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).reshape(3, 1, 1)
                             / rescale, persistent=False)
        self.register_buffer('std', torch.tensor(std, dtype=torch.float32).reshape(3, 1, 1)
                             / rescale, persistent=False)
        self.size = self._resolve_size(size, pre)
        self.resample = _RESAMPLE.get(pre.get('resample'), 'bilinear')
        self.to(self._device)

    @staticmethod
    def _preprocessor_config(model_dir: str) -> dict:
        path = osp.join(model_dir, 'preprocessor_config.json')
        if not osp.isfile(path):
            return {}
        try:
            with open(path, encoding='utf-8') as f:
                return json.load(f)
        except (OSError, ValueError) as err:
            raise TeacherCheckpointError(f'HFTeacher: {path} is unreadable: {err}') from None

    @staticmethod
    def _resolve_size(size, pre: dict):
        if size is None:
            return None
        if size == 'config':
            if not pre.get('do_resize', True):
                return None
            cfg = pre.get('size')
            if isinstance(cfg, dict) and 'height' in cfg and 'width' in cfg:
                if pre.get('keep_aspect_ratio'):
                    return ('dpt', int(cfg['height']), int(cfg['width']),
                            int(pre.get('ensure_multiple_of') or 1))
                return ('fixed', int(cfg['height']), int(cfg['width']))
            if isinstance(cfg, dict) and 'shortest_edge' in cfg:
                return ('short', int(cfg['shortest_edge']))
            if isinstance(cfg, int):
                return ('fixed', cfg, cfg)
            return None
        if isinstance(size, (list, tuple)) and len(size) == 2:
            return ('keep', int(size[0]), int(size[1]))
        raise ValueError(f"HFTeacher: size must be 'config', None or (long, short), got {size!r}")

    def input_size(self, height: int, width: int) -> Tuple[int, int]:
        if self.size is None:
            return height, width
        if self.size[0] == 'fixed':
            return self.size[1], self.size[2]
        if self.size[0] == 'short':
            factor = self.size[1] / min(height, width)
            return int(height * factor + 0.5), int(width * factor + 0.5)
        if self.size[0] == 'dpt':
            return dpt_resize_size(height, width, *self.size[1:])
        return keep_ratio_size(height, width, self.size[1:])

    def logits(self, imgs: Tensor, metas=None) -> Tensor:
        height, width = imgs.shape[-2:]
        size = self.input_size(height, width)
        x = imgs.float()
        if size != (height, width):
            x = F.interpolate(x, size=size, mode=self.resample, align_corners=False)
        x = (x - self.mean) / self.std if self.normalize else x * self.rescale
        if getattr(self.model.config, 'model_type', None) == 'dpt':
            return dpt_segmentation_logits(self.model, x)
        return self.model(pixel_values=x).logits

    def weight_files(self):
        return [osp.join(self.model_dir, name) for name in _WEIGHT_FILES
                if osp.isfile(osp.join(self.model_dir, name))]

    def describe(self) -> dict:
        info = super().describe()
        info.update(model_dir=self.model_dir, model_type=self.model.config.model_type)
        return info
