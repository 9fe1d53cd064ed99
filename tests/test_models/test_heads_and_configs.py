"""SegHead / ClsHead on the U-Nets, the model base configs, Segmentor and
Classifier end to end with either backbone."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.registry import init_default_scope
from model_test_utils import BACKBONES, TINY, two_clouds

from d3l.models.heads import ClsHead, SegHead
from d3l.registry import MODELS

CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                      'configs', '_base_', 'models')
TYPES = {'ocnn': 'OCNNUNet', 'spconv': 'SparseUNet'}
TINY_ARGS = {'ocnn': dict(depth=5, scale=1.6), 'spconv': dict(voxel_size=0.1)}


@pytest.fixture(autouse=True)
def d3l_scope():
    init_default_scope('d3l')


def test_seg_head_is_a_linear_layer_per_point():
    head = SegHead(8, 5)
    feats = torch.randn(30, 8)
    expected = F.linear(feats, head.classifier.weight, head.classifier.bias)
    torch.testing.assert_close(head(feats), expected)


def test_cls_head_is_linear_on_pooled_features_in_eval():
    head = ClsHead(16, 4).eval()  # dropout inactive
    pooled = torch.randn(2, 16)
    expected = F.linear(pooled, head.classifier.weight, head.classifier.bias)
    torch.testing.assert_close(head(pooled), expected)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_segmentor_with_unet_trains_and_predicts_per_point(name):
    model = MODELS.build(dict(
        type='Segmentor', backbone=dict(type=TYPES[name], in_channels=6, **TINY,
                                        **TINY_ARGS[name]),
        decode_head=dict(type='SegHead', num_classes=4), return_probs=True))
    batch = two_clouds()
    labels = [torch.randint(0, 4, (n,)) for n in batch.counts.tolist()]
    labels[0][:50] = 255
    samples = [{'labels': lab, 'metainfo': {'i': i}} for i, lab in enumerate(labels)]
    losses = model.loss(batch, samples)
    losses['loss_seg'].backward()
    assert torch.isfinite(losses['loss_seg'])
    assert all(p.grad is not None for p in model.parameters())
    results = model.predict(batch, samples)
    for result, lab in zip(results, labels):
        assert result['pred'].shape == lab.shape
        torch.testing.assert_close(result['probs'].sum(1), torch.ones(lab.shape[0]))
        assert torch.equal(result['pred'], result['probs'].argmax(1))


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_classifier_with_encoder_and_cls_head(name):
    model = MODELS.build(dict(
        type='Classifier', backbone=dict(type=TYPES[name], in_channels=6, global_pool=True,
                                         **TINY, **TINY_ARGS[name]),
        cls_head=dict(type='ClsHead', num_classes=3)))
    assert model.cls_head.classifier.in_features == 16  # the deepest encoder width
    batch = two_clouds()
    samples = [{'label': 0, 'metainfo': {}}, {'label': 2, 'metainfo': {}}]
    losses = model.loss(batch, samples)
    losses['loss_cls'].backward()
    assert all(p.grad is not None for p in model.parameters())
    model.eval()
    results = model.predict(batch, samples)
    assert [r['gt_label'] for r in results] == [0, 2]
    for r in results:
        assert r['scores'].shape == (3,)
        assert abs(float(r['scores'].sum()) - 1) < 1e-5
        assert r['pred_label'] == int(r['scores'].argmax())


@pytest.mark.parametrize('config,algorithm,backbone,num_classes', [
    ('ocnn_unet.py', 'Segmentor', 'OCNNUNet', 20),
    ('spconv_unet.py', 'Segmentor', 'SparseUNet', 20),
    ('ocnn_cls.py', 'Classifier', 'OCNNUNet', 40),
    ('spconv_cls.py', 'Classifier', 'SparseUNet', 40),
])
def test_model_base_configs(config, algorithm, backbone, num_classes):
    cfg = Config.fromfile(osp.join(CONFIG_DIR, config))
    model_cfg = cfg.model
    assert model_cfg.type == algorithm and model_cfg.backbone.type == backbone
    assert model_cfg.backbone.in_channels == 6  # ('colors', 'normals')
    head = model_cfg.get('decode_head') or model_cfg.get('cls_head')
    assert head.num_classes == num_classes
    if config == 'ocnn_unet.py':
        # the paper's scene octree: 512^3 leaves of 2 cm
        leaf = 2 * model_cfg.backbone.scale / 2 ** model_cfg.backbone.depth
        assert model_cfg.backbone.depth == 9 and abs(leaf - 0.02) < 1e-9
    if config == 'spconv_unet.py':
        assert model_cfg.backbone.voxel_size == 0.02
    # built at tiny widths, the config runs end to end
    model_cfg.backbone.update(TINY)
    if algorithm == 'Classifier':
        for key in ('dec_channels', 'dec_blocks'):
            model_cfg.backbone.pop(key)
    model = MODELS.build(model_cfg)
    model.eval()
    batch = two_clouds()
    out = model(batch, mode='tensor')
    assert out.shape == (batch.num_points if algorithm == 'Segmentor' else 2, num_classes)


def test_classifier_config_encoder_matches_unet_encoder():
    """The classification encoders have the scene U-Nets' encoder shapes, so
    pre-trained weights transfer."""
    for kind in ('ocnn', 'spconv'):
        unet = Config.fromfile(osp.join(CONFIG_DIR, f'{kind}_unet.py')).model.backbone
        cls = Config.fromfile(osp.join(CONFIG_DIR, f'{kind}_cls.py')).model.backbone
        for key in ('in_channels', 'stem_channels', 'enc_channels', 'enc_blocks'):
            assert unet[key] == cls[key], (kind, key)
