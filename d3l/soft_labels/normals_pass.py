"""The labelling-time normals pass: per labelled frame of a store, the
camera-frame normals of every pixel, written beside its label shard (see
:mod:`d3l.soft_labels.normals`).

Opt-in through ``pseudo_label_cfg.normals`` (``tools/generate_pseudo_labels.py``
runs it after the labels; ``--normals-only`` adds normals to an existing
store)::

    pseudo_label_cfg = dict(..., normals=dict(method='pca', window=5,
                                              depth_edges=dict()))  # FilterDepthEdges()

The normals are those the training pipeline's ``DepthNormals`` gives: the
same :func:`d3l.geometry.depth_normals` call on the depth after the same
``FilterDepthEdges`` (``depth_edges=None`` when the pipeline has none, as
the panorama configs). Every shard is recomputed on each run (the pass
costs one read of each frame plus a whole-image plane fit, a fraction of the
teacher's time).
"""
from __future__ import annotations

import os.path as osp
import time
from typing import Optional

import numpy as np

from .manifest import LabelStoreError, read_manifest, write_manifest
from .normals import ENCODING, encode_normals, normals_settings, write_shard_normals

TAG = '[generate_pseudo_labels]'


def frame_normals(sample: dict, settings: dict) -> np.ndarray:
    """(H * W, 2) int16 codes of a loaded frame's per-pixel normals."""
    from d3l.datasets.transforms.rgbd_lifting import FilterDepthEdges
    from d3l.geometry import depth_normals

    if settings['depth_edges'] is not None:
        sample = FilterDepthEdges(**settings['depth_edges'])(dict(sample))
    projection = sample.get('projection', 'perspective')
    depth = np.asarray(sample['depth'], np.float32)
    K = sample.get('intrinsics') if projection == 'perspective' else None
    normals = depth_normals(depth, K, projection, window=settings['window'],
                            method=settings['method'])
    return encode_normals(normals.reshape(-1, 3))


def store_normals(cfg, out_dir: str, normals_cfg: Optional[dict] = None) -> dict:
    """Compute and store the normals of every labelled frame of ``out_dir``
    (the labels of ``cfg.pseudo_label_cfg.source``); returns the manifest's
    ``normals`` entry (with ``seconds`` and ``frames``)."""
    from mmengine.registry import init_default_scope

    from d3l.apis.soft_labels import build_source
    from d3l.engine.stage_utils import plain

    from .lock import StoreLock
    from .store import SoftLabelStore

    init_default_scope(cfg.get('default_scope', 'd3l'))
    label_cfg = cfg.pseudo_label_cfg
    settings = normals_settings(**dict(normals_cfg or label_cfg.get('normals') or {}))
    dataset, frame_ids = build_source(plain(label_cfg['source']))
    where = {f: i for i, f in enumerate(frame_ids)}
    with StoreLock(out_dir):
        manifest = read_manifest(out_dir)
        if list(manifest['frame_ids']) != frame_ids:
            raise LabelStoreError(f'{out_dir}: its manifest lists other frames than the '
                                  'config\'s source; normals must come from the labelled frames')
        manifest.pop('normals', None)  # no entry while the files are rewritten
        write_manifest(out_dir, manifest)
        store = SoftLabelStore(out_dir, allow_incomplete=True)
        started, cpu, entries, count = time.time(), time.process_time(), {}, 0
        for shard in store.shards:
            codes, shapes = [], []
            for frame_id, shape in zip(shard.frame_ids, shard.image_shapes):
                sample = dataset.prepare_data(where[frame_id])
                if sample is None or tuple(np.shape(sample['depth'])) != tuple(shape):
                    raise LabelStoreError(f'{out_dir}: frame {frame_id!r} of '
                                          f'{shard.path} no longer loads as the labelled '
                                          f'{tuple(shape)} image')
                codes.append(frame_normals(sample, settings))
                shapes.append(tuple(shape))
            entries[osp.basename(shard.path)] = write_shard_normals(
                shard.path, shard.frame_ids, codes, shapes)
            count += len(codes)
        seconds, cpu = time.time() - started, time.process_time() - cpu
        manifest['normals'] = dict(settings=settings, encoding=ENCODING, shards=entries,
                                   frames=count, seconds=round(seconds, 3),
                                   cpu_seconds=round(cpu, 3))
        write_manifest(out_dir, manifest)
    print(f'{TAG} normals of {count} frames stored beside the labels in {out_dir} '
          f'({settings}; {1e3 * cpu / max(count, 1):.0f} ms CPU per frame)', flush=True)
    return manifest['normals']
