"""Depth encodings and readers, on synthetic files and on the real Open3D
RGB-D frames (PrimeSense mm, TUM /5000, SUN bit rotation, NYU raw disparity)."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree

from d3l.datasets.rgbd.io import (
    BadFrameError,
    intrinsics_from_dict,
    read_color,
    read_depth,
    read_label,
    read_matrix,
)
from d3l.geometry import apply_rigid, lift_perspective

PRIMESENSE_K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])


def _save16(path, array):
    Image.fromarray(np.asarray(array, np.uint16)).save(path)


def test_uint16_scales_and_sunrgbd_bit_rotation(tmp_path):
    mm = np.array([[0, 1000, 2500], [65535 // 8, 7999, 123]], np.uint16)
    _save16(tmp_path / 'd.png', mm)
    np.testing.assert_allclose(read_depth(str(tmp_path / 'd.png'), 'uint16'), mm / 1000.0)
    np.testing.assert_allclose(read_depth(str(tmp_path / 'd.png'), 'uint16', 5000), mm / 5000.0)
    rotated = ((mm << 3) | (mm >> 13)).astype(np.uint16)  # how SUN RGB-D stores depth
    _save16(tmp_path / 'sun.png', rotated)
    np.testing.assert_allclose(read_depth(str(tmp_path / 'sun.png'), 'sunrgbd'), mm / 1000.0)


def test_float_files_and_auto(tmp_path):
    depth = np.array([[1.5, 0.0], [np.nan, 3.25]], np.float32)
    np.save(tmp_path / 'd.npy', depth)
    np.savez(tmp_path / 'd.npz', depth=depth)
    Image.fromarray(depth, mode='F').save(tmp_path / 'd.tif')
    for name in ('d.npy', 'd.npz', 'd.tif'):
        out = read_depth(str(tmp_path / name), 'auto')
        np.testing.assert_array_equal(out, depth)  # NaN kept: LoadRGBD decides
    _save16(tmp_path / 'd.png', [[1500, 0]])
    np.testing.assert_allclose(read_depth(str(tmp_path / 'd.png'), 'auto'), [[1.5, 0]])


def test_bad_files_name_the_file_and_problem(tmp_path):
    missing = str(tmp_path / 'nope.png')
    with pytest.raises(BadFrameError, match='nope.png: depth file does not exist'):
        read_depth(missing)
    Image.fromarray(np.zeros((4, 4), np.uint8)).save(tmp_path / 'eight.png')
    with pytest.raises(BadFrameError, match='eight.png.*8-bit'):
        read_depth(str(tmp_path / 'eight.png'), 'uint16')
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(tmp_path / 'c.jpg', quality=95)
    data = (tmp_path / 'c.jpg').read_bytes()
    (tmp_path / 'trunc.jpg').write_bytes(data[:len(data) // 2])
    with pytest.raises(BadFrameError, match='trunc.jpg: cannot read colour image'):
        read_color(str(tmp_path / 'trunc.jpg'))
    (tmp_path / 'junk.png').write_bytes(b'not an image at all')
    with pytest.raises(BadFrameError, match='junk.png: cannot read'):
        read_color(str(tmp_path / 'junk.png'))
    _save16(tmp_path / 'depth_as_colour.png', np.ones((4, 4)))
    with pytest.raises(BadFrameError, match='is this a depth map'):
        read_color(str(tmp_path / 'depth_as_colour.png'))
    (tmp_path / 'K.txt').write_text('1 2 3\n4 5\n')
    with pytest.raises(BadFrameError,
                       match=r'K.txt: intrinsics needs exactly 9 numbers \(3x3\), found 5'):
        read_matrix(str(tmp_path / 'K.txt'), (3, 3), 'intrinsics')
    with pytest.raises(BadFrameError, match='cam.json: intrinsics need'):
        intrinsics_from_dict({'fx': 1}, 'cam.json')


def test_colour_modes_and_labels(tmp_path):
    Image.fromarray(np.full((3, 4), 77, np.uint8)).save(tmp_path / 'grey.png')
    grey = read_color(str(tmp_path / 'grey.png'))
    assert grey.shape == (3, 4, 3) and (grey == 77).all()
    Image.fromarray(np.full((3, 4, 4), 9, np.uint8)).save(tmp_path / 'rgba.png')
    assert read_color(str(tmp_path / 'rgba.png')).shape == (3, 4, 3)
    palette = Image.fromarray(np.array([[0, 1], [2, 255]], np.uint8), mode='P')
    palette.putpalette([v % 256 for v in range(256 * 3)])
    palette.save(tmp_path / 'seg.png')
    np.testing.assert_array_equal(read_label(str(tmp_path / 'seg.png')), [[0, 1], [2, 255]])
    _save16(tmp_path / 'seg16.png', [[300, 2]])
    np.testing.assert_array_equal(read_label(str(tmp_path / 'seg16.png')), [[300, 2]])
    assert intrinsics_from_dict({'K': np.eye(4).tolist()}, 'x').shape == (3, 3)


# --------------------------------------------------------------- real frames
def test_open3d_primesense_frames_decode_and_register(realdata):
    root = realdata('open3d_rgbd')
    poses = []
    with open(osp.join(root, 'trajectory.log')) as f:
        lines = f.read().split('\n')
    for i in range(5):
        poses.append(np.array(' '.join(lines[5 * i + 1:5 * i + 5]).split(), float).reshape(4, 4))
    clouds = []
    for i in range(5):
        depth = read_depth(osp.join(root, 'depth', f'{i:05d}.png'), 'uint16', 1000)
        valid = depth > 0
        # MANIFEST: uint16 millimetres, 0.98-2.7 m, 87 % valid
        assert 0.85 < valid.mean() < 0.89
        assert 0.9 < depth[valid].min() < 1.1 and 2.6 < depth[valid].max() < 2.8
        assert read_color(osp.join(root, 'color', f'{i:05d}.jpg')).shape == (480, 640, 3)
        points, _ = lift_perspective(depth, PRIMESENSE_K)
        clouds.append(apply_rigid(points, poses[i]))
    # frames 0 and 4 of the sequence overlap once the trajectory moves them into
    # one frame: only right metres + intrinsics + pose convention make them agree
    dist, _ = cKDTree(clouds[0]).query(clouds[4][::25])
    assert np.median(dist) < 0.006 and np.mean(dist < 0.01) > 0.85
    wrong_scale = cKDTree(clouds[0]).query(clouds[4][::25] * 1.05)[0]
    assert np.median(wrong_scale) > 2 * np.median(dist)


@pytest.mark.parametrize('name,encoding,scale,low,high,valid_fraction', [
    ('TUM_depth.png', 'uint16', 5000, 1.5, 7.3, None),
    ('SUN_depth.png', 'sunrgbd', None, 1.1, 8.8, None),
    ('NYU_depth.pgm', 'nyu_raw', None, 1.5, 6.3, 0.93),
])
def test_open3d_single_frames_decode_to_metres(realdata, name, encoding, scale, low, high,
                                                valid_fraction):
    root = realdata('open3d_rgbd', 'other_formats')
    depth = read_depth(osp.join(root, name), encoding, scale)
    assert depth.shape == (480, 640) and depth.dtype == np.float32
    valid = depth > 0
    # the MANIFEST's ranges are the 1st / 99th percentiles of the valid depth
    p1, p99 = np.percentile(depth[valid], [1, 99])
    assert abs(p1 - low) < 0.05 and abs(p99 - high) < 0.05
    if valid_fraction is not None:
        assert abs(valid.mean() - valid_fraction) < 0.01
    colour = read_color(osp.join(root, name.replace('depth', 'color').replace(
        '.pgm', '.ppm').replace('SUN_color.png', 'SUN_color.jpg')))
    assert colour.shape == (480, 640, 3)


def test_nyu_big_endian_reading_would_be_wrong(realdata):
    # the PGM header promises big-endian samples; read that way the depth is garbage
    path = realdata('open3d_rgbd', 'other_formats', 'NYU_depth.pgm')
    big_endian = np.asarray(Image.open(path)).astype(np.float64)
    assert (big_endian >= 1092.5).mean() > 0.5  # mostly "beyond infinity"
    assert (read_depth(path, 'nyu_raw') > 0).mean() > 0.9
