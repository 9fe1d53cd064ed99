"""ScanNet: NYU40 -> 20-class map, Pointcept-format reader, LA / LR splits,
converter from the official release, bad input."""
import csv
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from downstream_data import make_scannet_root

from d3l.datasets import ScanNetDataset
from d3l.datasets.scannet import (
    SCANNET20_CLASSES,
    SCANNET20_NYU40_IDS,
    nyu40_to_scannet20,
    scannet20_to_nyu40,
)
from d3l.evaluation import SegMetric, confusion_matrix

# the tools are scripts, not a package: import their functions from tools/
sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                            'tools'))
TRAIN = ['scene0000_00', 'scene0001_00', 'scene0002_00', 'scene0003_00']


@pytest.fixture
def scannet_root(tmp_path):
    return make_scannet_root(str(tmp_path / 'scannet'),
                             {'train': TRAIN, 'val': ['scene0011_00'], 'test': ['scene0707_00']},
                             num_points=300)


def _real_scene(realdata):
    folder = realdata('scannet_scene0000', 'scannet_train_instance_data')
    vert = np.load(osp.join(folder, 'scene0000_00_vert_all.npy'))
    nyu40 = np.load(osp.join(folder, 'scene0000_00_sem_label_all.npy'))
    return vert, nyu40


# --------------------------------------------------------------------------- real sample
def test_class_table_matches_official_benchmark_file(realdata):
    path = realdata('scannet_meta', 'classes_SemVoxLabel-nyu40id.txt')
    with open(path) as f:
        rows = [line.split(None, 1) for line in f if line.strip()]
    assert tuple(int(r[0]) for r in rows) == SCANNET20_NYU40_IDS
    official = [r[1].strip() for r in rows]
    # the official file spells 'refridgerator'; d3l uses the corrected name
    assert [n.replace('refridgerator', 'refrigerator') for n in official] == \
        list(SCANNET20_CLASSES)


def test_nyu40_mapping_on_real_scene(realdata):
    vert, nyu40 = _real_scene(realdata)
    labels = nyu40_to_scannet20(nyu40, 'scene0000_00')
    assert labels.shape == (len(vert),)
    # independent count: every vertex of benchmark NYU40 id k lands in class index(k)
    for class_index, nyu_id in enumerate(SCANNET20_NYU40_IDS):
        assert np.sum(labels == class_index) == np.sum(nyu40 == nyu_id)
    others = ~np.isin(nyu40, SCANNET20_NYU40_IDS)
    assert others.sum() > 0  # unannotated (0) and non-benchmark ids exist in this scene
    assert np.all(labels[others] == 255)
    # every NYU40 id of the scene is a nyu40id of the official label map
    tsv = realdata('scannet_meta', 'scannetv2-labels.combined.tsv')
    with open(tsv, newline='') as f:
        known = {int(row['nyu40id']) for row in csv.DictReader(f, delimiter='\t')}
    assert set(np.unique(nyu40).tolist()) - {0} <= known
    # and back to NYU40 for benchmark submissions
    back = scannet20_to_nyu40(labels)
    assert np.array_equal(back[~others], nyu40[~others])
    assert np.all(back[others] == 0)


def _write_pointcept_scene(root, split, scene_id, coord, color, labels20):
    folder = osp.join(root, split, scene_id)
    os.makedirs(folder)
    np.save(osp.join(folder, 'coord.npy'), coord.astype(np.float32))
    np.save(osp.join(folder, 'color.npy'), color.astype(np.uint8))
    np.save(osp.join(folder, 'normal.npy'), np.tile([0, 0, 1], (len(coord), 1)).astype(np.float32))
    np.save(osp.join(folder, 'segment20.npy'), np.where(labels20 == 255, -1, labels20))


def test_la_split_applied_to_real_scene(realdata, tmp_path):
    vert, nyu40 = _real_scene(realdata)
    labels = nyu40_to_scannet20(nyu40, 'scene0000_00')
    root = str(tmp_path / 'scannet')
    _write_pointcept_scene(root, 'train', 'scene0000_00', vert[:, :3], vert[:, 3:], labels)
    from make_data_efficient_splits import main as make_splits
    out = str(tmp_path / 'points')
    make_splits(['scannet-la', '--data-root', root, '--points', '20', '200', '--seed', '3',
                 '--out', out])
    table = torch.load(osp.join(out, 'points200'), weights_only=True)
    index = table['scene0000_00'].numpy()
    assert len(index) == 200 and len(np.unique(index)) == 200
    assert set(torch.load(osp.join(out, 'points20'), weights_only=True)['scene0000_00']
               .tolist()) <= set(index.tolist())  # nested settings
    assert np.all(labels[index] != 255)  # drawn among annotated vertices

    dataset = ScanNetDataset(root, split='train', la_file=osp.join(out, 'points200'))
    sample = dataset[0]
    assert sample['points'].shape == (len(vert), 3)  # every vertex stays, only labels hidden
    assert np.allclose(sample['colors'], vert[:, 3:] / 255.0, atol=1e-6)
    kept = np.flatnonzero(sample['labels'] != 255)
    assert np.array_equal(kept, np.sort(index))
    assert np.array_equal(sample['labels'][kept], labels[kept])
    # the unlabeled stream of LA: the same scene, every label hidden
    hidden = ScanNetDataset(root, split='train', la_file=osp.join(out, 'points200'),
                            subset='unlabeled')[0]['labels']
    assert np.all(hidden == 255)


def test_miou_of_known_prediction_on_real_scene(realdata):
    vert, nyu40 = _real_scene(realdata)
    gt = nyu40_to_scannet20(nyu40, 'scene0000_00')
    shifted = np.arange(len(gt)) % 3 == 0
    pred = np.where(shifted, (gt + 1) % 20, gt)
    pred[gt == 255] = 0
    # hand-computed per-class counts: every third vertex of class k is called k+1
    ious = []
    for k in range(20):
        tp = np.sum((gt == k) & ~shifted)
        fn = np.sum((gt == k) & shifted)
        fp = np.sum((gt == (k - 1) % 20) & shifted)
        if tp + fn + fp:
            ious.append(tp / (tp + fn + fp))
    expected = 100 * np.mean(ious)
    present = {k for k in range(20) if np.any(gt == k) or np.any(gt == (k - 1) % 20)}
    assert len(ious) == len(present) < 20  # some classes are absent and left out

    metric = SegMetric(num_classes=20)
    metric.dataset_meta = dict(classes=SCANNET20_CLASSES)
    metric.process(None, [dict(pred=torch.from_numpy(pred), gt=torch.from_numpy(gt))])
    scores = metric.compute_metrics(metric.results)
    assert scores['mIoU'] == pytest.approx(expected, rel=1e-9)
    cm = confusion_matrix(pred, gt, 20)
    assert cm.sum() == np.sum(gt != 255)


# --------------------------------------------------------------------------- reader
def test_reader_pointcept_layout(scannet_root):
    dataset = ScanNetDataset(scannet_root, split='train')
    assert dataset.scene_ids == TRAIN
    sample = dataset[1]
    raw = {k: np.load(osp.join(scannet_root, 'train', TRAIN[1], f'{k}.npy'))
           for k in ('coord', 'color', 'segment20')}
    assert sample['colors'].dtype == np.float32 and sample['colors'].max() <= 1.0
    assert np.allclose(sample['colors'] * 255, raw['color'], atol=1e-4)
    assert np.array_equal(sample['labels'], np.where(raw['segment20'] < 0, 255,
                                                     raw['segment20']))
    assert (sample['labels'] == 255).any()
    assert sample['scene_id'] == TRAIN[1] and sample['split'] == 'train'
    assert dataset.metainfo['classes'] == SCANNET20_CLASSES
    assert len(dataset.metainfo['palette']) == 20
    test_sample = ScanNetDataset(scannet_root, split='test')[0]
    assert 'labels' not in test_sample  # no ground truth for the hidden test set
    both = ScanNetDataset(scannet_root, split=['train', 'val'])
    assert len(both) == len(TRAIN) + 1


def test_lr_subsets(scannet_root, tmp_path):
    lr_file = tmp_path / '1.txt'
    lr_file.write_text('scene0002_00\nscene0000_00\n')
    labeled = ScanNetDataset(scannet_root, lr_file=str(lr_file))
    assert labeled.scene_ids == ['scene0000_00', 'scene0002_00']
    assert (labeled[0]['labels'] != 255).any()
    unlabeled = ScanNetDataset(scannet_root, lr_file=str(lr_file), subset='unlabeled')
    assert unlabeled.scene_ids == ['scene0001_00', 'scene0003_00']
    assert all(np.all(unlabeled[i]['labels'] == 255) for i in range(2))
    everything = ScanNetDataset(scannet_root, lr_file=str(lr_file), subset='all')
    flags = [(everything[i]['scene_id'], bool((everything[i]['labels'] != 255).any()))
             for i in range(4)]
    assert flags == [('scene0000_00', True), ('scene0001_00', False),
                     ('scene0002_00', True), ('scene0003_00', False)]


def test_make_lr_splits_nested_and_seeded(scannet_root, tmp_path):
    from make_data_efficient_splits import main as make_splits
    out_a, out_b = str(tmp_path / 'a'), str(tmp_path / 'b')
    for out in (out_a, out_b):
        make_splits(['scannet-lr', '--data-root', scannet_root, '--percent', '25', '50', '100',
                     '--seed', '1', '--out', out])
    read = lambda out, p: open(osp.join(out, f'{p}.txt')).read().split()  # noqa: E731
    assert [len(read(out_a, p)) for p in (25, 50, 100)] == [1, 2, 4]
    assert set(read(out_a, 25)) <= set(read(out_a, 50)) <= set(read(out_a, 100))
    assert read(out_a, 50) == read(out_b, 50)  # same seed, same files
    assert 'NOT the official' in open(osp.join(out_a, 'README.txt')).read()
    dataset = ScanNetDataset(scannet_root, lr_file=osp.join(out_a, '50.txt'))
    assert len(dataset) == 2


# --------------------------------------------------------------------------- bad input
def test_la_file_with_unknown_scene_is_an_error(scannet_root, tmp_path):
    la = str(tmp_path / 'points20')
    torch.save({s: torch.arange(3) for s in TRAIN + ['scene0999_00']}, la)
    with pytest.raises(ValueError, match='scene0999_00'):
        ScanNetDataset(scannet_root, la_file=la)


def test_la_file_missing_a_scene_or_bad_index_is_an_error(scannet_root, tmp_path):
    la = str(tmp_path / 'points20')
    torch.save({s: torch.arange(3) for s in TRAIN[:3]}, la)
    with pytest.raises(ValueError, match='scene0003_00'):
        ScanNetDataset(scannet_root, la_file=la)
    with pytest.raises(FileNotFoundError, match='missing_points20 does not exist'):
        ScanNetDataset(scannet_root, la_file=str(tmp_path / 'missing_points20'))
    torch.save({s: torch.tensor([0, 5000]) for s in TRAIN}, la)
    dataset = ScanNetDataset(scannet_root, la_file=la)
    with pytest.raises(ValueError, match='scene0000_00 lists vertex 5000'):
        dataset[0]


def test_lr_file_with_unknown_scene_is_an_error(scannet_root, tmp_path):
    lr_file = tmp_path / '1.txt'
    lr_file.write_text('scene0000_00\nscene0404_00\n')
    with pytest.raises(ValueError, match=r'1\.txt names 1 scene.*scene0404_00'):
        ScanNetDataset(scannet_root, lr_file=str(lr_file))


def test_scene_with_mismatched_arrays_names_the_scene(scannet_root):
    path = osp.join(scannet_root, 'train', 'scene0002_00', 'segment20.npy')
    np.save(path, np.zeros(12, np.int64))
    dataset = ScanNetDataset(scannet_root)
    with pytest.raises(ValueError, match='scene0002_00: labels has 12 rows'):
        dataset[2]
    np.save(path, np.full(300, 25, np.int64))
    with pytest.raises(ValueError,
                       match=r'scene0002_00: .*segment20.npy: 300 labels are outside \[0, 20\)'):
        dataset[2]


def test_nyu40_id_outside_map_names_the_scene():
    with pytest.raises(ValueError, match='scene0042_00: label id 41'):
        nyu40_to_scannet20(np.array([1, 2, 41]), 'scene0042_00')


# --------------------------------------------------------------------------- converter
def _write_official_scene(scans, scene_id, num_label_vertices=None, label=(1, 5, 39, 0, 23)):
    """A tiny pair of plys with the official property names: a unit square
    in the z = 0 plane (two triangles) and a fifth vertex above it."""
    from plyfile import PlyData, PlyElement
    folder = osp.join(scans, scene_id)
    os.makedirs(folder, exist_ok=True)
    xyz = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0], [0.5, 0, 1]], np.float32)
    rgb = np.array([[255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30], [200, 200, 200]])
    vertex = np.empty(5, [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
                          ('green', 'u1'), ('blue', 'u1'), ('alpha', 'u1')])
    for i, name in enumerate('xyz'):
        vertex[name] = xyz[:, i]
    for i, name in enumerate(('red', 'green', 'blue')):
        vertex[name] = rgb[:, i]
    vertex['alpha'] = 255
    faces = np.empty(3, [('vertex_indices', 'i4', (3,))])
    # counter-clockwise seen from +z: normals (0, 0, 1); vertex 4 on a vertical face
    faces['vertex_indices'] = [[0, 1, 2], [0, 2, 3], [0, 1, 4]]
    PlyData([PlyElement.describe(vertex, 'vertex'), PlyElement.describe(faces, 'face')],
            text=False).write(osp.join(folder, f'{scene_id}_vh_clean_2.ply'))
    n = num_label_vertices or 5
    labels = np.empty(n, [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('label', 'u2')])
    labels['label'] = np.resize(np.asarray(label), n)
    PlyData([PlyElement.describe(labels, 'vertex')]).write(
        osp.join(folder, f'{scene_id}_vh_clean_2.labels.ply'))
    return folder


def _meta_dir(tmp_path, train, val=(), test=()):
    meta = tmp_path / 'meta'
    meta.mkdir(exist_ok=True)
    for split, ids in (('train', train), ('val', val), ('test', test)):
        if ids:
            (meta / f'scannetv2_{split}.txt').write_text(''.join(f'{i}\n' for i in ids))
    return str(meta)


def test_converter_official_plys_to_pointcept_layout(tmp_path, tool, capsys):
    scans = str(tmp_path / 'scans')
    _write_official_scene(scans, 'scene0000_00')
    _write_official_scene(scans, 'scene0001_00', label=(2, 2, 36, 40, 0))
    _write_official_scene(scans, 'scene0500_00')  # in no split list
    meta = _meta_dir(tmp_path, ['scene0000_00'], ['scene0001_00'], ['scene0707_00'])
    out = str(tmp_path / 'out')
    proc = tool('data_converters/scannet.py', '--scans-root', scans, '--meta-dir', meta,
                '--out', out)
    assert 'converted 2' in proc.stdout and '1 unlisted' in proc.stdout
    scene = osp.join(out, 'train', 'scene0000_00')
    coord = np.load(osp.join(scene, 'coord.npy'))
    assert coord.dtype == np.float32 and coord.shape == (5, 3)
    assert np.array_equal(np.load(osp.join(scene, 'color.npy'))[0], [255, 0, 0])
    normal = np.load(osp.join(scene, 'normal.npy'))
    # the square's corners 2, 3 touch only z-up faces; vertex 4 only the face x-z plane
    assert np.allclose(normal[2], [0, 0, 1]) and np.allclose(normal[3], [0, 0, 1])
    assert np.allclose(normal[4], [0, -1, 0])
    assert np.allclose(np.linalg.norm(normal, axis=1), 1)
    # NYU40 1 wall -> 0, 5 chair -> 4, 39 otherfurniture -> 19, 0 and 23 (books) -> ignore
    assert np.load(osp.join(scene, 'segment20.npy')).tolist() == [0, 4, 19, -1, -1]
    assert np.load(osp.join(scene, 'segment_nyu40.npy')).tolist() == [1, 5, 39, 0, 23]
    # the reader takes the converter's output as it takes Pointcept's
    sample = ScanNetDataset(out, split='val')[0]
    assert sample['labels'].tolist() == [1, 1, 18, 255, 255]
    # resumable: complete scenes are skipped and counted (in-process from here on)
    from data_converters.scannet import main as convert
    assert convert(['--scans-root', scans, '--meta-dir', meta, '--out', out]) == 0
    assert '0 to convert, 2 already complete' in capsys.readouterr().out


def test_converter_aggregation_fallback_with_label_map(tmp_path, realdata):
    from data_converters.scannet import convert_scene, read_label_map
    label_map = read_label_map(realdata('scannet_meta', 'scannetv2-labels.combined.tsv'))
    folder = _write_official_scene(str(tmp_path / 'scans'), 'scene0000_00')
    os.remove(osp.join(folder, 'scene0000_00_vh_clean_2.labels.ply'))
    with open(osp.join(folder, 'scene0000_00_vh_clean_2.0.010000.segs.json'), 'w') as f:
        json.dump({'segIndices': [7, 7, 8, 8, 9]}, f)
    with open(osp.join(folder, 'scene0000_00.aggregation.json'), 'w') as f:
        json.dump({'segGroups': [{'id': 0, 'objectId': 0, 'segments': [7], 'label': 'chair'},
                                 {'id': 1, 'objectId': 1, 'segments': [9], 'label': 'books'}]}, f)
    arrays = convert_scene(folder, 'scene0000_00', 'train', label_map)
    assert label_map['chair'] == 5 and label_map['books'] == 23
    assert arrays['segment_nyu40'].tolist() == [5, 5, 0, 0, 23]
    assert arrays['segment20'].tolist() == [4, 4, -1, -1, -1]
    assert arrays['instance'].tolist() == [0, 0, -1, -1, 1]


def test_converter_label_vertex_count_mismatch_names_the_scene(tmp_path):
    from data_converters.scannet import SceneError
    from data_converters.scannet import main as convert
    scans = str(tmp_path / 'scans')
    _write_official_scene(scans, 'scene0003_01', num_label_vertices=4)
    meta = _meta_dir(tmp_path, ['scene0003_01'])
    with pytest.raises(SceneError, match='scene0003_01.*4 vertices but the mesh has 5'):
        convert(['--scans-root', scans, '--meta-dir', meta, '--out', str(tmp_path / 'out')])
    assert not osp.exists(osp.join(tmp_path, 'out', 'train', 'scene0003_01'))


def test_converter_unknown_label_id_names_the_scene(tmp_path, capsys):
    from data_converters.scannet import main as convert
    scans = str(tmp_path / 'scans')
    _write_official_scene(scans, 'scene0004_00', label=(1, 2, 3, 4, 57))
    _write_official_scene(scans, 'scene0005_00')
    meta = _meta_dir(tmp_path, ['scene0004_00', 'scene0005_00'])
    code = convert(['--scans-root', scans, '--meta-dir', meta, '--out', str(tmp_path / 'out'),
                    '--keep-going'])
    captured = capsys.readouterr()
    assert code == 1
    assert 'scene0004_00: label id 57 is not an NYU40 id' in captured.err
    assert 'converted 1' in captured.out  # --keep-going converts the good scene


def test_la_file_written_by_numpy1_loads(tmp_path):
    """Official LA files predate numpy 2: their pickles name numpy.core.*"""
    import zipfile

    from d3l.datasets.data_efficient import load_la_file
    modern = str(tmp_path / 'np2')
    torch.save({'scene0000_00': np.array([4, 2, 9])}, modern)
    legacy = str(tmp_path / 'points20')
    with zipfile.ZipFile(modern) as src, zipfile.ZipFile(legacy, 'w') as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith('data.pkl'):
                assert b'cnumpy._core.multiarray\n' in data
                data = data.replace(b'cnumpy._core.multiarray\n', b'cnumpy.core.multiarray\n')
            dst.writestr(name, data)
    table = load_la_file(legacy)
    assert table['scene0000_00'].tolist() == [4, 2, 9]
    # anything that could run code is refused, naming the file
    torch.save({'scene0000_00': np.array([1])}, modern)
    with zipfile.ZipFile(modern) as src, zipfile.ZipFile(legacy, 'w') as dst:
        for name in src.namelist():
            data = src.read(name)
            if name.endswith('data.pkl'):
                data = data.replace(b'c_codecs\nencode\n', b'cos\nsystem\n')
            dst.writestr(name, data)
    with pytest.raises(Exception, match='points20'):
        load_la_file(legacy)


def test_scene_list_restricts_and_checks(scannet_root, tmp_path):
    listed = tmp_path / 'scannetv2_train.txt'
    listed.write_text('scene0003_00\nscene0001_00\n')
    dataset = ScanNetDataset(scannet_root, scene_list=str(listed))
    assert dataset.scene_ids == ['scene0003_00', 'scene0001_00'] and len(dataset) == 2
    listed.write_text('scene0001_00\nscene0001_00\n')
    with pytest.raises(ValueError, match='listed twice'):
        ScanNetDataset(scannet_root, scene_list=str(listed))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        ScanNetDataset(str(tmp_path / 'nowhere'))
