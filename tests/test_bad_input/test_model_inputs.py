"""What reaches a backbone: NaN / inf coordinates and features, a feature
width the backbone was not built for, a 1-point training batch. Each is a
BadPointInputError naming the scene before the backbone runs."""
import math

import pytest
import torch
from mmengine.registry import init_default_scope

import d3l.models  # noqa: F401  (registers the backbones and heads)
from d3l.registry import MODELS
from d3l.structures import PointBatch
from d3l.structures.point_batch import BadPointInputError, check_point_batch
from d3l.utils.errors import D3LError

TINY = dict(stem_channels=8, enc_channels=[8, 16], enc_blocks=[1, 1], dec_channels=[16, 8],
            dec_blocks=[1, 1])


def _segmentor(backbone='OCNNUNet'):
    init_default_scope('d3l')
    extra = dict(depth=5, full_depth=2, normalize='scene', scale=1.6) if backbone == 'OCNNUNet' \
        else dict(voxel_size=0.1)
    return MODELS.build(dict(type='Segmentor',
                             backbone=dict(type=backbone, in_channels=6, **TINY, **extra),
                             decode_head=dict(type='SegHead', num_classes=3)))


def _batch(sizes=(50, 40), channels=6, seed=0):
    gen = torch.Generator().manual_seed(seed)
    coords = [torch.rand(n, 3, generator=gen) * 2 for n in sizes]
    feats = [torch.rand(n, channels, generator=gen) for n in sizes]
    samples = [dict(labels=torch.zeros(n, dtype=torch.long),
                    metainfo=dict(scene_id=f'scene000{i}_00')) for i, n in enumerate(sizes)]
    return PointBatch.from_list(coords, feats), samples


@pytest.mark.parametrize('what,value', [('coord', math.nan), ('coord', math.inf),
                                        ('feat', math.nan), ('feat', -math.inf)])
def test_non_finite_points_are_refused_naming_the_scene(what, value):
    batch, samples = _batch()
    getattr(batch, what)[[55, 60, 61], 1] = value  # three points of the second cloud
    model = _segmentor()
    with pytest.raises(BadPointInputError, match=rf'scene scene0001_00: NaN / infinite point '
                       rf'{"coordinates" if what == "coord" else "features"} .*3 of 40 points'):
        model(batch, samples, mode='loss')
    model.eval()
    with pytest.raises(BadPointInputError, match='scene0001_00'):
        model(batch, samples, mode='predict')


def test_finite_batch_passes_and_trains():
    batch, samples = _batch()
    losses = _segmentor()(batch, samples, mode='loss')
    assert torch.isfinite(losses['loss_seg'])


@pytest.mark.parametrize('backbone', ['OCNNUNet', 'SparseUNet'])
def test_in_channels_mismatch_names_the_scenes(backbone):
    batch, samples = _batch(channels=3)
    with pytest.raises(BadPointInputError, match=r'scene scene0000_00, scene scene0001_00: the '
                       r'batch has 3 feature channels but the backbone was built with '
                       r'in_channels=6'):
        _segmentor(backbone)(batch, samples, mode='loss')


def test_one_point_training_batch_is_a_clear_error():
    batch, samples = _batch(sizes=(1,))
    model = _segmentor()
    with pytest.raises(BadPointInputError, match=r'scene0000_00: a training batch of 1 '
                       r'point\(s\); training needs at least 2'):
        model(batch, samples, mode='loss')
    model.eval()  # one point is fine to predict
    assert model(batch, samples, mode='predict')[0]['pred'].shape == (1,)


def test_batch_collapsing_to_one_voxel_is_a_clear_error():
    # two points a millimetre apart: one octant at every coarse level
    batch = PointBatch(torch.tensor([[0.5, 0.5, 0.5], [0.501, 0.5, 0.5]]), torch.rand(2, 6),
                       torch.zeros(2, dtype=torch.long), 1)
    samples = [dict(labels=torch.zeros(2, dtype=torch.long), metainfo=dict(scene_id='tiny'))]
    with pytest.raises(BadPointInputError, match=r'scene tiny: a training batch of 2 points '
                       r'collapses to one voxel'):
        _segmentor('SparseUNet')(batch, samples, mode='loss')


def test_check_without_samples_names_the_cloud_and_is_a_d3l_error():
    batch, _ = _batch()
    batch.coord[0, 0] = math.nan
    with pytest.raises(D3LError, match='cloud 0 of the batch'):
        check_point_batch(batch)
