"""Panorama crops (against py360convert) and stitching back."""
import numpy as np
import pytest
import torch

from d3l.teachers import BaseTeacher, PanoramaCrops, crop_rays, sample_equirect
from d3l.teachers.panorama import build_panorama


def smooth_pano(height=64, width=128):
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing='ij')
    lon = (cols + 0.5) / width * 2 * np.pi
    lat = (rows + 0.5) / height * np.pi
    return np.stack([np.sin(lon) * np.sin(lat), np.cos(2 * lon) * np.sin(lat) ** 2,
                     np.cos(lat)], -1)


@pytest.mark.parametrize('yaw,pitch', [(0, 0), (45, 0), (90, 30), (-120, -45), (200, 60)])
def test_crop_matches_py360convert(yaw, pitch):
    py360convert = pytest.importorskip('py360convert')
    pano = smooth_pano()
    reference = py360convert.e2p(pano, 80, yaw, pitch, (24, 32))
    mine = sample_equirect(torch.from_numpy(pano).permute(2, 0, 1)[None],
                           crop_rays((80, 80), yaw, pitch, (24, 32)))[0].permute(1, 2, 0)
    assert np.abs(mine.numpy() - reference).max() < 3e-3


def test_stitch_inverts_crops_and_default_layout_covers_sphere():
    pano = torch.from_numpy(smooth_pano(64, 128)).permute(2, 0, 1).float()
    layout = PanoramaCrops()  # 8 yaws x pitches (-60, 0, 60), fov 90
    crops = layout.crops(pano)
    assert crops.shape == (24, 3, 32, 32)  # keeps the panorama's angular resolution
    back = layout.stitch(crops, (64, 128))
    assert back.shape == pano.shape
    # a smooth panorama survives crop -> stitch up to interpolation error
    assert (back - pano).abs().mean() < 0.01 and (back - pano).abs().max() < 0.08
    # a coarser output grid samples the cell centres
    half = layout.stitch(crops, (64, 128), out_hw=(32, 64))
    assert (half - pano.reshape(3, 32, 2, 64, 2).mean((2, 4))).abs().mean() < 0.02


def test_uncovered_layout_is_an_error():
    layout = PanoramaCrops(fov=60, yaws=4, pitches=(0,))
    pano = torch.rand(2, 16, 32)
    with pytest.raises(ValueError, match='uncovered'):
        layout.stitch(layout.crops(pano), (16, 32))


class ColourTeacher(BaseTeacher):
    """Per-pixel class from colour: logits = a linear map of the RGB value,
    so labels do not depend on the context and crop/stitch must agree with
    whole-image labelling."""

    def __init__(self, **kwargs):
        super().__init__(device='cpu', **kwargs)
        self.class_names = ['r', 'g', 'b', 'grey']
        self.register_buffer('weight', torch.tensor(
            [[1., -.5, -.5], [-.5, 1., -.5], [-.5, -.5, 1.], [.3, .3, .3]]) / 40)

    def logits(self, imgs, metas=None):
        return torch.einsum('kc,bchw->bkhw', self.weight, imgs)


def test_crop_mode_agrees_with_whole_mode():
    pano = (smooth_pano(32, 64) * 127 + 128).clip(0, 255).astype(np.uint8)
    sample = {'img': pano, 'projection': 'equirect'}
    whole = ColourTeacher()(torch.from_numpy(pano).permute(2, 0, 1)[None].float())[0]
    cropped_teacher = ColourTeacher(panorama=dict(mode='crops', fov=100, yaws=6))
    cropped = cropped_teacher.label_frame(sample)
    assert cropped.shape == (4, 32, 64)
    torch.testing.assert_close(cropped.sum(0), torch.ones(32, 64))
    assert (cropped - whole).abs().mean() < 0.01
    assert (cropped.argmax(0) == whole.argmax(0)).float().mean() > 0.97
    # perspective frames ignore the panorama setting
    persp = cropped_teacher.label_frame({'img': pano, 'projection': 'perspective'}, stride=2)
    assert persp.shape == (4, 16, 32)


def test_build_panorama_options():
    assert build_panorama(None) is None and build_panorama('whole') is None
    assert isinstance(build_panorama('crops'), PanoramaCrops)
    assert build_panorama(dict(mode='crops', fov=120, yaws=4)).views[1] == (90.0, -60.0)
    with pytest.raises(ValueError, match='mode'):
        build_panorama(dict(mode='cube'))
    with pytest.raises(ValueError, match='fov'):
        PanoramaCrops(fov=190)


def test_crop_mode_on_a_real_panorama(realdata):
    from PIL import Image
    path = realdata('pano_hohonet', 'pano_asmasuxybohhcj.png')
    pano = np.asarray(Image.open(path).convert('RGB').resize((256, 128)))
    teacher = ColourTeacher()
    whole = teacher(torch.from_numpy(pano.copy()).permute(2, 0, 1)[None].float())[0]
    cropped = ColourTeacher(panorama='crops').label_frame(
        {'img': pano, 'projection': 'equirect'}, stride=2)
    assert cropped.shape == (4, 64, 128)
    # per-pixel labels: crops + stitching reproduce whole-image labelling on
    # real content, up to resampling at edges
    reference = whole.reshape(4, 64, 2, 128, 2).mean((2, 4))
    assert (cropped - reference).abs().mean() < 0.02
    assert (cropped.argmax(0) == reference.argmax(0)).float().mean() > 0.9
