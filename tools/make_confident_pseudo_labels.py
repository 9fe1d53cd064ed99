"""Confident pseudo-labels for unlabelled scenes (Limited Reconstructions).

    python tools/make_confident_pseudo_labels.py CONFIG CHECKPOINT
        [--out-dir DIR] [--ratio 0.2] [--overwrite] [--cfg-options k=v ...]

Runs the model of CONFIG with the weights of CHECKPOINT (e.g. the supervised
LR fine-tuning run) over ``pseudo_label.dataset`` of the config (the
unlabelled scenes with a test pipeline) and writes, for every scene,
``{out_dir}/{scene_id}/{label_name}``: per predicted class the top ``ratio``
most confident points keep their predicted class, every other point gets
the ignore label (see :mod:`d3l.semi.confident` for the exact rule). The
files use the ground-truth format (int16, -1 = ignore) in a separate folder;
ground-truth files are never written. ``PseudoLabelDataset`` reads them back
for training.

The config holds::

    pseudo_label = dict(
        dataset=dict(type='ScanNetDataset', ..., subset='unlabeled',
                     pipeline=test_pipeline),   # GridSample(return_inverse=True)
        out_dir='work_dirs/pseudo_labels/scannet_lr1',
        ratio=0.2, label_name='segment20.npy')

or, with the paper's combined LR recipe (``configs/_base_/semi/combined.py``),
only ``pseudo_label = dict(ratio=0.2, label_name=...)``: the scenes are then
those of ``train_dataloader.dataset.pseudo_labeled`` (the task's scenes with
``subset='unlabeled'``) with the config's ``test_pipeline``, and ``out_dir``
is its ``label_root``.

Resumable: scenes whose file exists are skipped (and counted) unless
``--overwrite``; every file is written under a temporary name and renamed.
``{out_dir}/meta.json`` summarises the run (kept points per class).
"""
import argparse
import json
import os
import os.path as osp
import time

import numpy as np
import torch

from d3l.engine.cli import (
    CLIError,
    DictAction,
    check_checkpoint,
    check_config_types,
    load_config,
    run_cli,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Write confident pseudo-labels')
    parser.add_argument('config', help='config with a pseudo_label = dict(dataset=..., ...)')
    parser.add_argument('checkpoint', help='weights of the model that predicts')
    parser.add_argument('--out-dir', help='output folder (default: pseudo_label.out_dir)')
    parser.add_argument('--ratio', type=float,
                        help='fraction of each class kept per scene (default: '
                        'pseudo_label.ratio, else 0.2)')
    parser.add_argument('--overwrite', action='store_true',
                        help='recompute scenes whose file already exists')
    parser.add_argument('--device', default=None,
                        help='cuda or cpu (default: cuda when available)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    return parser.parse_args(argv)


def _inside(path: str, root: str) -> bool:
    path, root = osp.realpath(path), osp.realpath(root)
    return path == root or path.startswith(root + os.sep)


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


def pseudo_label_settings(cfg, config: str) -> dict:
    """``cfg.pseudo_label`` with ``dataset`` and ``out_dir`` filled in from a
    ``SemiDataset(pseudo_labeled=...)`` training set where the config leaves
    them out."""
    settings = dict(cfg.get('pseudo_label') or {})
    train_set = cfg.get('train_dataloader', {}).get('dataset', {})
    spec = train_set.get('pseudo_labeled') if train_set.get('type') == 'SemiDataset' else None
    if 'dataset' not in settings and spec:
        from d3l.semi.streams import PSEUDO_KEYS, derive
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


def _settings(args, cfg) -> tuple:
    """(settings, out_dir, ratio, label_name), checked."""
    settings = pseudo_label_settings(cfg, args.config)
    out_dir = args.out_dir or settings.get('out_dir')
    if not out_dir:
        raise CLIError(f'give --out-dir or pseudo_label.out_dir in {args.config}')
    ratio = args.ratio if args.ratio is not None else settings.get('ratio', 0.2)
    if not 0.0 < ratio <= 1.0:
        raise CLIError(f'--ratio must be in (0, 1], got {ratio}')
    data_root = settings['dataset'].get('data_root')
    if data_root and _inside(out_dir, data_root):
        raise CLIError(f'out_dir {out_dir} is inside the dataset folder {data_root}: '
                       'pseudo-labels go to a separate folder, never beside ground truth')
    return settings, out_dir, ratio, settings.get('label_name', 'segment20.npy')


def _predicting_model(cfg, args):
    """The config's model with the checkpoint's weights, returning per-point
    probabilities; (model, number of classes)."""
    from d3l.registry import MODELS
    model = MODELS.build(cfg.model)
    _load_weights(model, args.checkpoint, args.config)
    device = torch.device(args.device or ('cuda' if torch.cuda.is_available() else 'cpu'))
    model.to(device).eval()
    predictor = getattr(model, 'predictor', model)
    if not hasattr(predictor, 'return_probs'):
        raise CLIError(f'{type(predictor).__name__} cannot return per-point probabilities; '
                       'confident pseudo-labels need a Segmentor')
    predictor.return_probs = True
    return model, int(predictor.num_classes)


def _label_scene(model, item, key: str, loaded: dict, ratio: float, num_classes: int):
    from d3l.datasets import point_collate
    from d3l.semi import select_confident
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

    from d3l.datasets.semi import configure_views, listed_key
    from d3l.semi import pseudo_label_path, sample_key, save_pseudo_labels
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


def _write_meta(args, out_dir, dataset, keys, counts, ratio, label_name, num_classes):
    from d3l.semi import IGNORE_INDEX, load_pseudo_labels, pseudo_label_path
    kept = np.zeros(num_classes, np.int64)
    total = 0
    for key in keys:
        labels = load_pseudo_labels(pseudo_label_path(out_dir, key, label_name))
        total += labels.size
        labels = labels[labels != IGNORE_INDEX]
        kept += np.bincount(labels, minlength=num_classes)[:num_classes]
    classes = (getattr(dataset, 'metainfo', None) or {}).get('classes') or range(num_classes)
    written, skipped = counts
    meta = dict(config=osp.abspath(args.config), checkpoint=osp.abspath(args.checkpoint),
                ratio=ratio, label_name=label_name, scenes=len(dataset), written=written,
                skipped=skipped, points=int(total), kept_points=int(kept.sum()),
                kept_per_class={str(c): int(n) for c, n in zip(classes, kept)},
                rule='per scene and predicted class: top max(1, floor(ratio * n)) by confidence',
                time=time.strftime('%Y-%m-%d %H:%M:%S'))
    tmp = osp.join(out_dir, f'meta.json.tmp.{os.getpid()}')
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(meta, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'meta.json'))
    print(f'\n{written} scenes labelled, {skipped} skipped (already done) -> {out_dir}; '
          f'kept {int(kept.sum())} of {total} points')
    return meta


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    check_config_types(cfg, args.config)
    check_checkpoint(args.checkpoint)
    settings, out_dir, ratio, label_name = _settings(args, cfg)

    from mmengine.registry import init_default_scope

    from d3l.registry import DATASETS
    init_default_scope(cfg.get('default_scope', 'd3l'))
    model, num_classes = _predicting_model(cfg, args)
    dataset = DATASETS.build(settings['dataset'])
    keys, written, skipped = _label_all(model, dataset, out_dir, label_name, ratio,
                                        num_classes, args.overwrite)
    return _write_meta(args, out_dir, dataset, keys, (written, skipped), ratio, label_name,
                       num_classes)


if __name__ == '__main__':
    run_cli(main)
