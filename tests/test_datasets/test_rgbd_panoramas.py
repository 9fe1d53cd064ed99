"""Panorama datasets: Matterport3D layouts, Structured3D, and a real
equirectangular RGB-D panorama lifted upright."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image
from rgbd_data import equirect_room, gradient_image, write_png16, write_rgb

from d3l.datasets import Matterport3DPanoDataset, Structured3DPanoDataset
from d3l.datasets.rgbd import MP3D_SPLITS
from d3l.datasets.transforms import LiftEquirect, LoadRGBD

PIPELINE = [dict(type='LoadRGBD'), dict(type='LiftEquirect')]


@pytest.fixture
def real_pano(realdata, tmp_path):
    """The real 1024x512 hotel-room panorama in the HoHoNet Matterport layout."""
    root = realdata('pano_hohonet')
    scene = tmp_path / 'mp3d' / '17DRP5sb8fy'
    os.makedirs(scene)
    shutil.copy(osp.join(root, 'pano_asmasuxybohhcj.png'), scene / 'pano1_rgb.png')
    shutil.copy(osp.join(root, 'pano_asmasuxybohhcj.depth.png'), scene / 'pano1_depth.png')
    layout = np.loadtxt(osp.join(root, 'pano_asmasuxybohhcj.layout.txt'))
    return tmp_path / 'mp3d', layout


def test_real_panorama_lifts_upright(real_pano):
    root, layout = real_pano
    ds = Matterport3DPanoDataset(str(root), split='train', depth_scale=1000.0, pipeline=PIPELINE)
    assert ds.frame_ids() == ['17DRP5sb8fy/pano1']
    sample = ds[0]
    points, normals, index = sample['points'], sample['normals'], sample['pixel_index']
    assert sample['img'].shape == (512, 1024, 3) and len(points) == 512 * 1024
    # the floor (upward normals) is below the camera, the ceiling above it
    floor, ceiling = normals[:, 2] > 0.9, normals[:, 2] < -0.9
    assert floor.mean() > 0.05 and ceiling.mean() > 0.05
    assert (points[floor, 2] < 0).mean() > 0.99 and (points[ceiling, 2] > 0).mean() > 0.99
    assert -1.8 < np.median(points[floor, 2]) < -0.8  # a camera at about eye height
    rows = index // 1024
    assert np.median(points[rows > 460, 2]) < -1 and np.median(points[rows < 50, 2]) > 1
    # walls are vertical: along each wall corner of the room layout (a vertical
    # line in the panorama, from its ceiling to its floor corner) the horizontal
    # distance to the camera stays about the same
    straight = 0
    for (col, top), (_, bottom) in zip(layout[0::2], layout[1::2]):
        c = int(round(col))
        pixel_rows = np.arange(int(top) + 15, int(bottom) - 15)
        pts = points[np.searchsorted(index, pixel_rows * 1024 + c)]
        horizontal = np.linalg.norm(pts[:, :2], axis=1)
        p10, p50, p90 = np.percentile(horizontal, [10, 50, 90])
        straight += (p90 - p10) < 0.1 * p50
    assert straight >= 4  # of 6 corners; furniture hides the others


def test_matterport_layouts_and_official_splits(tmp_path):
    distance, hits, _ = equirect_room((32, 64))
    img = gradient_image(32, 64)
    train_scene, val_scene = MP3D_SPLITS['train'][0], MP3D_SPLITS['val'][0]
    assert len(MP3D_SPLITS['train']) == 61 and len(MP3D_SPLITS['val']) == 11
    assert len(MP3D_SPLITS['test']) == 18
    hoho = tmp_path / 'hohonet'
    for scene in (train_scene, val_scene, 'notInSplit0'):
        write_rgb(str(hoho / scene / 'p0_rgb.png'), img)
        np.save(hoho / scene / 'p0_depth.npy', distance)
    write_rgb(str(hoho / train_scene / 'p1_rgb.png'), img)
    write_png16(str(hoho / train_scene / 'p1_depth.png'), distance, scale=4000)
    ds = Matterport3DPanoDataset(str(hoho), split='train', pipeline=PIPELINE)
    assert ds.frame_ids() == [f'{train_scene}/p0', f'{train_scene}/p1']
    for i in range(2):
        sample = ds[i]
        err = np.abs(sample['points'] - hits.reshape(-1, 3)[sample['pixel_index']]).max()
        assert err < 1e-3  # float metres (.npy) and quarter-millimetre PNG
    assert Matterport3DPanoDataset(str(hoho), split='val').frame_ids() == [f'{val_scene}/p0']
    assert len(Matterport3DPanoDataset(str(hoho), split='all')) == 4
    assert Matterport3DPanoDataset(str(hoho), scenes=['notInSplit0']).frame_ids() == [
        'notInSplit0/p0']
    with pytest.raises(FileNotFoundError, match="none of the 18 buildings of split 'test'"):
        Matterport3DPanoDataset(str(hoho), split='test')
    with pytest.raises(ValueError, match='unknown split'):
        Matterport3DPanoDataset(str(hoho), split='training')

    bifuse = tmp_path / 'bifuse'
    write_rgb(str(bifuse / train_scene / 'abc' / 'color.jpg'), img)
    np.save(bifuse / train_scene / 'abc' / 'depth.npy', distance)
    sample = Matterport3DPanoDataset(str(bifuse), pipeline=PIPELINE)[0]
    assert sample['frame_id'] == f'{train_scene}/abc' and sample['depth_encoding'] == 'float'

    (tmp_path / 'list.txt').write_text(
        f'{train_scene}/p1_rgb.png {train_scene}/p1_depth.png\n'
        f'{val_scene}/p0_rgb.png {val_scene}/p0_depth.npy\n')
    listed = Matterport3DPanoDataset(str(hoho), layout='list', list_file=str(tmp_path / 'list.txt'),
                                     split='all', pipeline=PIPELINE)
    assert listed.frame_ids() == [f'{train_scene}/p1_rgb', f'{val_scene}/p0_rgb']
    assert np.abs(listed[0]['depth'] - distance).max() < 1e-3

    os.makedirs(tmp_path / 'odd' / train_scene / 'junk')
    with pytest.raises(FileNotFoundError, match='cannot recognise the layout'):
        Matterport3DPanoDataset(str(tmp_path / 'odd'))


def _s3d_room(root, scene, room, distance, semantic):
    pano = root / 'Structured3D' / scene / '2D_rendering' / room / 'panorama'
    write_rgb(str(pano / 'full' / 'rgb_rawlight.png'), gradient_image(*distance.shape))
    write_png16(str(pano / 'full' / 'depth.png'), distance)
    Image.fromarray(semantic).save(pano / 'full' / 'semantic.png')
    (pano / 'camera_xyz.txt').write_text('1000 -2500 1300')


def test_structured3d_layout_splits_and_labels(tmp_path):
    distance, hits, normals = equirect_room((32, 64))
    # NYU40 ids: 1 wall, 2 floor, 22 ceiling; 0 = unlabelled
    semantic = np.where(normals[..., 2] > 0.5, 2, np.where(normals[..., 2] < -0.5, 22, 1))
    semantic = semantic.astype(np.uint8)
    semantic[:, :3] = 0
    for scene, room in (('scene_00000', '485142'), ('scene_00000', '11'),
                        ('scene_03000', '7'), ('scene_03499', '1')):
        _s3d_room(tmp_path, scene, room, distance, semantic)
    ds = Structured3DPanoDataset(str(tmp_path), split='train', pipeline=PIPELINE)
    assert ds.frame_ids() == ['scene_00000/11', 'scene_00000/485142']
    assert Structured3DPanoDataset(str(tmp_path), split='val').frame_ids() == ['scene_03000/7']
    assert Structured3DPanoDataset(str(tmp_path), split='test').frame_ids() == ['scene_03499/1']
    assert len(Structured3DPanoDataset(str(tmp_path / 'Structured3D'), split='all')) == 4
    assert ds.metainfo['classes'][1] == 'floor' and len(ds.metainfo['classes']) == 40
    info = ds.get_data_info(0)
    np.testing.assert_allclose(info['camera_position'], [1.0, -2.5, 1.3])
    sample = ds[0]
    err = np.abs(sample['points'] - hits.reshape(-1, 3)[sample['pixel_index']]).max()
    assert err < 1e-3
    expected = np.where(semantic == 0, 255, semantic.astype(np.int64) - 1).reshape(-1)
    np.testing.assert_array_equal(sample['labels'], expected[sample['pixel_index']])
    assert (sample['labels'] == 1).sum() > 0  # floor = class 1 ("floor")
    assert (sample['points'][sample['labels'] == 1, 2] < 0).all()
    no_labels = Structured3DPanoDataset(str(tmp_path), with_labels=False, pipeline=PIPELINE)
    assert 'labels' not in no_labels[0]
    excluded = Structured3DPanoDataset(str(tmp_path), exclude_scenes=['scene_00000'], split='all')
    assert excluded.frame_ids() == ['scene_03000/7', 'scene_03499/1']


def test_lift_equirect_keeps_pixel_labels_of_real_size(tmp_path):
    distance, _, _ = equirect_room((16, 32))
    write_png16(str(tmp_path / 'd.png'), distance)
    write_rgb(str(tmp_path / 'c.png'), gradient_image(16, 32))
    info = dict(img_path=str(tmp_path / 'c.png'), depth_path=str(tmp_path / 'd.png'),
                projection='equirect', depth_encoding='uint16', frame_id='x')
    results = LoadRGBD()(info)
    results['pixel_labels'] = np.arange(16 * 32).reshape(16, 32)
    out = LiftEquirect(with_normals=False)(results)
    np.testing.assert_array_equal(out['labels'], out['pixel_index'])
