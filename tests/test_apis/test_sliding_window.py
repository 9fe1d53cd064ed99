"""Sliding-window inference: window layout, merge weights, no clamping, and
the Segmentor's test_cfg switch."""
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from d3l.apis.sliding_window import (
    WEIGHT_FLOOR,
    sliding_window_probs,
    window_origins,
)
from d3l.registry import MODELS
from d3l.structures import PointBatch
from d3l.structures.point_octree import ExtentError

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TINY_UNET = dict(stem_channels=4, enc_channels=[4, 8], enc_blocks=[1, 1], dec_channels=[8, 4],
                 dec_blocks=[1, 1])


@pytest.fixture(autouse=True)
def d3l_scope():
    init_default_scope('d3l')


def scene(length: float, num_points: int = 3000, seed: int = 0, width: float = 6.0):
    """Points of a long corridor: floor, two walls, boxes; colours + normals."""
    rng = np.random.default_rng(seed)
    pts = rng.random((num_points, 3)) * [length, width, 2.5]
    face = rng.integers(0, 3, num_points)
    pts[face == 0, 2] = 0.0
    pts[face == 1, 1] = 0.0
    pts[face == 2, 1] = width
    pts[0], pts[1] = [0.0, 0.0, 0.0], [length, width, 2.5]  # the exact extent
    normals = np.zeros_like(pts)
    normals[face == 0, 2] = 1
    normals[face == 1, 1] = 1
    normals[face == 2, 1] = -1
    feat = np.concatenate([rng.random((num_points, 3)), normals], 1)
    return torch.tensor(pts, dtype=torch.float32), torch.tensor(feat, dtype=torch.float32)


def segmentor(backbone: dict, test_cfg=None, seed: int = 0):
    torch.manual_seed(seed)
    model = MODELS.build(dict(type='Segmentor', backbone=backbone, test_cfg=test_cfg,
                              decode_head=dict(type='SegHead', num_classes=5)))
    model.train()
    coord, feat = scene(8.0, 800, seed=seed + 1)
    model._forward(PointBatch.from_list([coord], [feat]))  # non-trivial BN statistics
    return model.eval()


OCNN = dict(type='OCNNUNet', in_channels=6, depth=6, scale=5.12, **TINY_UNET)
SPARSE = dict(type='SparseUNet', in_channels=6, voxel_size=0.2, **TINY_UNET)
POINT_ONLY = dict(type='PointMLP', in_channels=6, channels=(16, 16), use_coord=True)


def test_window_layout_covers_every_point_and_fits_only_where_needed():
    origins = window_origins(np.array([0.0, 0.0, 0.0]), np.array([25.0, 6.0, 3.0]), 10.0, 5.0)
    # x: ceil((25 - 10) / 5) + 1 = 4 windows spread from 0 to 15; y, z fit: one centred window
    np.testing.assert_allclose(origins[:, 0], [0.0, 5.0, 10.0, 15.0])
    np.testing.assert_allclose(origins[:, 1:], [[-2.0, -3.5]] * 4)
    # 26 m: ceil(16 / 5) + 1 = 5 windows, spacing 4 m <= stride, flush with both ends;
    # 21 m: ceil(11 / 5) + 1 = 4 windows 11 / 3 m apart
    origins = window_origins(np.zeros(3), np.array([26.0, 21.0, 2.0]), 10.0, 5.0)
    xs, ys = np.unique(origins[:, 0]), np.unique(origins[:, 1])
    np.testing.assert_allclose(xs, [0, 4, 8, 12, 16])
    np.testing.assert_allclose(ys, [0, 11 / 3, 22 / 3, 11])
    assert len(origins) == 20
    coord, _ = scene(26.0, 5000)
    inside = [((coord.numpy() >= o) & (coord.numpy() <= o + 10)).all(1) for o in origins]
    assert np.stack(inside).any(0).all()


def test_merge_equals_a_direct_weighted_average():
    """Each window answers one-hot on its own index: the merged probability of
    window k at a point is its tent weight over the sum of the weights."""
    coord, feat = scene(23.0, 2000, seed=4, width=13.0)
    batch = PointBatch.from_list([coord], [feat])
    calls = []

    def one_hot_per_window(chunk):
        calls.append(chunk.coord.clone())
        probs = torch.zeros(chunk.num_points, 12)
        probs[:, len(calls) - 1] = 1
        return probs

    merged = sliding_window_probs(one_hot_per_window, batch, 10.0, 5.0).double().numpy()
    pts = coord.double().numpy()
    low, high = pts.min(0), pts.max(0)
    # independent layout: 3 x 2 windows in x, y (23 m, 13 m), z fits
    xs = np.linspace(low[0], high[0] - 10, 4)
    ys = np.linspace(low[1], high[1] - 10, 2)
    z0 = (low[2] + high[2] - 10) / 2
    expected = np.zeros((len(pts), 12))
    total = np.zeros(len(pts))
    k = 0
    for x0 in xs:
        for y0 in ys:
            origin = np.array([x0, y0, z0])
            inside = ((pts >= origin) & (pts <= origin + 10)).all(1)
            assert calls[k].shape[0] == inside.sum()
            rel = np.abs(pts[inside] - (origin + 5)) / 5
            weight = np.prod(np.maximum(1 - rel, WEIGHT_FLOOR), axis=1)
            expected[inside, k] += weight
            total[inside] += weight
            k += 1
    assert len(calls) == k == 8
    np.testing.assert_allclose(merged, expected / total[:, None], rtol=1e-5, atol=1e-7)


def test_point_only_model_merged_equals_single_window_exactly():
    model = segmentor(POINT_ONLY)
    coord, feat = scene(26.0, 4000, seed=2)
    batch = PointBatch.from_list([coord], [feat])
    slid = model.predict_probs(batch)
    model.test_cfg['mode'] = 'whole'
    whole = model.predict_probs(batch)
    assert slid.shape == (4000, 5)
    torch.testing.assert_close(slid, whole, rtol=1e-6, atol=1e-6)
    assert torch.equal(slid.argmax(1), whole.argmax(1))


def test_long_scene_with_ocnn_predicts_every_point_and_never_clamps():
    model = segmentor(OCNN)
    coord, feat = scene(26.0, 6000, seed=3)
    chunks = []
    forward = model._forward

    def recording(batch, data_samples=None):
        chunks.append((batch.coord.max(0).values - batch.coord.min(0).values).tolist())
        return forward(batch)

    model._forward = recording
    samples = [{'metainfo': {'scene_id': 'corridor_26m'}}]
    probs = model.predict_probs(PointBatch.from_list([coord], [feat]), samples)
    assert probs.shape == (6000, 5) and torch.isfinite(probs).all()
    torch.testing.assert_close(probs.sum(1), torch.ones(6000))
    assert len(chunks) == 5  # ceil((26 - 10) / 5) + 1 windows along x
    assert all(max(span) <= 10.0 + 1e-4 for span in chunks)  # each fits in the 10.24 m cube
    # without windows the scene does not fit: an error naming the scene and its extent
    model.test_cfg['mode'] = 'whole'
    with pytest.raises(ExtentError, match=r'scene corridor_26m: .*spans 26 x 6 x 2\.5 m'):
        model.predict_probs(PointBatch.from_list([coord], [feat]), samples)


@pytest.mark.parametrize('backbone', [OCNN, SPARSE], ids=['ocnn', 'spconv'])
def test_scene_that_fits_gives_the_same_labels_with_and_without_windows(backbone):
    model = segmentor(backbone)
    clouds = [scene(9.0, 1500, seed=5), scene(4.0, 700, seed=6)]
    batch = PointBatch.from_list([c for c, _ in clouds], [f for _, f in clouds])
    slid = model.predict(batch)
    model.test_cfg['mode'] = 'whole'
    whole = model.predict(batch)
    for a, b in zip(slid, whole):
        assert torch.equal(a['pred'], b['pred'])


def test_batch_mixing_long_and_small_scenes_keeps_each_cloud_in_place():
    model = segmentor(POINT_ONLY)
    clouds = [scene(4.0, 300, seed=7), scene(22.0, 2000, seed=8), scene(3.0, 200, seed=9)]
    batch = PointBatch.from_list([c for c, _ in clouds], [f for _, f in clouds])
    slid = model.predict_probs(batch)
    model.test_cfg['mode'] = 'whole'
    torch.testing.assert_close(slid, model.predict_probs(batch), rtol=1e-6, atol=1e-6)


def test_window_larger_than_the_cube_is_an_error():
    # by default the window shrinks to a smaller cube (the demo's 9 m), at half its size
    assert segmentor(dict(OCNN, scale=4.5)).test_cfg == dict(mode='slide', window_size=9.0,
                                                             stride=4.5)
    model = segmentor(dict(OCNN, scale=4.5), test_cfg=dict(window_size=10.0))
    coord, feat = scene(20.0, 1000)
    with pytest.raises(ExtentError, match=r'scene long spans 20.00 x 6.00 x 2.50 m, .*'
                                          r"window_size 10\.0 is larger than the network's "
                                          r'extent of 9 m'):
        model.predict_probs(PointBatch.from_list([coord], [feat]),
                            [{'metainfo': {'scene_id': 'long'}}])
    model.test_cfg.update(window_size=9.0, stride=4.5)
    assert model.predict_probs(PointBatch.from_list([coord], [feat])).shape == (1000, 5)


def test_training_on_a_cloud_larger_than_the_cube_names_the_scene():
    model = segmentor(OCNN)
    model.train()
    coord, feat = scene(12.0, 500)
    samples = [{'labels': torch.zeros(500, dtype=torch.long),
                'metainfo': {'scene_id': 'scene0042_00'}}]
    with pytest.raises(ExtentError,
                       match=r'scene scene0042_00: cloud 0 .*spans 12 x 6 x 2\.5 m'):
        model.loss(PointBatch.from_list([coord], [feat]), samples)


@pytest.mark.parametrize('test_cfg, message', [
    (dict(mode='tiles'), "mode must be 'slide' or 'whole'"),
    (dict(stride=12.0), 'stride 12.0 is larger than window_size 10.0'),
    (dict(window_size=4.0, stride=4.5), 'stride 4.5 is larger than window_size 4.0'),
    (dict(window_size=-1.0), 'window_size must be > 0'),
    (dict(windows=3), r"unknown test_cfg keys \['windows'\]"),
])
def test_bad_test_cfg_is_rejected(test_cfg, message):
    with pytest.raises(ValueError, match=message):
        segmentor(POINT_ONLY, test_cfg=test_cfg)


def test_base_model_configs_slide_at_the_authors_windows():
    from mmengine.config import Config

    for name in ('ocnn_unet', 'spconv_unet'):
        cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'models', f'{name}.py'))
        model = MODELS.build(dict(cfg.model, backbone=dict(cfg.model.backbone, **TINY_UNET)))
        assert model.test_cfg == dict(mode='slide', window_size=10.0, stride=5.0)


def test_test_step_of_tools_test_scores_every_vertex_of_a_long_scene():
    """tools/test.py runs model.test_step: windows, then the inverse map of
    GridSample back to every original vertex."""
    from d3l.datasets.collate import point_collate
    from d3l.datasets.transforms import GridSample, PackPointInputs

    model = segmentor(OCNN)
    coord, feat = scene(26.0, 5000, seed=11)
    sample = dict(points=coord.numpy(), colors=feat[:, :3].numpy(), normals=feat[:, 3:].numpy(),
                  labels=np.arange(5000) % 5, scene_id='scene0707_00')
    sample = GridSample(0.2, mode='test', return_inverse=True)(sample)
    packed = PackPointInputs(feat_keys=('colors', 'normals'))(sample)
    assert packed['inputs']['coord'].shape[0] < 5000
    result = model.test_step(point_collate([packed]))[0]
    assert result['pred'].shape == (5000,) and result['gt'].shape == (5000,)
    assert result['metainfo']['scene_id'] == 'scene0707_00'


def test_pretrainer_validation_slides_over_panoramas_larger_than_the_cube():
    torch.manual_seed(0)
    model = MODELS.build(dict(type='Pretrainer', backbone=OCNN,
                              decode_head=dict(type='SegHead', num_classes=7))).eval()
    coord, feat = scene(19.0, 2000, seed=12, width=14.0)  # a 19 x 14 m lifted panorama
    results = model.predict(PointBatch.from_list([coord], [feat]))
    assert results[0]['pred'].shape == (2000,)
