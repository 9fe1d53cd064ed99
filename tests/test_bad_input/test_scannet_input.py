"""Bad input to ScanNetDataset and tools/data_converters/scannet.py:
non-finite vertices / normals / colours, invalid labels, meshes without
faces and truncated leftovers of an earlier conversion."""
import os
import os.path as osp
import sys

import numpy as np
import pytest
from disk_state import snapshot
from downstream_data import make_scannet_root

from d3l.datasets import ScanNetDataset
from d3l.datasets.scannet import ScanNetDataError
from d3l.utils.errors import D3LError

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                            'tools'))
SCENE = 'scene0001_00'


@pytest.fixture
def root(tmp_path):
    return make_scannet_root(str(tmp_path / 'scannet'), {'train': ['scene0000_00', SCENE]},
                             num_points=60)


def _corrupt(root, name, edit):
    path = osp.join(root, 'train', SCENE, f'{name}.npy')
    array = np.load(path)
    np.save(path, edit(array))


def _set(rows, value, dtype=None):
    def edit(array):
        array = array.astype(dtype or array.dtype)
        array[rows] = value
        return array
    return edit


@pytest.mark.parametrize('name,edit,message', [
    ('coord', _set([3], np.nan), r'coord.npy has 3 NaN / infinite values \(1 of 60 points\)'),
    ('coord', _set(([3, 4], [0, 2]), np.inf),
     r'coord.npy has 2 NaN / infinite values \(2 of 60 points\)'),
    ('normal', _set([7], np.nan), r'normal.npy has 3 NaN / infinite values \(1 of 60 points\)'),
    ('color', _set([2], np.nan, np.float32), r'color.npy has 3 NaN / infinite values'),
    ('segment20', _set([5, 9], -7),
     r'segment20.npy: 2 labels are outside \[0, 20\) and not an ignore label \(-1 / 255\), '
     r'e.g. -7'),
    ('segment20', _set([5], np.nan, np.float32),
     r'segment20.npy: 1 labels are not whole numbers \(e.g. nan\)'),
    ('segment20', _set([5], 2.7, np.float32),
     r'segment20.npy: 1 labels are not whole numbers \(e.g. 2\.7'),
    ('segment20', _set([0], 20), r'segment20.npy: 1 labels are outside \[0, 20\)'),
])
def test_bad_scene_arrays_are_refused_naming_scene_and_count(root, name, edit, message):
    _corrupt(root, name, edit)
    before = snapshot(root)
    dataset = ScanNetDataset(root)
    assert dataset[0]['points'].shape == (60, 3)  # the good scene still loads
    with pytest.raises(ScanNetDataError, match=rf'scene {SCENE}: .*{SCENE}/{message}'):
        dataset[1]
    assert snapshot(root) == before


def test_whole_float_labels_and_ignore_labels_are_accepted(root):
    _corrupt(root, 'segment20', _set([0, 1, 2], [2.0, -1.0, 255.0], np.float32))
    labels = ScanNetDataset(root)[1]['labels']
    assert labels[:3].tolist() == [2, 255, 255] and labels.dtype == np.int64


# --------------------------------------------------------------------------- converter
def _write_scene(scans, scene_id, xyz=None, faces=((0, 1, 2), (0, 2, 3))):
    from plyfile import PlyData, PlyElement
    folder = osp.join(scans, scene_id)
    os.makedirs(folder, exist_ok=True)
    xyz = np.array([[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]], np.float32) if xyz is None \
        else np.asarray(xyz, np.float32)
    vertex = np.zeros(len(xyz), [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
                                 ('green', 'u1'), ('blue', 'u1')])
    for i, axis in enumerate('xyz'):
        vertex[axis] = xyz[:, i]
    face = np.empty(len(faces), [('vertex_indices', 'i4', (3,))])
    if len(faces):
        face['vertex_indices'] = faces
    PlyData([PlyElement.describe(vertex, 'vertex'), PlyElement.describe(face, 'face')]).write(
        osp.join(folder, f'{scene_id}_vh_clean_2.ply'))
    labels = np.zeros(len(xyz), [('label', 'u2')])
    labels['label'] = 1
    PlyData([PlyElement.describe(labels, 'vertex')]).write(
        osp.join(folder, f'{scene_id}_vh_clean_2.labels.ply'))


def _meta(tmp_path, scene_ids):
    meta = tmp_path / 'meta'
    meta.mkdir(exist_ok=True)
    (meta / 'scannetv2_train.txt').write_text(''.join(f'{s}\n' for s in scene_ids))
    return str(meta)


@pytest.mark.parametrize('value', [np.nan, np.inf])
def test_converter_refuses_non_finite_vertices(tmp_path, value):
    from data_converters.scannet import SceneError
    from data_converters.scannet import main as convert
    scans = str(tmp_path / 'scans')
    _write_scene(scans, 'scene0009_00', xyz=[[0, 0, 0], [1, 0, value], [1, 1, 0], [0, 1, 0]])
    before = snapshot(scans)
    out = tmp_path / 'out'
    with pytest.raises(SceneError, match=r'scene scene0009_00: .*scene0009_00_vh_clean_2.ply has '
                       r'1 of 4 vertices with NaN / infinite coordinates'):
        convert(['--scans-root', scans, '--meta-dir', _meta(tmp_path, ['scene0009_00']),
                 '--out', str(out)])
    assert isinstance(SceneError('x'), D3LError)
    assert not osp.exists(out / 'train' / 'scene0009_00') and snapshot(scans) == before


def test_converter_refuses_a_mesh_without_faces(tmp_path):
    from data_converters.scannet import SceneError
    from data_converters.scannet import main as convert
    scans = str(tmp_path / 'scans')
    _write_scene(scans, 'scene0008_00', faces=())
    with pytest.raises(SceneError, match=r'scene0008_00_vh_clean_2.ply has 0 faces'):
        convert(['--scans-root', scans, '--meta-dir', _meta(tmp_path, ['scene0008_00']),
                 '--out', str(tmp_path / 'out')])
    assert not osp.exists(tmp_path / 'out' / 'train' / 'scene0008_00')


@pytest.mark.parametrize('leftover', ['no_marker', 'truncated'])
def test_converter_redoes_truncated_leftovers(tmp_path, capsys, leftover):
    from data_converters.scannet import main as convert
    scans = str(tmp_path / 'scans')
    _write_scene(scans, 'scene0007_00')
    meta, out = _meta(tmp_path, ['scene0007_00']), str(tmp_path / 'out')
    args = ['--scans-root', scans, '--meta-dir', meta, '--out', out]
    assert convert(args) == 0
    scene = osp.join(out, 'train', 'scene0007_00')
    good = np.load(osp.join(scene, 'coord.npy'))
    if leftover == 'no_marker':  # an older run killed before its marker: files look complete
        os.remove(osp.join(scene, '.d3l_complete'))
    with open(osp.join(scene, 'coord.npy'), 'r+b') as f:  # a truncated array
        f.truncate(100)
    capsys.readouterr()
    assert convert(args) == 0
    assert '1 to convert, 0 already complete' in capsys.readouterr().out
    np.testing.assert_array_equal(np.load(osp.join(scene, 'coord.npy')), good)
    assert convert(args) == 0 and '0 to convert, 1 already complete' in capsys.readouterr().out
