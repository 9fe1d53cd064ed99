"""d3l inside mmdet3d: d3l transforms in an mmdet3d pipeline (after
LoadPointsFromFile) and d3l backbones in an mmdet3d segmentor."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from mmengine.config import ConfigDict
from mmengine.dataset import Compose, pseudo_collate
from mmengine.registry import DefaultScope
from model_test_utils import TINY

import d3l  # noqa: F401  (compat layer before mmdet3d)
from d3l.geometry import grid_sample_indices

try:
    import mmdet3d  # noqa: F401
    HAVE_MMDET3D = True
except ImportError:  # pragma: no cover - the CI venv has the extra
    HAVE_MMDET3D = False

pytestmark = pytest.mark.skipif(
    not HAVE_MMDET3D, reason='mmdet3d extra is not installed (bash tools/setup_env.sh --mmdet3d)')

IGNORE = 4  # mmdet3d's ignore label for a 4-class label set (len(classes))


def write_scene(tmp_path, name, num_points, seed):
    rng = np.random.default_rng(seed)
    xyz = rng.random((num_points, 3)) * (2.0, 1.5, 1.0)
    rgb = rng.integers(0, 256, (num_points, 3))
    points = np.concatenate([xyz, rgb], 1).astype(np.float32)
    labels = rng.integers(0, IGNORE + 1, num_points).astype(np.int64)
    (tmp_path / f'{name}.bin').write_bytes(points.tobytes())
    (tmp_path / f'{name}_sem.bin').write_bytes(labels.tobytes())
    return dict(lidar_points=dict(lidar_path=str(tmp_path / f'{name}.bin')),
                pts_semantic_mask_path=str(tmp_path / f'{name}_sem.bin'),
                sample_idx=name), points, labels


LOAD = [dict(type='LoadPointsFromFile', coord_type='DEPTH', shift_height=False, use_color=True,
             load_dim=6, use_dim=[0, 1, 2, 3, 4, 5]),
        dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False,
             with_mask_3d=False, with_seg_3d=True, seg_3d_dtype='np.int64')]


def mmdet3d_pipeline(transforms):
    import d3l.models.mmdet3d_compat  # noqa: F401  (registers the adapters)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        return Compose(LOAD + transforms)


def run(pipeline, info):
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        return pipeline(dict(info))


def test_d3l_transforms_inside_an_mmdet3d_pipeline(tmp_path):
    info, raw, labels = write_scene(tmp_path, 'scene', 400, seed=0)
    pipeline = mmdet3d_pipeline([
        dict(type='FromMMDet3DPoints', ignore_index=IGNORE),
        dict(type='d3l.GridSample', grid_size=0.1, mode='test'),
        dict(type='ToMMDet3DPoints')])
    out = run(pipeline, info)
    keep, _ = grid_sample_indices(raw[:, :3], 0.1, 'test')
    assert 0 < len(keep) < len(raw)
    points = out['points']
    assert type(points).__name__ == 'DepthPoints'
    assert points.attribute_dims == {'color': [3, 4, 5]}
    np.testing.assert_allclose(points.tensor.numpy(), raw[keep], rtol=1e-6, atol=1e-4)
    # labels went through d3l's 255 and came back as mmdet3d's ignore index
    np.testing.assert_array_equal(out['pts_semantic_mask'], labels[keep])

    # inside the d3l part the sample follows d3l's conventions
    to_d3l = mmdet3d_pipeline([dict(type='FromMMDet3DPoints', ignore_index=IGNORE),
                               dict(type='d3l.PackPointInputs',
                                    feat_keys=('colors',))])
    packed = run(to_d3l, info)
    np.testing.assert_allclose(packed['inputs']['feat'].numpy(), raw[:, 3:] / 255, atol=1e-6)
    expected = np.where(labels == IGNORE, 255, labels)
    np.testing.assert_array_equal(packed['data_samples']['labels'].numpy(), expected)


@pytest.mark.parametrize('backbone', [
    dict(type='SparseUNet', in_channels=3, voxel_size=0.1, **TINY),
    dict(type='OCNNUNet', in_channels=3, depth=5, scale=1.6, **TINY)], ids=['spconv', 'ocnn'])
def test_d3l_backbone_inside_an_mmdet3d_segmentor(tmp_path, backbone):
    from mmdet3d.registry import MODELS as MMDET3D_MODELS

    import d3l.models.mmdet3d_compat  # noqa: F401

    pipeline = mmdet3d_pipeline([
        dict(type='FromMMDet3DPoints', ignore_index=IGNORE),
        dict(type='d3l.GridSample', grid_size=0.05, mode='test'),
        dict(type='ToMMDet3DPoints'),
        dict(type='NormalizePointsColor', color_mean=None),
        dict(type='PointSample', num_points=160),  # equal sizes: EncoderDecoder3D stacks
        dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])])
    samples = [run(pipeline, write_scene(tmp_path, f's{i}', 500, seed=i)[0]) for i in range(2)]
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        # as an mmdet3d config file would give it (ConfigDict: test_cfg.mode)
        model = MMDET3D_MODELS.build(ConfigDict(
            type='EncoderDecoder3D',
            data_preprocessor=dict(type='Det3DDataPreprocessor'),
            backbone=dict(type='D3LBackbone', backbone=backbone, feat_dims=[3, 4, 5]),
            decode_head=dict(type='D3LSegHead', channels=8, num_classes=IGNORE,
                             ignore_index=IGNORE),
            train_cfg=dict(), test_cfg=dict(mode='whole')))
        assert type(model.backbone.backbone).__name__ == backbone['type']
        data = model.data_preprocessor(pseudo_collate(samples), True)
        losses = model(**data, mode='loss')
        assert set(losses) == {'decode.loss_sem_seg'}
        losses['decode.loss_sem_seg'].backward()
        assert all(p.grad is not None for p in model.backbone.parameters())
        model.eval()
        # the loss is the cross-entropy of the per-point logits against the
        # packed masks, ignored points excluded (points and labels aligned)
        with torch.no_grad():
            eval_loss = model(**data, mode='loss')['decode.loss_sem_seg']
            points = torch.stack(data['inputs']['points'])
            logits = model.decode_head(model.extract_feat(points))
        target = torch.stack([s.gt_pts_seg.pts_semantic_mask for s in data['data_samples']])
        assert (target == IGNORE).any()
        # mmdet's CrossEntropyLoss (avg_non_ignore=False) averages over all points
        expected = F.cross_entropy(logits, target, ignore_index=IGNORE,
                                   reduction='sum') / target.numel()
        torch.testing.assert_close(eval_loss, expected, rtol=1e-4, atol=1e-5)
        data = model.data_preprocessor(pseudo_collate(samples), False)
        with torch.no_grad():
            results = model(**data, mode='predict')
    assert len(results) == 2
    for result in results:
        pred = result.pred_pts_seg.pts_semantic_mask
        assert pred.shape == (160,) and int(pred.max()) < IGNORE


def test_real_scannet_sample_from_mmdet3d_loader_into_d3l_model(realdata):
    """Real ScanNet points loaded by mmdet3d, subsampled by d3l, segmented by
    a d3l model (the reverse direction: mmdet3d loading feeding d3l)."""
    from mmengine.registry import init_default_scope

    from d3l.datasets import point_collate
    from d3l.registry import MODELS

    root = realdata('scannet_scene0000', 'mmdet3d_tiny')
    info = dict(lidar_points=dict(lidar_path=f'{root}/points_scene0000_00.bin'),
                pts_semantic_mask_path=f'{root}/semantic_mask_scene0000_00.bin',
                sample_idx='scene0000_00')
    pipeline = mmdet3d_pipeline([dict(type='FromMMDet3DPoints'),
                                 dict(type='d3l.GridSample', grid_size=0.2, mode='test',
                                      return_inverse=True),
                                 dict(type='d3l.PackPointInputs', feat_keys=('colors',))])
    sample = run(pipeline, info)
    raw = np.fromfile(f'{root}/points_scene0000_00.bin', dtype=np.float32).reshape(-1, 6)
    assert sample['data_samples']['inverse'].shape == (len(raw),)
    init_default_scope('d3l')
    model = MODELS.build(dict(
        type='Segmentor',
        backbone=dict(type='SparseUNet', in_channels=3, voxel_size=0.2, **TINY),
        decode_head=dict(type='SegHead', num_classes=41)))
    model.eval()
    data = model.data_preprocessor(point_collate([sample]), False)
    result = model(**data, mode='predict')[0]
    # predictions are scored on all 100 original points (inverse map)
    assert result['pred'].shape == result['gt'].shape == (len(raw),)
    np.testing.assert_array_equal(
        result['gt'].numpy(),
        np.fromfile(f'{root}/semantic_mask_scene0000_00.bin', dtype=np.int64))
