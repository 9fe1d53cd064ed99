"""SUN RGB-D: the official frame-folder layout, its depth encoding, its
MATLAB intrinsics and Rtilt, checked against the toolbox's own points."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
import scipy.io as sio
from PIL import Image
from scipy.spatial import cKDTree

from d3l.datasets import SUNRGBDDataset
from d3l.datasets.rgbd import BadFrameError
from d3l.datasets.rgbd.sunrgbd import CAMERA_TO_DEPTH, rtilt_from_extrinsics

PIPELINE = [dict(type='LoadRGBD'), dict(type='LiftPerspective', with_normals=False)]


def _read_votenet_calib(path):
    """The toolbox export (votenet format): Rtilt and K, column-major."""
    with open(path) as f:
        lines = f.read().split('\n')
    rtilt = np.array(lines[0].split(), float).reshape(3, 3, order='F')
    K = np.array(lines[1].split(), float).reshape(3, 3, order='F')
    return rtilt, K


def _official_frame(root, sample_dir, idx, folder):
    """Write sample ``idx`` as an official SUNRGBD frame folder: the depth PNG
    bit-rotated as SUN stores it, intrinsics.txt row-major, and an extrinsics
    file whose rotation gives back Rtilt through the toolbox's conversion."""
    rtilt, K = _read_votenet_calib(osp.join(sample_dir, 'calib', f'{idx}.txt'))
    frame = osp.join(root, folder)
    for sub in ('image', 'depth', 'extrinsics'):
        os.makedirs(osp.join(frame, sub))
    shutil.copy(osp.join(sample_dir, 'image', f'{idx}.jpg'), osp.join(frame, 'image', f'{idx}.jpg'))
    mm = np.asarray(Image.open(osp.join(sample_dir, 'depth_mm_derived', f'{idx}.png')), np.uint16)
    Image.fromarray(((mm << 3) | (mm >> 13)).astype(np.uint16)).save(
        osp.join(frame, 'depth', f'{idx}.png'))
    np.savetxt(osp.join(frame, 'intrinsics.txt'), K)
    extrinsics = CAMERA_TO_DEPTH.T @ rtilt @ CAMERA_TO_DEPTH  # inverse of the conversion
    np.savetxt(osp.join(frame, 'extrinsics', '20150101000000.txt'),
               np.hstack([extrinsics, np.zeros((3, 1))]))
    np.savetxt(osp.join(frame, 'extrinsics', '20140101000000.txt'), np.eye(3, 4) * 7)
    return rtilt, K


def test_lifting_reproduces_the_toolbox_points(realdata, tmp_path):
    sample_dir = realdata('sunrgbd_rgbd')
    root = str(tmp_path / 'SUNRGBD')
    folders = {}
    for idx in ('000001', '000002', '000003', '000004'):
        folders[idx] = f'kv2/kinect2data/{idx}'
        _official_frame(root, sample_dir, idx, folders[idx])
    ds = SUNRGBDDataset(root, pipeline=PIPELINE)
    assert ds.frame_ids() == sorted(folders.values())
    for i, idx in enumerate(sorted(folders)):
        rtilt, _ = _read_votenet_calib(osp.join(sample_dir, 'calib', f'{idx}.txt'))
        info = ds.get_data_info(i)
        np.testing.assert_allclose(info['rtilt'], rtilt, atol=1e-6)
        sample = ds[i]
        toolbox = sio.loadmat(osp.join(sample_dir, 'depth', f'{idx}.mat'))['instance']
        # every valid depth pixel is one toolbox point
        assert len(sample['points']) == len(toolbox)
        check = toolbox[i::3]  # a third of the points keeps the test fast
        dist, nearest = cKDTree(sample['points']).query(check[:, :3])
        assert dist.max() < 1e-3  # within a millimetre
        # and the colours agree: the same pixels were lifted
        np.testing.assert_allclose(sample['colors'][nearest], check[:, 3:], atol=1 / 255 + 1e-6)
        # upright: z up, so the lowest points (the floor) are below the camera
        assert np.percentile(sample['points'][:, 2], 2) < -0.5


def test_k_without_the_matlab_offset_misses(realdata, tmp_path):
    """The 1-pixel MATLAB offset is needed for millimetre agreement."""
    sample_dir = realdata('sunrgbd_rgbd')
    root = str(tmp_path / 'SUNRGBD')
    _official_frame(root, sample_dir, '000001', 'a/000001')
    ds = SUNRGBDDataset(root, pipeline=PIPELINE)
    info = ds.get_data_info(0)
    info['intrinsics'][:2, 2] += 1.0  # the raw MATLAB K
    sample = ds.pipeline(info)
    toolbox = sio.loadmat(osp.join(sample_dir, 'depth', '000001.mat'))['instance']
    dist, _ = cKDTree(sample['points']).query(toolbox[::50, :3])
    assert np.median(dist) > 2e-3


def test_split_files_and_missing_extrinsics(tmp_path):
    root = tmp_path / 'SUNRGBD'
    for name in ('kv1/NYUdata/NYU0001', 'kv1/NYUdata/NYU0002', 'xtion/x/0003'):
        frame = root / name
        os.makedirs(frame / 'image')
        os.makedirs(frame / 'depth')
        Image.fromarray(np.zeros((4, 6, 3), np.uint8)).save(frame / 'image' / 'a.jpg')
        Image.fromarray(np.full((4, 6), 2000 << 3, np.uint16)).save(frame / 'depth' / 'a.png')
        np.savetxt(frame / 'intrinsics.txt', [[5, 0, 3], [0, 5, 2], [0, 0, 1]])
    (tmp_path / 'train.txt').write_text('kv1/NYUdata/NYU0002\nxtion/x/0003\n')
    ds = SUNRGBDDataset(str(root), split_file=str(tmp_path / 'train.txt'), pipeline=PIPELINE)
    assert ds.frame_ids() == ['kv1/NYUdata/NYU0002', 'xtion/x/0003']
    with pytest.raises(BadFrameError, match='no extrinsics'):
        ds[0]
    sio.savemat(tmp_path / 'allsplit.mat', {
        'alltrain': np.array(['/n/fs/sun3d/data/SUNRGBD/kv1/NYUdata/NYU0001'], dtype=object),
        'alltest': np.array(['/n/fs/sun3d/data/SUNRGBD/xtion/x/0003/'], dtype=object)})
    test = SUNRGBDDataset(str(root), split_file=str(tmp_path / 'allsplit.mat'), split='test')
    assert test.frame_ids() == ['xtion/x/0003']
    frame = root / 'xtion/x/0003'
    os.makedirs(frame / 'extrinsics')
    np.savetxt(frame / 'extrinsics' / 'e.txt', np.eye(3, 4))
    sample = SUNRGBDDataset(str(root), pipeline=PIPELINE, indices=[2])[0]
    # identity extrinsics: camera looks along +y of the upright frame, depth 2 m
    np.testing.assert_allclose(sample['points'][:, 1], 2.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.det(rtilt_from_extrinsics(np.eye(3))), 1.0)
