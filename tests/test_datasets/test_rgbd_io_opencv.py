"""Colour decoding by OpenCV gives PIL's pixels bit for bit wherever it is
used (complete 8-bit RGB JPEG / PNG), and every other file still goes to PIL
with the same result or the same error; ``LoadRGBD``'s quick depth check
keeps the depth it returned before."""
import glob
import os.path as osp

import numpy as np
import pytest
from conftest import REALDATA_DIR
from PIL import Image

from d3l.datasets.rgbd import io
from d3l.datasets.rgbd.io import BadFrameError, read_color
from d3l.datasets.transforms import LoadRGBD

pytest.importorskip('cv2')


def _pil(path, monkeypatch):
    monkeypatch.setattr(io, 'USE_OPENCV', False)
    try:
        return read_color(path)
    finally:
        monkeypatch.setattr(io, 'USE_OPENCV', True)


def test_real_colour_images_are_bit_identical(monkeypatch):
    files = sorted(glob.glob(osp.join(REALDATA_DIR, '**', '*.jpg'), recursive=True)
                   + glob.glob(osp.join(REALDATA_DIR, '**', '*.png'), recursive=True))
    files = [f for f in files if Image.open(f).mode == 'RGB']
    if len(files) < 10:
        pytest.skip(f'real colour images are absent under {REALDATA_DIR} (D3L_SHARED_DIR)')
    kinds = set()
    for path in files:
        assert io._read_rgb_opencv(path) is not None, path  # OpenCV decodes it
        fast = read_color(path)
        np.testing.assert_array_equal(fast, _pil(path, monkeypatch), err_msg=path)
        assert fast.dtype == np.uint8 and fast.ndim == 3 and fast.shape[2] == 3
        kinds.add(Image.open(path).format)
    assert kinds == {'JPEG', 'PNG'}


def _image(seed=0, size=(37, 53)):
    rng = np.random.default_rng(seed)
    smooth = np.linspace(0, 255, size[1])[None, :, None] * np.ones((size[0], 1, 3))
    return np.clip(smooth + rng.normal(0, 20, (*size, 3)), 0, 255).astype(np.uint8)


def test_files_opencv_leaves_to_pil(tmp_path, monkeypatch):
    img = _image()
    cases = {}
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: PIL ignores it, so must OpenCV
    Image.fromarray(img).save(tmp_path / 'exif.jpg', exif=exif)
    Image.fromarray(img).save(tmp_path / 'progressive.jpg', progressive=True, quality=80)
    Image.fromarray(img).save(tmp_path / 'subsampled.jpg', subsampling=2, quality=70)
    Image.fromarray(img[..., 0]).save(tmp_path / 'grey.jpg')
    Image.fromarray(img[..., 0]).save(tmp_path / 'grey.png')
    Image.fromarray(img).convert('P').save(tmp_path / 'palette.png')
    Image.fromarray(np.dstack([img, img[..., :1]])).save(tmp_path / 'rgba.png')
    Image.fromarray(img).save(tmp_path / 'trns.png', transparency=(0, 0, 0))
    Image.fromarray(img).save(tmp_path / 'optimized.png', optimize=True)
    data = (tmp_path / 'exif.jpg').read_bytes()
    (tmp_path / 'trailing.jpg').write_bytes(data + b'\x00\x00junk')
    for path in sorted(tmp_path.iterdir()):
        cases[path.name] = io._read_rgb_opencv(str(path)) is not None
        np.testing.assert_array_equal(read_color(str(path)), _pil(str(path), monkeypatch),
                                      err_msg=path.name)
    assert cases == {'exif.jpg': True, 'progressive.jpg': True, 'subsampled.jpg': True,
                     'grey.jpg': False, 'grey.png': False, 'palette.png': False,
                     'rgba.png': False, 'trns.png': False, 'optimized.png': True,
                     'trailing.jpg': False}
    np.testing.assert_array_equal(read_color(str(tmp_path / 'exif.jpg')).shape, img.shape)


@pytest.mark.parametrize('name', ['cut.jpg', 'cut.png'])
def test_truncated_files_are_still_named(tmp_path, name):
    Image.fromarray(_image(1, (64, 80))).save(tmp_path / name)
    data = (tmp_path / name).read_bytes()
    (tmp_path / name).write_bytes(data[:len(data) // 2])
    assert io._read_rgb_opencv(str(tmp_path / name)) is None
    with pytest.raises(BadFrameError, match=name):
        read_color(str(tmp_path / name))
    with pytest.raises(BadFrameError, match='does not exist'):
        read_color(str(tmp_path / 'missing.jpg'))


def _old_depth_check(depth):
    """LoadRGBD's check before issue 16, with nonfinite_depth='invalid'."""
    finite = np.isfinite(depth)
    bad = ~finite | (np.where(finite, depth, 0) < 0)
    return np.where(bad, np.float32(0), depth) if bad.any() else depth


@pytest.mark.parametrize('bad_value', [None, np.nan, np.inf, -np.inf, -0.5, -0.0])
def test_load_rgbd_depth_check_unchanged(tmp_path, bad_value):
    depth = np.random.default_rng(2).uniform(0.5, 4, (12, 16)).astype(np.float32)
    depth[0, 0] = 0
    if bad_value is not None:
        depth[3, 4] = bad_value
    np.save(tmp_path / 'd.npy', depth)
    Image.fromarray(_image(3, (12, 16))).save(tmp_path / 'c.png')
    frame = dict(img_path=str(tmp_path / 'c.png'), depth_path=str(tmp_path / 'd.npy'),
                 intrinsics=np.array([[10.0, 0, 8], [0, 10, 6], [0, 0, 1]]))
    out = LoadRGBD(nonfinite_depth='invalid')(dict(frame))
    np.testing.assert_array_equal(out['depth'], _old_depth_check(depth))
    assert out['depth'].dtype == np.float32
    if bad_value is not None and not (bad_value == 0):
        with pytest.raises(BadFrameError, match='1 depth pixels are NaN, inf or negative'):
            LoadRGBD()(dict(frame))
