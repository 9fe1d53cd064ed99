"""Load a trained model and predict on point arrays: :func:`init_model`,
:func:`inference_segmentor`, :func:`inference_classifier` (as
``mmdet3d.apis``)."""
from __future__ import annotations

import copy
import inspect
import logging
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import print_log
from mmengine.registry import init_default_scope
from torch import nn

from d3l.registry import DATASETS, MODELS, TRANSFORMS
from d3l.utils.errors import D3LError

from .normals import estimate_normals

#: test-pipeline transforms that inference on given arrays skips: they load
#: or lift data from files, or drop points (inference labels every point)
SKIPPED_TRANSFORMS = ('LimitPoints', 'RandomChunkCrop', 'FitToCube', 'LoadSoftLabels')
SKIPPED_PREFIXES = ('Load', 'Lift')
#: colour given to every point of a scan without colours (for a model trained with colours)
MISSING_COLOR = 0.5


class CheckpointMismatchError(D3LError, RuntimeError):
    """The checkpoint does not hold exactly the model's tensors."""


def _as_config(config: Union[str, Config], cfg_options: Optional[dict]) -> Config:
    from d3l.engine.cli import load_config

    if isinstance(config, Config):
        cfg = copy.deepcopy(config)
        if cfg_options:
            cfg.merge_from_dict(cfg_options)
        return cfg
    return load_config(str(config), cfg_options)


def _state_dict(checkpoint: Any, path: str) -> Dict[str, torch.Tensor]:
    if not isinstance(checkpoint, dict):
        raise CheckpointMismatchError(f'checkpoint {path} holds a {type(checkpoint).__name__}, '
                                      'not a dict')
    state = checkpoint.get('state_dict', checkpoint)
    if not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise CheckpointMismatchError(f'checkpoint {path} has no state_dict of tensors')
    if state and all(k.startswith('module.') for k in state):
        state = {k[len('module.'):]: v for k, v in state.items()}
    return state


def _listing(keys: Sequence[str], limit: int = 8) -> str:
    keys = sorted(keys)
    more = f' (+{len(keys) - limit} more)' if len(keys) > limit else ''
    return ', '.join(keys[:limit]) + more


def load_weights(model: nn.Module, path: str) -> dict:
    """Load every model tensor from the checkpoint at ``path`` (weights_only).

    Returns the checkpoint's ``meta`` (or ``{}``). Raises
    :class:`CheckpointMismatchError` naming the missing, unexpected and
    mis-shaped keys: inference must not run with freshly initialised layers.
    """
    from d3l.engine.cli import read_checkpoint

    checkpoint = read_checkpoint(path, CheckpointMismatchError)
    state = _state_dict(checkpoint, path)
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    shapes = [f'{k} {tuple(state[k].shape)} vs {tuple(v.shape)}' for k, v in expected.items()
              if k in state and state[k].shape != v.shape]
    if missing or unexpected or shapes:
        parts = []
        if missing:
            parts.append(f'{len(missing)} model tensors missing from it: {_listing(missing)}')
        if unexpected:
            parts.append(f'{len(unexpected)} unexpected tensors: {_listing(unexpected)}')
        if shapes:
            parts.append(f'{len(shapes)} tensors of another shape (checkpoint vs model): '
                         f'{_listing(shapes, 4)}')
        raise CheckpointMismatchError(
            f'checkpoint {path} does not match the model of the config: ' + '; '.join(parts)
            + ' (is it the checkpoint of this config?)')
    model.load_state_dict(state, strict=True)
    meta = checkpoint.get('meta') if isinstance(checkpoint, dict) else None
    return meta if isinstance(meta, dict) else {}


def _test_dataset_cfg(cfg: Config) -> dict:
    loader = cfg.get('test_dataloader') or cfg.get('val_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while 'pipeline' not in dataset and isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']  # dataset wrappers
    return dataset


def _dataset_meta(cfg: Config, meta: dict) -> dict:
    if isinstance(meta.get('dataset_meta'), dict):
        return dict(meta['dataset_meta'])
    dataset = _test_dataset_cfg(cfg)
    try:
        cls = DATASETS.get(dataset.get('type'))
    except (KeyError, TypeError):
        cls = None
    info = dict(getattr(cls, 'METAINFO', {}) or {})
    info.update(dataset.get('metainfo') or {})
    return info


def init_model(config: Union[str, Config], checkpoint: Optional[str] = None,
               device: Union[str, torch.device] = 'cpu',
               cfg_options: Optional[dict] = None) -> nn.Module:
    """Build the model of ``config`` and load ``checkpoint`` into it.

    Args:
        config: config file or :class:`mmengine.config.Config`.
        checkpoint: ``.pth`` written by ``tools/train.py`` (or a plain state
            dict), loaded with ``weights_only=True``; every model tensor must
            come from it. None keeps the random initialisation (tests,
            benchmarks).
        device: where the model runs.
        cfg_options: overrides merged into the config (``--cfg-options``).

    Returns:
        The model in eval mode with ``cfg`` (the config) and
        ``dataset_meta`` (``classes``, ``palette``: from the checkpoint's
        meta, else from the config's test dataset class).
    """
    cfg = _as_config(config, cfg_options)
    init_default_scope(cfg.get('default_scope', 'd3l'))
    model = MODELS.build(cfg.model)
    meta = load_weights(model, checkpoint) if checkpoint is not None else {}
    model.cfg = cfg
    model.dataset_meta = _dataset_meta(cfg, meta)
    return model.to(device).eval()


# ----------------------------------------------------------------------------
# pipeline
# ----------------------------------------------------------------------------
def inference_transforms(cfg: Config) -> list:
    """The config's test pipeline for points given as arrays, built.

    Transforms that load or lift inputs from files, and those that drop
    points, are skipped (every input point gets a label); ``GridSample``
    keeps its inverse map so that predictions reach every input point. The
    last transform must be ``PackPointInputs``.
    """
    pipeline = _test_dataset_cfg(cfg).get('pipeline') or cfg.get('test_pipeline')
    if not pipeline:
        raise D3LError(f'config {cfg.get("config_name", "")} has no test pipeline '
                       '(test_dataloader.dataset.pipeline)')
    kept = []
    for step in pipeline:
        step = dict(step)
        name = str(step.get('type', '')).split('.')[-1]
        if name in SKIPPED_TRANSFORMS or name.startswith(SKIPPED_PREFIXES):
            continue
        if name == 'GridSample':
            step['return_inverse'] = True
        kept.append(step)
    if not kept or str(kept[-1].get('type')).split('.')[-1] != 'PackPointInputs':
        raise D3LError('the test pipeline must end with PackPointInputs, got '
                       f'{[s.get("type") for s in pipeline]}')
    return [TRANSFORMS.build(step) for step in kept]


def _pipeline_of(model: nn.Module) -> list:
    cache = model.__dict__.setdefault('_d3l_inference_transforms', {})
    if 'transforms' not in cache:
        init_default_scope(model.cfg.get('default_scope', 'd3l'))
        cache['transforms'] = inference_transforms(model.cfg)
    return cache['transforms']


def _check_array(name: str, value, num_points: int, source: str) -> Optional[np.ndarray]:
    if value is None:
        return None
    value = np.asarray(value, np.float32)
    if value.shape != (num_points, 3):
        raise D3LError(f'{source}: {name} must be ({num_points}, 3), got {value.shape}')
    if not np.isfinite(value).all():
        raise D3LError(f'{source}: {name} hold NaN or infinite values')
    return value


def prepare_sample(model: nn.Module, points, colors=None, normals=None,
                   name: str = 'points') -> dict:
    """Run the model's test pipeline on arrays -> packed sample
    (``inputs``, ``data_samples``), normals estimated where the features
    need them and the input has none (on the points left after voxel
    subsampling, the scale at which the network sees them)."""
    points = np.asarray(points, np.float32)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise D3LError(f'{name}: points must be a non-empty (N, 3) array, got {points.shape}')
    if not np.isfinite(points).all():
        raise D3LError(f'{name}: {int((~np.isfinite(points).all(1)).sum())} points have NaN '
                       'or infinite coordinates')
    colors = _check_array('colors', colors, len(points), name)
    if colors is not None and colors.size and colors.max() > 1.0:
        colors = colors / 255.0
    results: Dict[str, Any] = dict(
        points=points, colors=colors,
        normals=_check_array('normals', normals, len(points), name), scene_id=name)
    *transforms, pack = _pipeline_of(model)
    for transform in transforms:
        results = transform(results)
    if 'normals' in pack.feat_keys and results.get('normals') is None:
        results['normals'] = estimate_normals(results['points'])
    if 'colors' in pack.feat_keys and results.get('colors') is None:
        print_log(f'{name} has no colours; the model was trained with colours, so every point '
                  f'gets grey ({MISSING_COLOR})', logger='current', level=logging.WARNING)
        results['colors'] = np.full((len(results['points']), 3), MISSING_COLOR, np.float32)
    return pack(results)


def _forward_probs(model: nn.Module, packed: Sequence[dict]) -> List[torch.Tensor]:
    """Per-sample (N_i, C) probabilities at the network's points."""
    from d3l.datasets.collate import point_collate

    predictor = getattr(model, 'predictor', model)
    if not hasattr(predictor, 'predict_probs'):
        raise D3LError(f'{type(predictor).__name__} is not a point segmentor (no predict_probs)')
    data = model.data_preprocessor(point_collate(list(packed)), False)
    with torch.no_grad():
        probs = predictor.predict_probs(data['inputs'], data['data_samples'])
    return data['inputs'].split(probs)


def segment_packed(model: nn.Module, packed: Sequence[dict]) -> List[dict]:
    """Labels and probabilities of packed samples, at every input point."""
    results = []
    for sample, probs in zip(packed, _forward_probs(model, packed)):
        inverse = sample['data_samples'].get('inverse')
        if inverse is not None:
            probs = probs[inverse.to(probs.device).long()]
        probs = probs.float().cpu().numpy()
        results.append({'labels': probs.argmax(1).astype(np.int64), 'probs': probs})
    return results


def inference_segmentor(model: nn.Module, points, colors=None, normals=None,
                        name: str = 'points') -> Dict[str, np.ndarray]:
    """Segment one point cloud given as arrays.

    Args:
        model: from :func:`init_model` (a ``Segmentor`` or a semi-supervised
            wrapper of one).
        points: (N, 3) coordinates in metres, z up (as the training data).
        colors: (N, 3) RGB in [0, 1] or 0-255; None: grey, with a warning.
        normals: (N, 3); None: estimated (:func:`estimate_normals`) when the
            model's input features use normals.
        name: how messages name the cloud.

    Returns:
        ``labels`` (N,) int64 and ``probs`` (N, C) float32 for the points as
        given (sliding windows over scenes larger than the network's extent,
        see ``Segmentor`` ``test_cfg``).
    """
    packed = prepare_sample(model, points, colors, normals, name)
    return segment_packed(model, [packed])[0]


def _shape_dataset_defaults(cfg: Config) -> dict:
    dataset = _test_dataset_cfg(cfg)
    try:
        params = inspect.signature(DATASETS.get(dataset.get('type')).__init__).parameters
        defaults = {k: p.default for k, p in params.items() if p.default is not p.empty}
    except (KeyError, TypeError, ValueError, AttributeError):
        defaults = {}
    defaults.update({k: v for k, v in dataset.items() if k in ('normalize', 'scale', 'color')})
    return defaults


def inference_classifier(model: nn.Module, points, colors=None, normals=None,
                         name: str = 'points') -> Dict[str, Any]:
    """Classify one shape given as (N, 3) points (z up, any scale: it is
    normalised as the config's dataset does, e.g. ModelNet40's bounding-box
    sphere of radius 0.8). Missing colours get the dataset's constant colour.

    Returns ``label`` (int), ``scores`` (C,) float32 and ``class_name`` when
    the dataset names its classes.
    """
    from d3l.datasets.shape_utils import normalize_shape

    points = np.asarray(points, np.float32)
    if points.ndim != 2 or points.shape[1] != 3 or len(points) == 0:
        raise D3LError(f'{name}: points must be a non-empty (N, 3) array, got {points.shape}')
    defaults = _shape_dataset_defaults(model.cfg)
    points, _, _ = normalize_shape(points, defaults.get('normalize', 'bbox_sphere'),
                                   defaults.get('scale', 0.8))
    if colors is None and defaults.get('color') is not None:
        colors = np.broadcast_to(np.asarray(defaults['color'], np.float32), points.shape)
    packed = prepare_sample(model, points, colors, normals, name)
    from d3l.datasets.collate import point_collate

    data = model.data_preprocessor(point_collate([packed]), False)
    with torch.no_grad():
        result = model.predict(data['inputs'], data['data_samples'])[0]
    scores = result['scores'].float().cpu().numpy()
    out = {'label': int(result['pred_label']), 'scores': scores}
    classes = (getattr(model, 'dataset_meta', None) or {}).get('classes')
    if classes and out['label'] < len(classes):
        out['class_name'] = classes[out['label']]
    return out


__all__ = ['CheckpointMismatchError', 'init_model', 'load_weights', 'inference_transforms',
           'prepare_sample', 'segment_packed', 'inference_segmentor', 'inference_classifier']
