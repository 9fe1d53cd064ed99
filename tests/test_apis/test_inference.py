"""init_model (weights_only, exact keys), inference_segmentor on the config's
test pipeline, inference_classifier and the registered Inferencer."""
import os.path as osp
import textwrap

import numpy as np
import pytest
import torch
from mmengine.registry import init_default_scope

from d3l.apis import (
    CheckpointMismatchError,
    PointSegInferencer,
    inference_classifier,
    inference_segmentor,
    init_model,
)
from d3l.registry import INFERENCERS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEG_CONFIG = '''
_base_ = ['{repo}/configs/_base_/datasets/scannet.py', '{repo}/configs/_base_/models/ocnn_unet.py']
default_scope = 'd3l'
model = dict(backbone=dict(depth=7, stem_channels=4, enc_channels=[4, 8], enc_blocks=[1, 1],
                           dec_channels=[8, 4], dec_blocks=[1, 1]))
'''
CLS_CONFIG = '''
_base_ = ['{repo}/configs/_base_/datasets/modelnet40.py']
default_scope = 'd3l'
model = dict(type='Classifier',
             backbone=dict(type='PointMLP', in_channels=6, channels=(16, 32), global_pool=True),
             cls_head=dict(type='ClsHead', num_classes=40))
'''


@pytest.fixture(autouse=True)
def d3l_scope():
    init_default_scope('d3l')


def write_config(tmp_path, text, name='cfg.py'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text.format(repo=REPO)))
    return str(path)


def random_checkpoint(config, path, seed=0):
    """A checkpoint of a randomly initialised model with trained-looking BN."""
    torch.manual_seed(seed)
    model = init_model(config)
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.2, 0.2)
            module.running_var.uniform_(0.5, 2.0)
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return str(path), model


def room(n=4000, seed=0, size=(6.0, 5.0, 2.6)):
    rng = np.random.default_rng(seed)
    pts = rng.random((n, 3)) * size
    face = rng.integers(0, 3, n)
    pts[face == 0, 2] = 0
    pts[face == 1, 0] = 0
    pts[face == 2, 1] = size[1]
    colors = np.where(face[:, None] == 0, [0.8, 0.7, 0.5], [0.3, 0.4, 0.9]) \
        + rng.normal(0, 0.02, (n, 3))
    return pts.astype(np.float32), np.clip(colors, 0, 1).astype(np.float32)


@pytest.fixture(scope='module')
def seg(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('seg')
    config = write_config(tmp, SEG_CONFIG)
    checkpoint, reference = random_checkpoint(config, tmp / 'seg.pth')
    return config, checkpoint, reference


def test_init_model_loads_every_tensor_and_the_dataset_meta(seg):
    config, checkpoint, reference = seg
    model = init_model(config, checkpoint)
    assert not model.training
    for key, value in reference.state_dict().items():
        assert torch.equal(model.state_dict()[key], value), key
    assert model.dataset_meta['classes'][:2] == ('wall', 'floor')
    assert len(model.dataset_meta['palette']) == 20


def test_checkpoint_that_does_not_match_is_an_error_naming_the_keys(seg, tmp_path):
    config, checkpoint, _ = seg
    state = torch.load(checkpoint, weights_only=True)['state_dict']
    missing = dict(state)
    missing.pop('decode_head.classifier.weight')
    torch.save({'state_dict': missing}, tmp_path / 'missing.pth')
    with pytest.raises(CheckpointMismatchError,
                       match='1 model tensors missing from it: decode_head.classifier.weight'):
        init_model(config, str(tmp_path / 'missing.pth'))
    extra = dict(state, **{'aux_head.weight': torch.zeros(3)})
    torch.save(extra, tmp_path / 'extra.pth')  # a plain state dict
    with pytest.raises(CheckpointMismatchError, match='1 unexpected tensors: aux_head.weight'):
        init_model(config, str(tmp_path / 'extra.pth'))
    shaped = dict(state, **{'decode_head.classifier.weight': torch.zeros(13, 4)})
    torch.save({'state_dict': shaped}, tmp_path / 'shape.pth')
    with pytest.raises(CheckpointMismatchError, match=r'decode_head.classifier.weight '
                                                      r'\(13, 4\) vs \(20, 4\)'):
        init_model(config, str(tmp_path / 'shape.pth'))
    (tmp_path / 'broken.pth').write_bytes(open(checkpoint, 'rb').read()[:300])
    with pytest.raises(CheckpointMismatchError, match='corrupt or truncated'):
        init_model(config, str(tmp_path / 'broken.pth'))


def test_inference_segmentor_runs_the_test_pipeline_and_labels_every_point(seg):
    config, checkpoint, _ = seg
    model = init_model(config, checkpoint)
    points, colors = room()
    # duplicates fall in the same 2 cm voxel of GridSample: they must get their voxel's label
    points = np.concatenate([points, points[:100] + 0.001])
    colors = np.concatenate([colors, colors[:100]])
    out = inference_segmentor(model, points, colors * 255)  # 0-255 colours are rescaled
    assert out['labels'].shape == (4100,) and out['probs'].shape == (4100, 20)
    np.testing.assert_allclose(out['probs'].sum(1), 1, rtol=1e-5)
    np.testing.assert_array_equal(out['labels'], out['probs'].argmax(1))
    assert np.array_equal(out['labels'][4000:], out['labels'][:100])
    # the same features as training: colours + normals (estimated here) -> 6 channels
    from d3l.apis.inference import prepare_sample
    packed = prepare_sample(model, points, colors)
    feat = packed['inputs']['feat'].numpy()
    assert feat.shape[1] == 6 and len(feat) < len(points)  # voxel subsampled
    np.testing.assert_allclose(np.linalg.norm(feat[:, 3:], axis=1), 1, atol=1e-4)
    # given normals are used as they are (no estimation)
    normals = np.tile([[0, 0, 1.0]], (len(points), 1))
    packed = prepare_sample(model, points, colors, normals)
    np.testing.assert_allclose(packed['inputs']['feat'][:, 3:].numpy(),
                               np.tile([[0, 0, 1.0]], (len(packed['inputs']['feat']), 1)))
    # the direct model path (the config's data preprocessor, predict) agrees
    from d3l.datasets.collate import point_collate
    packed = prepare_sample(model, points, colors / 1.0)
    data = model.data_preprocessor(point_collate([packed]), False)
    pred = model.predict(data['inputs'], data['data_samples'])[0]['pred'].numpy()
    np.testing.assert_array_equal(pred, out['labels'])


def test_bad_arrays_are_clear_errors(seg):
    config, checkpoint, _ = seg
    model = init_model(config, checkpoint)
    points, colors = room(200)
    points[5] = np.nan
    with pytest.raises(Exception, match='my_scan: 1 points have NaN'):
        inference_segmentor(model, points, colors, name='my_scan')
    with pytest.raises(Exception, match=r'colors must be \(200, 3\)'):
        inference_segmentor(model, room(200)[0], colors[:10])


def test_inference_classifier_normalises_the_shape_as_the_dataset(tmp_path):
    config = write_config(tmp_path, CLS_CONFIG)
    checkpoint, _ = random_checkpoint(config, tmp_path / 'cls.pth')
    model = init_model(config, checkpoint)
    rng = np.random.default_rng(1)
    shape = rng.normal(size=(500, 3)).astype(np.float32)
    out = inference_classifier(model, shape)
    assert 0 <= out['label'] < 40 and out['scores'].shape == (40,)
    np.testing.assert_allclose(out['scores'].sum(), 1, rtol=1e-5)
    moved = inference_classifier(model, shape * 7.5 + np.float32([10, -3, 2]))
    np.testing.assert_allclose(moved['scores'], out['scores'], rtol=1e-4, atol=1e-5)


def test_inferencer_is_registered_and_agrees_with_the_api(seg, tmp_path):
    config, checkpoint, _ = seg
    init_default_scope('d3l')
    assert INFERENCERS.get('PointSegInferencer') is PointSegInferencer
    assert INFERENCERS.get('seg-3d') is PointSegInferencer
    inferencer = PointSegInferencer(config, checkpoint, device='cpu', show_progress=False)
    points, colors = room(1500, seed=3)
    np.save(tmp_path / 'scan.npy', np.concatenate([points, colors], 1))
    out = inferencer([str(tmp_path / 'scan.npy'), dict(points=points, colors=colors)],
                     out_dir=str(tmp_path / 'out'))
    direct = inference_segmentor(init_model(config, checkpoint), points, colors)
    for pred in out['predictions']:
        np.testing.assert_array_equal(pred['labels'], direct['labels'])
    assert out['visualization'][0] == str(tmp_path / 'out' / 'scan_pred.ply')
    assert osp.isfile(out['visualization'][1])


def test_models_registry_builds_segmentor_with_test_cfg():
    init_default_scope('d3l')
    model = MODELS.build(dict(type='Segmentor', test_cfg=dict(mode='whole'),
                              backbone=dict(type='PointMLP', in_channels=6),
                              decode_head=dict(type='SegHead', num_classes=3)))
    assert model.test_cfg == dict(mode='whole', window_size=10.0, stride=5.0)
