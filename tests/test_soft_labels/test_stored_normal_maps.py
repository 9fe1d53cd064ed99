"""Normals stored beside the soft labels (issue 16): the octahedral codec's
stated bound, the opt-in pass of tools/generate_pseudo_labels.py (off: the
files of before), the checks that name a missing, mismatched or corrupt
normals file, and StoredNormals against DepthNormals on generated frames
(real frames: tests/test_datasets/test_transforms_stored_normals.py)."""
import glob
import json
import os.path as osp

import numpy as np
import pytest
from conftest import angles_deg
from pseudo_label_data import make_rgbd_folder

from d3l.benchmark.jobs import tool
from d3l.registry import DATASETS
from d3l.soft_labels import LabelStoreError, SoftLabelStore, file_sha256, verify_store
from d3l.soft_labels.normals import MAX_ERROR_DEG, decode_normals, encode_normals, normals_paths

NUM_CLASSES = 5


def test_octahedral_codes_stay_within_the_stated_bound():
    rng = np.random.default_rng(0)
    n = rng.normal(size=(1_000_000, 3))
    edge = [[0, 0.6, -0.8], [0.6, 0, -0.8], [0, -0.6, -0.8], [-0.6, 0, -0.8], [0, 0, -1]]
    n = np.concatenate([n, np.eye(3), -np.eye(3), edge]).astype(np.float32)
    n /= np.linalg.norm(n, axis=1, keepdims=True)
    codes = encode_normals(n)
    assert codes.dtype == np.int16 and codes.shape == (len(n), 2)
    decoded = decode_normals(codes)
    assert decoded.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(decoded, axis=1), 1, atol=1e-6)
    error = angles_deg(decoded, n)
    assert error.max() <= MAX_ERROR_DEG
    assert error[-11:].max() < 1e-4  # axes and the folded octant edges exactly


def _config(root, data, normals=None):
    path = root / f'gen_{"normals" if normals else "plain"}.py'
    path.write_text(
        "default_scope = 'd3l'\n"
        f"teacher = dict(type='PrecomputedTeacher', num_classes={NUM_CLASSES}, "
        "label_smoothing=0.2)\n"
        f"pseudo_label_cfg = dict(source=dict(type='RGBDFolderDataset', data_root={data!r}, "
        "pipeline=[dict(type='LoadRGBD')]), codec=dict(topk=2, prob_dtype='uint8'), stride=2, "
        f"shard_size=4{'' if normals is None else f', normals={normals!r}'})\n")
    return str(path)


@pytest.fixture(scope='module')
def stores(tmp_path_factory):
    """(data, plain store, store with normals, its config) of 6 generated frames."""
    root = tmp_path_factory.mktemp('normals')
    data = str(root / 'data')
    make_rgbd_folder(data, num_frames=6, with_labels=True, num_label_classes=NUM_CLASSES,
                     height=30, width=40)
    generate = tool('generate_pseudo_labels')
    plain, with_normals = str(root / 'plain'), str(root / 'with_normals')
    generate.main([_config(root, data), '--out', plain])
    config = _config(root, data, dict(method='pca', window=5, depth_edges={}))
    generate.main([config, '--out', with_normals])
    return data, plain, with_normals, config


def test_default_writes_what_it_wrote_before_and_normals_are_extra_files(stores):
    _, plain, with_normals, _ = stores
    files = sorted(osp.basename(p) for p in glob.glob(osp.join(plain, '*')))
    assert not [f for f in files if 'normals' in f]
    for name in files:  # label shards byte-identical with or without normals
        if name.startswith('shard_'):
            assert file_sha256(osp.join(plain, name)) == file_sha256(osp.join(with_normals, name))
    old = json.load(open(osp.join(plain, 'manifest.json')))
    new = json.load(open(osp.join(with_normals, 'manifest.json')))
    assert 'normals' not in old and set(new) - set(old) == {'normals'}
    assert old['shards'] == new['shards']
    assert new['normals']['settings'] == dict(method='pca', window=5, depth_edges=dict(
        rel_threshold=0.05, abs_threshold=0.05, dilate=0))
    extra = sorted({osp.basename(p) for p in glob.glob(osp.join(with_normals, '*'))} -
                   set(files))
    assert extra == ['shard_00000.normals.npy', 'shard_00000.normals.npz',
                     'shard_00001.normals.npy', 'shard_00001.normals.npz']
    assert not SoftLabelStore(plain).has_normals and SoftLabelStore(with_normals).has_normals
    assert verify_store(with_normals)['bad'] == []


def test_stored_normals_are_those_of_the_full_image_estimate(stores):
    from d3l.datasets.transforms import FilterDepthEdges
    from d3l.geometry import depth_normals
    data, _, with_normals, _ = stores
    store = SoftLabelStore(with_normals)
    source = DATASETS.build(dict(type='RGBDFolderDataset', data_root=data,
                                 pipeline=[dict(type='LoadRGBD')]))
    sample = FilterDepthEdges()(source.prepare_data(2))
    record = store.get(sample['frame_id']).normals
    height, width = sample['depth'].shape
    index = np.arange(height * width)
    reference = depth_normals(sample['depth'], sample['intrinsics'], pixel_index=index)
    assert angles_deg(record.lookup(index, (height, width)), reference).max() <= MAX_ERROR_DEG
    with pytest.raises(LabelStoreError, match='normals are for'):
        record.lookup(index[:5], (height + 1, width))


def _pipeline(normals, edges=True):
    return [dict(type='FilterDepthEdges')] * edges + [
            dict(type='LiftPerspective', with_normals=False),
            dict(type='GridSample', grid_size=0.02, mode='train', seed=0), normals,
            dict(type='RandomRotate', seed=1), dict(type='LoadSoftLabels', decode=True)]


def _dataset(data, labels, normals, edges=True):
    source = dict(type='RGBDFolderDataset', data_root=data, pipeline=[dict(type='LoadRGBD')])
    return DATASETS.build(dict(type='PretrainRGBDDataset', source=source, label_dir=labels,
                               pipeline=_pipeline(normals, edges)))


def test_stored_normals_replace_depth_normals(stores):
    data, plain, with_normals, _ = stores
    reference = _dataset(data, with_normals, dict(type='DepthNormals'))
    stored = _dataset(data, with_normals, dict(type='StoredNormals', depth_edges={}))
    computed = _dataset(data, plain, dict(type='StoredNormals', depth_edges={},
                                          missing='compute'))
    for i in range(len(reference)):
        a, b, c = reference[i], stored[i], computed[i]
        for key in ('points', 'colors', 'pixel_index', 'soft_labels'):
            np.testing.assert_array_equal(a[key], b[key])
        assert angles_deg(a['normals'], b['normals']).max() <= MAX_ERROR_DEG
        np.testing.assert_array_equal(a['normals'], c['normals'])  # the fallback: DepthNormals


def test_missing_mismatched_or_corrupt_normals_are_errors_naming_the_file(stores, tmp_path):
    import shutil
    data, plain, with_normals, _ = stores
    with pytest.raises(LabelStoreError, match=f'{plain} stores no normals'):
        _dataset(data, plain, dict(type='StoredNormals', depth_edges={}))[0]
    with pytest.raises(LabelStoreError, match='manifest.json stores normals made with'):
        _dataset(data, with_normals, dict(type='StoredNormals', depth_edges={},
                                          normal_window=7))[0]
    with pytest.raises(ValueError, match='has no FilterDepthEdges'):
        _dataset(data, with_normals, dict(type='StoredNormals', depth_edges={}), edges=False)[0]
    copy = str(tmp_path / 'copy')
    shutil.copytree(with_normals, copy)
    table, codes = normals_paths(osp.join(copy, 'shard_00001.npz'))
    raw = np.load(codes)
    raw[7] = -raw[7]
    np.save(codes, raw)
    report = verify_store(copy)
    assert [name for name, _ in report['bad']] == ['shard_00001.npz']
    assert 'normals' in report['bad'][0][1]
    record = SoftLabelStore(copy).get(SoftLabelStore(copy).shards[1].frame_ids[0]).normals
    with pytest.raises(LabelStoreError, match='fail their checksum'):
        record.lookup(np.arange(3))
    shutil.copy(normals_paths(osp.join(copy, 'shard_00000.npz'))[0], table)  # other shard's
    with pytest.raises(LabelStoreError, match=f'{table} was made for other labels'):
        SoftLabelStore(copy)


def test_normals_only_adds_normals_to_an_existing_store(stores, tmp_path):
    import shutil
    data, plain, with_normals, config = stores
    copy = str(tmp_path / 'later')
    shutil.copytree(plain, copy)
    tool('generate_pseudo_labels').main([config, '--out', copy, '--normals-only'])
    for path in glob.glob(osp.join(with_normals, 'shard_*')):
        assert file_sha256(path) == file_sha256(osp.join(copy, osp.basename(path))), path
