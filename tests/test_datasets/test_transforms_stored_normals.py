"""StoredNormals (normals stored at labelling time) against DepthNormals
(estimated per sample), on the real samples of ../shared/realdata: SUN RGB-D
(its on-disk layout, Rtilt), PrimeSense (a folder), the HoHoNet panorama as
Matterport3D and Structured3D. Each store is made by
tools/generate_pseudo_labels.py with the config's ``pseudo_label_cfg.normals``;
each sample runs the config's ``train_pipeline`` twice from the same seeds,
with StoredNormals and with DepthNormals in its place.

Stated tolerance: the normals within ``MAX_ERROR_DEG`` (0.005 degree) by
angle, after the same rotations; points, colours, pixels and soft labels
identical."""
import importlib.util
import json
import os
import os.path as osp
import random
import shutil

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, angles_deg, realdata_path
from mmengine.config import Config
from PIL import Image

from d3l.benchmark.jobs import tool
from d3l.registry import DATASETS
from d3l.soft_labels.normals import MAX_ERROR_DEG, normals_settings


def _load(name, path):
    spec = importlib.util.spec_from_file_location(name, osp.join(REPO_ROOT, path))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _config(name):
    return Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'datasets', name))


def _write_primesense(root, labels):
    scene = osp.join(root, 'primesense')
    for sub in ('rgb', 'depth'):
        os.makedirs(osp.join(scene, sub), exist_ok=True)
    shutil.copy(realdata_path('open3d_rgbd', 'color', '00000.jpg'), osp.join(scene, 'rgb'))
    shutil.copy(realdata_path('open3d_rgbd', 'depth', '00000.png'), osp.join(scene, 'depth'))
    with open(osp.join(scene, 'camera.json'), 'w') as f:
        json.dump(dict(fx=525.0, fy=525.0, cx=319.5, cy=239.5), f)
    rows, cols = np.mgrid[0:480, 0:640]
    os.makedirs(osp.join(labels, 'primesense'), exist_ok=True)
    Image.fromarray(((rows // 32 * 7 + cols // 32) % 150).astype(np.uint8)).save(
        osp.join(labels, 'primesense', '00000.png'))


def _source(kind, tmp):
    """(source config, config file) of one real-sample dataset written under ``tmp``."""
    bench = _load('data_path_samples', 'benchmarks/data_path_samples.py')
    labels = osp.join(tmp, 'label_maps')
    if kind == 'sunrgbd':
        realdata_path('sunrgbd_rgbd', 'image')
        bench.write_sunrgbd(osp.join(tmp, 'SUNRGBD'), labels)
        return (dict(type='SUNRGBDDataset', data_root=osp.join(tmp, 'SUNRGBD')),
                'pretrain_sunrgbd.py')
    if kind == 'primesense':
        _write_primesense(osp.join(tmp, 'ps'), labels)
        return (dict(type='RGBDFolderDataset', data_root=osp.join(tmp, 'ps')),
                'pretrain_sunrgbd.py')
    realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')
    if kind == 'matterport3d':
        bench.write_matterport(osp.join(tmp, 'mp3d'), labels, copies=2)
        return (dict(type='Matterport3DPanoDataset', data_root=osp.join(tmp, 'mp3d'),
                     split='train'), 'pretrain_matterport_pano.py')
    bench.write_structured3d(osp.join(tmp, 's3d'), labels, copies=2)
    return (dict(type='Structured3DPanoDataset', data_root=osp.join(tmp, 's3d'),
                 split='train'), 'pretrain_matterport_pano.py')


def _generate(tmp, source, config_name):
    """A store with normals, made by the tool with the config's settings."""
    normals = dict(_config(config_name).pseudo_label_cfg.normals)
    config = osp.join(tmp, 'gen.py')
    with open(config, 'w') as f:
        f.write("default_scope = 'd3l'\n"
                f"teacher = dict(type='PrecomputedTeacher', num_classes=150, source='files', "
                f"root={osp.join(tmp, 'label_maps')!r}, label_smoothing=0.1)\n"
                f"pseudo_label_cfg = dict(source={dict(source, pipeline=[dict(type='LoadRGBD')])!r}"
                f", codec=dict(topk=3), stride=2, shard_size=64, normals={normals!r})\n")
    out = osp.join(tmp, 'labels')
    tool('generate_pseudo_labels').main(
        [config, '--out', out, '--device', 'cpu'])
    return out


def _seeded(dataset, idx, seed):
    np.random.seed(seed)
    random.seed(seed)
    torch.manual_seed(seed)
    return dataset[idx]


@pytest.mark.parametrize('kind', ['sunrgbd', 'primesense', 'matterport3d', 'structured3d'])
def test_stored_normals_give_the_sample_of_depth_normals(kind, tmp_path):
    tmp = str(tmp_path)
    source, config_name = _source(kind, tmp)
    labels = _generate(tmp, source, config_name)
    # decoded labels, and the sample's arrays before packing, to compare them all
    pipeline = [dict(t, decode=True) if t['type'] == 'LoadSoftLabels' else dict(t)
                for t in _config(config_name).train_pipeline if t['type'] != 'PackPointInputs']
    if kind == 'primesense':  # a folder frame has no upright pose: no cube
        pipeline = [t for t in pipeline if t['type'] != 'FitToCube']
    spot = [t['type'] for t in pipeline].index('StoredNormals')
    assert pipeline[spot]['missing'] == 'compute'
    strict = pipeline[:spot] + [dict(pipeline[spot], missing='error')] + pipeline[spot + 1:]
    reference = pipeline[:spot] + [dict(type='DepthNormals')] + pipeline[spot + 1:]
    build = [DATASETS.build(dict(type='PretrainRGBDDataset', source=source, label_dir=labels,
                                 pipeline=p)) for p in (strict, reference)]
    worst = 0.0
    for idx in range(len(build[0])):
        stored, estimated = (_seeded(d, idx, 100 + idx) for d in build)
        assert len(stored['points']) > 10_000
        for key in ('points', 'colors', 'pixel_index', 'soft_labels'):
            np.testing.assert_array_equal(stored[key], estimated[key], err_msg=key)
        assert stored['normals'].dtype == np.float32
        worst = max(worst, float(angles_deg(stored['normals'], estimated['normals']).max()))
    assert build[0].store.has_normals
    print(f'{kind}: {len(build[0])} frames, normals within {worst:.5f} deg of DepthNormals')
    assert worst <= MAX_ERROR_DEG, f'{kind}: {worst} deg'


def test_configs_store_the_normals_their_pipelines_read():
    """Each pre-training config's pseudo_label_cfg.normals are the settings
    its StoredNormals asks for, and depth_edges matches its FilterDepthEdges."""
    from d3l.datasets.transforms import StoredNormals
    for name in ('pretrain_sunrgbd.py', 'pretrain_matterport_pano.py'):
        cfg = _config(name)
        stored = normals_settings(**dict(cfg.pseudo_label_cfg.normals))
        for pipeline in (cfg.train_pipeline, cfg.val_pipeline):
            types = [t['type'] for t in pipeline]
            assert 'DepthNormals' not in types
            args = dict(next(t for t in pipeline if t['type'] == 'StoredNormals'))
            args.pop('type')
            assert StoredNormals(**args).settings == stored, name
            edges = [dict(t) for t in pipeline if t['type'] == 'FilterDepthEdges']
            assert (stored['depth_edges'] is None) == (not edges), name
            if edges:
                edges[0].pop('type')
                assert normals_settings(depth_edges=edges[0]) == dict(stored, method='pca',
                                                                      window=5), name
