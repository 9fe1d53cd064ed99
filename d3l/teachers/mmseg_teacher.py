"""Any mmsegmentation model as a teacher (default: DPT ViT-B/16 on ADE20K)."""
from __future__ import annotations

import copy
import os.path as osp
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import Tensor

from d3l.registry import MODELS
from d3l.utils.compat import CorruptCheckpointError, UnsafeCheckpointError, safe_torch_load
from d3l.utils.errors import D3LError

from .base import BaseTeacher, check_class_names

#: mmseg's DPT ViT-B/16 ADE20K config (150 classes), shipped inside mmsegmentation
DEFAULT_MMSEG_CONFIG = 'mmseg::dpt/dpt_vit-b16_8xb2-160k_ade20k-512x512.py'


class TeacherCheckpointError(D3LError, RuntimeError):
    """A teacher's weights are missing, unreadable or do not fit its model."""


def resolve_package_config(path: str) -> str:
    """``'mmseg::dpt/x.py'`` -> the file shipped inside the installed
    package (``<package>/.mim/configs/dpt/x.py``); other paths unchanged."""
    if '::' not in path:
        return path
    import importlib.util

    package, relative = path.split('::', 1)
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(f'config {path}: package {package!r} is not installed')
    root = list(spec.submodule_search_locations)[0]
    return osp.join(root, '.mim', 'configs', relative)


def _load_config(config):
    from mmengine.config import Config

    if isinstance(config, Config):
        return copy.deepcopy(config)
    if isinstance(config, dict):
        config = copy.deepcopy(dict(config))
        # a bare model dict (type='EncoderDecoder', ...) is accepted too
        return Config(config if 'model' in config else {'model': config})
    if isinstance(config, str):
        config = resolve_package_config(config)
        if not osp.isfile(config):
            raise FileNotFoundError(f'MMSegTeacher: config file {config} does not exist')
        try:
            return Config.fromfile(config)
        except FileNotFoundError as err:
            raise FileNotFoundError(f'MMSegTeacher: cannot load config {config}: {err}') from None
    raise TypeError(f'MMSegTeacher: config must be a path, a dict or a Config, got {config!r}')


def tiny_dpt_config(num_classes: int = 150, embed_dims: int = 32, num_layers: int = 4,
                    img_size: int = 64, channels: int = 16) -> dict:
    """An mmseg config dict of a small DPT (ViT backbone + ``DPTHead``) with
    the structure of the ADE20K DPT, for smoke runs, tests and benchmarks
    (random weights unless trained). ``num_layers`` >= 4: DPT reassembles
    four ViT stages."""
    if num_layers < 4:
        raise ValueError(f'tiny_dpt_config: DPT needs >= 4 ViT layers, got {num_layers}')
    out_indices = tuple(round(i * (num_layers - 1) / 3) for i in range(4))
    return dict(model=dict(
        type='EncoderDecoder',
        data_preprocessor=dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                               std=[58.395, 57.12, 57.375], bgr_to_rgb=True, pad_val=0,
                               seg_pad_val=255, size_divisor=16),
        backbone=dict(type='VisionTransformer', img_size=img_size, patch_size=16,
                      embed_dims=embed_dims, num_layers=num_layers, num_heads=2, mlp_ratio=2,
                      out_indices=out_indices, final_norm=False, with_cls_token=True,
                      output_cls_token=True),
        decode_head=dict(type='DPTHead', in_channels=(embed_dims,) * 4, channels=channels,
                         embed_dims=embed_dims,
                         post_process_channels=[channels // 2, channels // 2, channels,
                                                channels],
                         num_classes=num_classes, readout_type='project',
                         input_transform='multiple_select', in_index=(0, 1, 2, 3),
                         norm_cfg=dict(type='BN', requires_grad=True),
                         loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False,
                                          loss_weight=1.0)),
        auxiliary_head=None, train_cfg=dict(), test_cfg=dict(mode='whole')))


def save_random_mmseg_checkpoint(config, path: str, seed: int = 0,
                                 class_names: Optional[Sequence[str]] = None) -> str:
    """Build an mmseg model from ``config`` with random weights (seeded) and
    save it as an MMEngine-style checkpoint (``state_dict`` + ``meta``)."""
    import mmseg.models  # noqa: F401
    from mmengine.registry import DefaultScope
    from mmseg.registry import MODELS as MMSEG_MODELS

    cfg = _load_config(config)
    torch.manual_seed(seed)
    with DefaultScope.overwrite_default_scope('mmseg'):
        model = MMSEG_MODELS.build(cfg.model)
    meta = {}
    if class_names is not None:
        meta['dataset_meta'] = {'classes': list(class_names)}
    torch.save({'state_dict': model.state_dict(), 'meta': meta}, path)
    return path


def keep_ratio_size(height: int, width: int, scale: Sequence[int]) -> Tuple[int, int]:
    """mmcv's ``Resize(scale, keep_ratio=True)``: the largest size with the
    image's aspect ratio whose long edge <= max(scale) and short edge <=
    min(scale)."""
    long_edge, short_edge = max(scale), min(scale)
    factor = min(long_edge / max(height, width), short_edge / min(height, width))
    return int(height * factor + 0.5), int(width * factor + 0.5)


@MODELS.register_module()
class MMSegTeacher(BaseTeacher):
    """An mmsegmentation segmentor (``EncoderDecoder``) from its config and
    a local checkpoint.

    Args:
        config: mmseg config path (``'mmseg::...'`` names a config shipped
            with mmsegmentation), a config dict with ``model``, or a bare
            model dict. Default: DPT ViT-B/16 ADE20K, 150 classes.
        checkpoint: local path of the weights (required; nothing is
            downloaded). A missing file, a checkpoint whose keys or shapes do
            not fit the model, or one with an unexpected number of classes is
            a :class:`TeacherCheckpointError`.
        scale: input resizing before inference: ``'config'`` uses the
            ``Resize`` of the config's test pipeline (DPT: keep ratio within
            2048 x 512), a ``(long, short)`` pair resizes like mmcv's
            ``Resize(keep_ratio=True)``, ``None`` feeds images as they are.
            Logits are resized back to the image (or label grid) bilinearly.
        class_names: override the names (else from the checkpoint's
            ``dataset_meta``, else the config's test dataset).
        cfg_options: merged into the config before building.
        temperature / panorama / device: see :class:`BaseTeacher`.
    """

    def __init__(self, config: Union[str, dict] = DEFAULT_MMSEG_CONFIG,
                 checkpoint: Optional[str] = None,
                 scale: Union[str, Sequence[int], None] = 'config',
                 class_names: Optional[Sequence[str]] = None, cfg_options: Optional[dict] = None,
                 temperature: float = 1.0, panorama=None, device=None):
        super().__init__(temperature=temperature, panorama=panorama, device=device)
        import mmseg.models  # noqa: F401  (registers mmseg's models)
        from mmengine.model import revert_sync_batchnorm
        from mmengine.registry import DefaultScope
        from mmseg.registry import MODELS as MMSEG_MODELS

        cfg = _load_config(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        if 'model' not in cfg:
            raise ValueError(f'MMSegTeacher: config {config!r} has no "model"')
        self.config_source = config if isinstance(config, str) else 'dict'
        model_cfg = copy.deepcopy(cfg.model)
        # weights come from ``checkpoint`` only: no ImageNet init download
        model_cfg.pop('pretrained', None)
        if isinstance(model_cfg.get('backbone'), dict):
            model_cfg.backbone.pop('init_cfg', None)
            model_cfg.backbone.pop('pretrained', None)
        model_cfg.train_cfg = None
        model_cfg.setdefault('test_cfg', dict(mode='whole'))
        self.model_cfg = model_cfg.to_dict()
        with DefaultScope.overwrite_default_scope('mmseg'):
            model = MMSEG_MODELS.build(model_cfg)
        # SyncBN needs a process group; the teacher runs in eval mode alone
        model = revert_sync_batchnorm(model)
        if checkpoint is None:
            raise TeacherCheckpointError(
                'MMSegTeacher: checkpoint is required, a local path to the weights of the config '
                '(for the default DPT ViT-B ADE20K: the mmsegmentation model zoo file '
                'dpt_vit-b16_512x512_160k_ade20k-db31cf52.pth); nothing is downloaded')
        self.checkpoint = str(checkpoint)
        meta = self._load_weights(model, self.checkpoint)
        model.eval()
        self.model = model
        num_classes = int(model.decode_head.out_channels)
        names = class_names
        if names is None:
            names = (meta.get('dataset_meta') or {}).get('classes') or meta.get('CLASSES')
        if names is None:
            names = self._config_class_names(cfg)
        self.class_names = check_class_names('MMSegTeacher', names, num_classes)
        self.scale = self._resolve_scale(scale, cfg)
        self._rgb_model = bool(getattr(model.data_preprocessor, 'channel_conversion', False))
        pre = model.data_preprocessor
        mean = getattr(pre, 'mean', None) if getattr(pre, '_enable_normalize', False) else None
        std = getattr(pre, 'std', None) if getattr(pre, '_enable_normalize', False) else None
        self.register_buffer('mean', (mean if mean is not None else torch.zeros(3, 1, 1))
                             .reshape(3, 1, 1).float().clone(), persistent=False)
        self.register_buffer('std', (std if std is not None else torch.ones(3, 1, 1))
                             .reshape(3, 1, 1).float().clone(), persistent=False)
        test_cfg = getattr(pre, 'test_cfg', None) or {}
        self.size_divisor = test_cfg.get('size_divisor')
        self.pad_size = test_cfg.get('size')
        self.pad_val = float(getattr(pre, 'pad_val', 0))
        self.to(self._device)

    # ------------------------------------------------------------------
    @staticmethod
    def _load_weights(model, path: str) -> dict:
        if not osp.isfile(path):
            raise TeacherCheckpointError(f'MMSegTeacher: checkpoint {path} does not exist')
        try:
            checkpoint = safe_torch_load(path, map_location='cpu')
        except (CorruptCheckpointError, UnsafeCheckpointError) as err:
            raise TeacherCheckpointError(f'MMSegTeacher: {err}') from None
        if not isinstance(checkpoint, dict):
            raise TeacherCheckpointError(f'MMSegTeacher: checkpoint {path} holds a '
                                         f'{type(checkpoint).__name__}, not a state dict')
        state = checkpoint.get('state_dict', checkpoint)
        state = {(k[7:] if k.startswith('module.') else k): v for k, v in state.items()}
        own = model.state_dict()
        # the auxiliary head only helps training; configs may drop it
        unexpected = [k for k in state if k not in own and not k.startswith('auxiliary_head.')]
        missing = [k for k in own if k not in state]
        mismatched = [f'{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}'
                      for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        problems = []
        if missing:
            problems.append(f'{len(missing)} model weights missing from it (e.g. {missing[:3]})')
        if unexpected:
            problems.append(f'{len(unexpected)} unexpected weights (e.g. {unexpected[:3]})')
        if mismatched:
            problems.append(f'{len(mismatched)} shape mismatches (e.g. {mismatched[:2]})')
        if problems:
            raise TeacherCheckpointError(
                f'MMSegTeacher: checkpoint {path} does not fit the config\'s model: '
                + '; '.join(problems) + ' (wrong config for these weights, or a different '
                'number of classes?)')
        model.load_state_dict({k: state[k] for k in own}, strict=True)
        return checkpoint.get('meta') or {}

    @staticmethod
    def _config_class_names(cfg) -> Optional[Sequence[str]]:
        for key in ('test_dataloader', 'val_dataloader'):
            dataset = (cfg.get(key) or {}).get('dataset') or {}
            dataset_type = dataset.get('type')
            if not dataset_type:
                continue
            try:
                import mmseg.datasets  # noqa: F401
                from mmseg.registry import DATASETS
                dataset_cls = DATASETS.get(dataset_type)
            except (ImportError, KeyError):
                dataset_cls = None
            if dataset_cls is not None:
                classes = getattr(dataset_cls, 'METAINFO', {}).get('classes')
                if classes:
                    return list(classes)
        return None

    @staticmethod
    def _resolve_scale(scale, cfg) -> Optional[Tuple[int, int]]:
        if scale is None:
            return None
        if scale == 'config':
            pipeline = cfg.get('test_pipeline') or (
                ((cfg.get('test_dataloader') or {}).get('dataset') or {}).get('pipeline')) or []
            for step in pipeline:
                if isinstance(step, dict) and step.get('type') == 'Resize' and step.get('scale'):
                    if not step.get('keep_ratio', False):
                        width, height = step['scale']
                        return ('fixed', int(height), int(width))
                    return tuple(int(s) for s in step['scale'])
            return None
        if isinstance(scale, (list, tuple)) and len(scale) == 2:
            return tuple(int(s) for s in scale)
        raise ValueError(f"MMSegTeacher: scale must be 'config', None or (long, short), "
                         f'got {scale!r}')

    def input_size(self, height: int, width: int) -> Tuple[int, int]:
        """(h, w) the model sees for an image of (height, width)."""
        if self.scale is None:
            return height, width
        if self.scale[0] == 'fixed':
            return self.scale[1], self.scale[2]
        return keep_ratio_size(height, width, self.scale)

    # ------------------------------------------------------------------
    def logits(self, imgs: Tensor, metas=None) -> Tensor:
        height, width = imgs.shape[-2:]
        size = self.input_size(height, width)
        x = imgs.float()
        if size != (height, width):
            # mmseg resizes the uint8 image (cv2 bilinear, rounded): match it
            x = F.interpolate(x, size=size, mode='bilinear', align_corners=False)
            x = x.round_().clamp_(0, 255)
        if not self._rgb_model:
            # mmseg models without channel conversion were trained on BGR
            x = x.flip(1)
        x = (x - self.mean) / self.std
        h, w = size
        pad_h, pad_w = h, w
        if self.pad_size is not None:
            pad_h, pad_w = max(h, int(self.pad_size[0])), max(w, int(self.pad_size[1]))
        if self.size_divisor:
            div = int(self.size_divisor)
            pad_h, pad_w = (pad_h + div - 1) // div * div, (pad_w + div - 1) // div * div
        if (pad_h, pad_w) != (h, w):
            x = F.pad(x, (0, pad_w - w, 0, pad_h - h), value=self.pad_val)
        metas = [dict(ori_shape=(h, w), img_shape=(h, w), pad_shape=(pad_h, pad_w),
                      padding_size=[0, pad_w - w, 0, pad_h - h]) for _ in range(x.shape[0])]
        logits = self.model.inference(x, metas)
        return logits[..., :h, :w]

    def weight_files(self):
        return [self.checkpoint]

    def describe(self) -> dict:
        info = super().describe()
        info.update(config=self.config_source, model=self.model_cfg, checkpoint=self.checkpoint,
                    scale=list(self.scale) if self.scale else None)
        return info
