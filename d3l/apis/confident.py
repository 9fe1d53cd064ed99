"""The confident pseudo-label stage of the Limited Reconstructions recipe:
a trained segmentor's most confident predictions on the unlabelled scenes
as 3D hard labels (``tools/make_confident_pseudo_labels.py`` is its CLI;
the selection rule is :func:`d3l.datasets.semi.select_confident`).

The config holds ``pseudo_label = dict(dataset=..., out_dir=..., ratio=0.2,
label_name='segment20.npy')``, or, with the combined LR recipe, only
``pseudo_label = dict(ratio=..., label_name=...)``: the scenes are then
those of ``train_dataloader.dataset.pseudo_labeled`` with the config's
``test_pipeline``, and ``out_dir`` its ``label_root``.
"""
from __future__ import annotations

import os
import os.path as osp
import time
from typing import Optional

import numpy as np
import torch

from d3l.engine.cli import CLIError, check_checkpoint, check_config_types
from d3l.engine.stage_utils import ConfigLike, resolve_config


def make_confident_pseudo_labels(config: ConfigLike, checkpoint: str, *,
                                 out_dir: Optional[str] = None, ratio: Optional[float] = None,
                                 overwrite: bool = False, device: Optional[str] = None,
                                 cfg_options: Optional[dict] = None) -> dict:
    """Write ``{out_dir}/{scene_id}/{label_name}`` for every scene: per
    predicted class the top ``ratio`` most confident points keep their
    class, the others get the ignore label (int16, -1). Scenes whose file
    exists are skipped (and counted) unless ``overwrite``; ground-truth
    folders are never written. Returns ``meta.json``'s content (kept
    points per class, written / skipped scenes)."""
    cfg, label = resolve_config(config, cfg_options)
    check_config_types(cfg, label)
    check_checkpoint(checkpoint)
    settings, out_dir, ratio, label_name = _settings(cfg, label, out_dir, ratio)

    from mmengine.registry import init_default_scope

    from d3l.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'd3l'))
    model, num_classes = _predicting_model(cfg, label, checkpoint, device)
    dataset = DATASETS.build(settings['dataset'])
    keys, written, skipped = _label_all(model, dataset, out_dir, label_name, ratio,
                                        num_classes, overwrite)
    meta = _meta(dataset, keys, out_dir, label_name, num_classes)
    meta = dict(config=osp.abspath(cfg.filename) if cfg.filename else None,
                checkpoint=osp.abspath(checkpoint), ratio=ratio, label_name=label_name,
                scenes=len(dataset), written=written, skipped=skipped, **meta,
                rule='per scene and predicted class: top max(1, floor(ratio * n)) by confidence',
                time=time.strftime('%Y-%m-%d %H:%M:%S'))
    from d3l.utils import fileio
    fileio.write_json(osp.join(out_dir, 'meta.json'), meta, indent=2)
    print(f'\n{written} scenes labelled, {skipped} skipped (already done) -> {out_dir}; '
          f'kept {meta["kept_points"]} of {meta["points"]} points')
    return meta


def pseudo_label_settings(cfg, config: str) -> dict:
    """``cfg.pseudo_label`` with ``dataset`` and ``out_dir`` filled in from a
    ``SemiDataset(pseudo_labeled=...)`` training set where the config leaves
    them out."""
    settings = dict(cfg.get('pseudo_label') or {})
    train_set = cfg.get('train_dataloader', {}).get('dataset', {})
    spec = train_set.get('pseudo_labeled') if train_set.get('type') == 'SemiDataset' else None
    if 'dataset' not in settings and spec:
        from d3l.datasets.semi.streams import PSEUDO_KEYS, derive
        labeled = train_set['labeled']
        labeled = labeled[0] if isinstance(labeled, (list, tuple)) else labeled
        overrides = {k: v for k, v in spec.items() if k not in PSEUDO_KEYS}
        overrides.setdefault('subset', 'unlabeled')
        if 'test_pipeline' not in cfg:
            raise CLIError(f'{config} has no test_pipeline to run on the scenes to label')
        overrides.update(pipeline=cfg.test_pipeline, test_mode=True)
        settings['dataset'] = derive(labeled, overrides)
        settings.setdefault('out_dir', spec.get('label_root'))
        if spec.get('label_name'):
            settings.setdefault('label_name', spec['label_name'])
    if 'dataset' not in settings:
        raise CLIError(f'{config} has no pseudo_label = dict(dataset=..., out_dir=...) '
                       '(the unlabelled scenes to label) nor a training SemiDataset with '
                       'pseudo_labeled=dict(label_root=...)')
    return settings


def _inside(path: str, root: str) -> bool:
    path, root = osp.realpath(path), osp.realpath(root)
    return path == root or path.startswith(root + os.sep)


def _settings(cfg, label: str, out_dir: Optional[str], ratio: Optional[float]) -> tuple:
    """(settings, out_dir, ratio, label_name), checked."""
    settings = pseudo_label_settings(cfg, label)
    out_dir = out_dir or settings.get('out_dir')
    if not out_dir:
        raise CLIError(f'give --out-dir or pseudo_label.out_dir in {label}')
    ratio = ratio if ratio is not None else settings.get('ratio', 0.2)
    if not 0.0 < ratio <= 1.0:
        raise CLIError(f'--ratio must be in (0, 1], got {ratio}')
    data_root = settings['dataset'].get('data_root')
    if data_root and _inside(out_dir, data_root):
        raise CLIError(f'out_dir {out_dir} is inside the dataset folder {data_root}: '
                       'pseudo-labels go to a separate folder, never beside ground truth')
    return settings, out_dir, ratio, settings.get('label_name', 'segment20.npy')


def _load_weights(model, checkpoint: str, config: str) -> None:
    from d3l.utils.compat import safe_torch_load
    state = safe_torch_load(checkpoint, map_location='cpu')
    state = state.get('state_dict', state)
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    missing, _ = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith('num_batches_tracked') and k != 'ema_steps']
    if missing:
        raise CLIError(f'checkpoint {checkpoint} does not fit the model of {config}: '
                       f'{len(missing)} weights are missing (e.g. {", ".join(missing[:3])})')


def _predicting_model(cfg, label: str, checkpoint: str, device: Optional[str]):
    """The config's model with the checkpoint's weights, returning per-point
    probabilities; (model, number of classes)."""
    from d3l.registry import MODELS
    model = MODELS.build(cfg.model)
    _load_weights(model, checkpoint, label)
    device = torch.device(device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model.to(device).eval()
    predictor = getattr(model, 'predictor', model)
    if not hasattr(predictor, 'return_probs'):
        raise CLIError(f'{type(predictor).__name__} cannot return per-point probabilities; '
                       'confident pseudo-labels need a Segmentor')
    predictor.return_probs = True
    return model, int(predictor.num_classes)


def _label_scene(model, item, key: str, loaded: dict, ratio: float, num_classes: int):
    from d3l.datasets import point_collate
    from d3l.datasets.semi import select_confident
    with torch.no_grad():
        result = model.test_step(point_collate([item]))[0]
    probs = result.get('probs')
    if probs is None:
        raise CLIError(f'{type(model).__name__} returned no probabilities for {key}')
    confidence, pred = probs.float().max(1)
    if 'count' in loaded and pred.numel() != loaded['count']:
        raise CLIError(
            f'scene {key}: {pred.numel()} predictions for {loaded["count"]} points; the '
            'pipeline of pseudo_label.dataset subsamples without mapping back (use '
            'GridSample(..., return_inverse=True), and no crop)')
    return select_confident(pred.numpy(), confidence.numpy(), ratio, num_classes)


def _label_all(model, dataset, out_dir, label_name, ratio, num_classes, overwrite):
    """Label every scene not done yet; (keys, written, skipped)."""
    from mmengine.utils import ProgressBar

    from d3l.datasets.semi import (
        configure_views,
        listed_key,
        pseudo_label_path,
        sample_key,
        save_pseudo_labels,
    )
    loaded = {}  # points per scene before the pipeline subsampled them
    configure_views(dataset, on_load=[lambda r: loaded.update(count=len(r['points'])) or r])
    os.makedirs(out_dir, exist_ok=True)
    written = skipped = 0
    keys = []
    progress = ProgressBar(len(dataset))
    for index in range(len(dataset)):
        key = listed_key(dataset, index)  # known without loading the scene: skip cheaply
        if key is None or overwrite or not osp.isfile(
                pseudo_label_path(out_dir, key, label_name)):
            loaded.clear()
            item = dataset[index]
            key = sample_key(item['data_samples'].get('metainfo', {}))
            path = pseudo_label_path(out_dir, key, label_name)
            if overwrite or not osp.isfile(path):
                save_pseudo_labels(path, _label_scene(model, item, key, loaded, ratio,
                                                      num_classes))
                written += 1
                keys.append(key)
                progress.update()
                continue
        keys.append(key)
        skipped += 1
        progress.update()
    return keys, written, skipped


def _meta(dataset, keys, out_dir, label_name, num_classes) -> dict:
    """Points and kept points (per class) over the scenes' label files."""
    from d3l.datasets.semi import IGNORE_INDEX, load_pseudo_labels, pseudo_label_path
    kept = np.zeros(num_classes, np.int64)
    total = 0
    for key in keys:
        labels = load_pseudo_labels(pseudo_label_path(out_dir, key, label_name))
        total += labels.size
        labels = labels[labels != IGNORE_INDEX]
        kept += np.bincount(labels, minlength=num_classes)[:num_classes]
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes') or range(num_classes)
    return dict(points=int(total), kept_points=int(kept.sum()),
                kept_per_class={str(c): int(n) for c, n in zip(classes, kept)})


__all__ = ['make_confident_pseudo_labels', 'pseudo_label_settings']
