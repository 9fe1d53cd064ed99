"""Bad input to RGBDFolderDataset / LoadRGBD: depth units, camera files and
pose files. Each case asserts the error class, that the message names the
file, and that nothing on disk changed."""
import json
import os.path as osp

import numpy as np
import pytest
from conftest import realdata_path
from disk_state import snapshot
from PIL import Image
from rgbd_data import make_folder_scene

from d3l.datasets import RGBDFolderDataset
from d3l.datasets.rgbd import BadFrameError

LIFT = [dict(type='LoadRGBD'), dict(type='LiftRGBD')]
PRIMESENSE = dict(fx=525.0, fy=525.0, cx=319.5, cy=239.5)


def _primesense_scene(tmp_path, writer):
    """The real PrimeSense frame 00000 with its depth saved by ``writer``
    (float metres); returns (scene dir, depth in metres from the uint16 mm PNG)."""
    root = realdata_path('open3d_rgbd')
    depth_mm = np.asarray(Image.open(osp.join(root, 'depth', '00000.png')))
    metres = depth_mm.astype(np.float32) / 1000.0
    scene = tmp_path / 'primesense'
    (scene / 'rgb').mkdir(parents=True)
    (scene / 'depth').mkdir()
    Image.open(osp.join(root, 'color', '00000.jpg')).save(scene / 'rgb' / '00000.png')
    writer(scene / 'depth', metres)
    (scene / 'camera.json').write_text(json.dumps(PRIMESENSE))
    return scene, metres


def _save_npy(folder, metres):
    np.save(folder / '00000.npy', metres)


def _save_float_tif(folder, metres):
    Image.fromarray(metres, mode='F').save(folder / '00000.tif')


@pytest.mark.parametrize('writer', [_save_npy, _save_float_tif], ids=['npy', 'float_tif'])
def test_real_frame_as_float_metres_keeps_its_depth(tmp_path, writer):
    scene, metres = _primesense_scene(tmp_path, writer)
    ds = RGBDFolderDataset(str(scene), pipeline=[dict(type='LoadRGBD')])
    depth = ds[0]['depth']
    np.testing.assert_allclose(depth, metres, rtol=1e-6)  # the PNG / 1000 reference
    assert 2.5 < depth.max() < 3.0  # ~2.7 m, not 2.7 mm
    lifted = RGBDFolderDataset(str(scene), pipeline=LIFT)[0]
    assert len(lifted['points']) > 0.5 * np.count_nonzero(metres)


@pytest.mark.parametrize('writer', [_save_npy, _save_float_tif], ids=['npy', 'float_tif'])
def test_stated_depth_scale_contradicting_float_depth_is_an_error(tmp_path, writer):
    scene, _ = _primesense_scene(tmp_path, writer)
    (scene / 'camera.json').write_text(json.dumps(dict(PRIMESENSE, depth_scale=1000)))
    before = snapshot(scene)
    ds = RGBDFolderDataset(str(scene), pipeline=[dict(type='LoadRGBD')])
    with pytest.raises(BadFrameError, match=r'camera.json: depth_scale=1000 .*contradicts .*'
                       r'00000\.(npy|tif), which holds float depth in metres'):
        ds[0]
    (scene / 'camera.json').write_text(json.dumps(PRIMESENSE))
    before = snapshot(scene)
    ds = RGBDFolderDataset(str(scene), depth_scale=1000, pipeline=[dict(type='LoadRGBD')])
    with pytest.raises(BadFrameError, match='contradicts'):
        ds[0]
    assert snapshot(scene) == before


def test_integer_depth_keeps_its_scale(tmp_path):
    make_folder_scene(str(tmp_path / 's'), num_frames=1)
    info = RGBDFolderDataset(str(tmp_path / 's')).get_data_info(0)
    assert info['depth_scale'] == 1000.0
    info = RGBDFolderDataset(str(tmp_path / 's'), depth_scale=5000).get_data_info(0)
    assert info['depth_scale'] == 5000.0


@pytest.mark.parametrize('key,value,message', [
    ('fx', 'abc', '"fx" must be a number'),
    ('fx', [1, 2], '"fx" must be one number'),
    ('cy', None, '"cy" must be a number'),
    ('depth_scale', 'mm', 'depth_scale must be a number'),
    ('depth_scale', -2, 'depth_scale must be a finite number > 0'),
    ('depth_encoding', 'bogus', "unknown depth_encoding 'bogus'"),
    ('depth_kind', 'radial', 'depth_kind must be "z" or "ray"'),
    ('width', 'wide', '"width" must be a number'),
    ('K', [[1, 0, 'x'], [0, 1, 0], [0, 0, 1]], '"K" must be a number'),
])
def test_bad_camera_json_values_are_bad_frames_naming_the_file(tmp_path, key, value, message):
    make_folder_scene(str(tmp_path / 's'), num_frames=2)
    camera = tmp_path / 's' / 'camera.json'
    spec = json.loads(camera.read_text())
    spec[key] = value
    if key == 'K':
        for k in ('fx', 'fy', 'cx', 'cy'):
            spec.pop(k, None)
    camera.write_text(json.dumps(spec))
    before = snapshot(tmp_path)
    ds = RGBDFolderDataset(str(tmp_path / 's'), pipeline=LIFT)
    with pytest.raises(BadFrameError, match=f'camera.json: .*{message}'):
        ds[0]
    # a BadFrameError, so skip_bad_frames catches it (every frame shares the file)
    skipping = RGBDFolderDataset(str(tmp_path / 's'), pipeline=LIFT, skip_bad_frames=True,
                                 max_skip_tries=2)
    assert skipping.try_prepare(0) is None and skipping.num_skipped == 1
    assert snapshot(tmp_path) == before


def test_pose_file_with_20_numbers_is_an_error(tmp_path):
    make_folder_scene(str(tmp_path / 's'), num_frames=1)
    pose = tmp_path / 's' / 'pose' / '0000.txt'
    pose.parent.mkdir(exist_ok=True)
    pose.write_text(' '.join(['1'] * 20))
    before = snapshot(tmp_path)
    with pytest.raises(BadFrameError, match=r'pose/0000.txt: pose needs exactly 16 numbers '
                       r'\(4x4\), found 20'):
        RGBDFolderDataset(str(tmp_path / 's')).get_data_info(0)
    assert snapshot(tmp_path) == before


def test_bad_dataset_arguments_fail_at_construction(tmp_path):
    make_folder_scene(str(tmp_path / 's'), num_frames=1)
    with pytest.raises(BadFrameError, match=r'depth_encoding=.*bogus'):
        RGBDFolderDataset(str(tmp_path / 's'), depth_encoding='bogus')
    with pytest.raises(BadFrameError, match='depth_scale must be a number'):
        RGBDFolderDataset(str(tmp_path / 's'), depth_scale='mm')
