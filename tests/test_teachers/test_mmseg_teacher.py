"""MMSegTeacher: tiny random DPT through mmseg's own init/inference path."""
import numpy as np
import pytest
import torch
from pseudo_label_data import tiny_dpt_checkpoint

from d3l.registry import MODELS
from d3l.teachers import MMSegTeacher, TeacherCheckpointError
from d3l.teachers.mmseg_teacher import DEFAULT_MMSEG_CONFIG, tiny_dpt_config


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    return tiny_dpt_checkpoint(tmp_path_factory.mktemp('dpt'), num_classes=150)


@pytest.mark.parametrize('resize', [False, True])
def test_matches_mmseg_inference_model(tiny, resize):
    """Independent reference: mmseg.apis.init_model + inference_model (its
    own BGR loading, normalisation, resize and logits upsampling)."""
    from mmengine.config import Config
    from mmseg.apis import inference_model, init_model

    config, ckpt = tiny
    scale = (80, 40)
    pipeline = [dict(type='LoadImageFromFile'), dict(type='PackSegInputs')]
    if resize:
        pipeline.insert(1, dict(type='Resize', scale=scale, keep_ratio=True))
    cfg = Config(dict(config, test_pipeline=pipeline))
    reference_model = init_model(cfg, ckpt, device='cpu')
    rng = np.random.default_rng(0)
    rgb = (rng.random((30, 52, 3)) * 255).astype(np.uint8)
    reference = inference_model(reference_model, rgb[..., ::-1].copy())  # mmseg wants BGR
    ref_probs = torch.softmax(reference.seg_logits.data, 0)

    teacher = MODELS.build(dict(type='d3l.MMSegTeacher', config=cfg, checkpoint=ckpt,
                                device='cpu'))
    assert teacher.scale == (scale if resize else None)  # from the config's test pipeline
    if resize:
        assert teacher.input_size(30, 52) == (40, 69)  # mmcv.imrescale's size
    probs = teacher(torch.from_numpy(rgb).permute(2, 0, 1)[None].float())[0]
    assert probs.shape == (150, 30, 52)
    torch.testing.assert_close(probs.sum(0), torch.ones(30, 52))
    # without resizing the pipelines are identical; cv2's fixed-point bilinear
    # resize differs slightly from torch's
    error = (probs - ref_probs).abs().max()
    assert error < (5e-3 if resize else 1e-5)
    assert (probs.argmax(0) == ref_probs.argmax(0)).float().mean() > 0.99
    # feeding RGB where the model expects BGR changes the outputs a lot
    swapped = teacher(torch.from_numpy(rgb[..., ::-1].copy()).permute(2, 0, 1)[None].float())[0]
    assert (swapped - ref_probs).abs().max() > max(10 * error, 1e-3)


def test_temperature_and_label_frame_stride(tiny):
    config, ckpt = tiny
    teacher = MMSegTeacher(config=config, checkpoint=ckpt, scale=None, device='cpu')
    hot = MMSegTeacher(config=config, checkpoint=ckpt, scale=None, device='cpu',
                       temperature=0.5)
    img = torch.from_numpy(np.random.default_rng(1).integers(0, 255, (1, 3, 32, 48))).float()
    logits = torch.nn.functional.interpolate(teacher.logits(img), size=(32, 48),
                                             mode='bilinear', align_corners=False)
    torch.testing.assert_close(hot(img), torch.softmax(logits / 0.5, 1))
    torch.testing.assert_close(teacher(img), torch.softmax(logits, 1))
    sample = {'img': img[0].permute(1, 2, 0).numpy().astype(np.uint8)}
    grid = teacher.label_frame(sample, stride=4)
    assert grid.shape == (150, 8, 12)
    torch.testing.assert_close(grid.sum(0), torch.ones(8, 12))


def test_checkpoint_errors(tiny, tmp_path):
    config, ckpt = tiny
    with pytest.raises(TeacherCheckpointError, match='checkpoint is required'):
        MMSegTeacher(config=config)
    with pytest.raises(TeacherCheckpointError, match='does not exist'):
        MMSegTeacher(config=config, checkpoint=str(tmp_path / 'nope.pth'))
    # a checkpoint of a 19-class model for a 150-class config
    _, other = tiny_dpt_checkpoint(tmp_path, num_classes=19, name='c19.pth')
    with pytest.raises(TeacherCheckpointError, match='shape mismatch'):
        MMSegTeacher(config=config, checkpoint=other)
    truncated = tmp_path / 'trunc.pth'
    truncated.write_bytes(open(ckpt, 'rb').read()[:1000])
    with pytest.raises(TeacherCheckpointError, match='corrupt'):
        MMSegTeacher(config=config, checkpoint=str(truncated))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        MMSegTeacher(config=str(tmp_path / 'missing_cfg.py'), checkpoint=ckpt)


def test_default_config_is_dpt_ade20k():
    from mmengine.config import Config

    from d3l.teachers.mmseg_teacher import resolve_package_config
    cfg = Config.fromfile(resolve_package_config(DEFAULT_MMSEG_CONFIG))
    assert cfg.model.backbone.type == 'VisionTransformer'
    assert cfg.model.decode_head.type == 'DPTHead'
    assert cfg.model.decode_head.num_classes == 150


def test_class_names_from_checkpoint_meta(tmp_path):
    from d3l.teachers.mmseg_teacher import save_random_mmseg_checkpoint
    config = tiny_dpt_config(num_classes=3)
    path = save_random_mmseg_checkpoint(config, str(tmp_path / 'c3.pth'),
                                        class_names=['wall', 'floor', 'chair'])
    teacher = MMSegTeacher(config=config, checkpoint=path, device='cpu')
    assert teacher.class_names == ['wall', 'floor', 'chair'] and teacher.num_classes == 3
    with pytest.raises(ValueError, match='2 class names'):
        MMSegTeacher(config=config, checkpoint=path, class_names=['a', 'b'])
