"""PrecomputedTeacher (oracle labels, files) and HFTeacher (tiny SegFormer)."""
import numpy as np
import pytest
import torch
from PIL import Image

from d3l.teachers import HFTeacher, PrecomputedTeacher, TeacherCheckpointError


def test_ground_truth_labels_with_smoothing():
    labels = np.array([[0, 1, 255], [2, 2, 1]], np.int64)
    teacher = PrecomputedTeacher(num_classes=3, label_smoothing=0.1)
    probs = teacher.label_frame({'pixel_labels': labels, 'img': np.zeros((2, 3, 3), np.uint8)})
    assert probs.shape == (3, 2, 3)
    # (1 - eps) one_hot + eps / C, by hand
    torch.testing.assert_close(probs[:, 0, 0], torch.tensor([0.9 + 0.1 / 3, 0.1 / 3, 0.1 / 3]))
    torch.testing.assert_close(probs[:, 1, 1], torch.tensor([0.1 / 3, 0.1 / 3, 0.9 + 0.1 / 3]))
    assert torch.equal(probs[:, 0, 2], torch.zeros(3))  # ignore -> no label
    # stride 2 picks the cell-centre pixel, never mixes labels
    coarse = teacher.label_frame({'pixel_labels': labels}, stride=2)
    assert coarse.shape == (3, 1, 2)
    assert coarse[:, 0, 0].argmax() == 2  # pixel (1, 1) of the 2x2 cell
    with pytest.raises(KeyError, match='pixel_labels'):
        teacher.label_frame({'frame_id': 'f0'})
    with pytest.raises(ValueError, match='outside'):
        teacher.label_frame({'pixel_labels': np.array([[7]])})


def test_label_files_and_label_map(tmp_path):
    Image.fromarray(np.array([[5, 9], [9, 0]], np.uint8)).save(tmp_path / 'sceneA_f1.png')
    teacher = PrecomputedTeacher(class_names=['floor', 'wall'], source='files',
                                 root=str(tmp_path), pattern='{scene_id}_{frame_id}.png',
                                 label_map={5: 0, 9: 1})
    probs = teacher.label_frame({'frame_id': 'f1', 'scene_id': 'sceneA'})
    assert probs[:, 0, 0].tolist() == [1.0, 0.0] and probs[:, 0, 1].tolist() == [0.0, 1.0]
    assert probs[:, 1, 1].sum() == 0  # 0 is not in the map -> ignored
    with pytest.raises(FileNotFoundError, match='sceneA_f2.png'):
        teacher.label_frame({'frame_id': 'f2', 'scene_id': 'sceneA'})


def test_probability_files_with_temperature(tmp_path):
    probs = np.random.default_rng(0).dirichlet([1.0] * 4, size=(3, 5)).astype(np.float32)
    np.save(tmp_path / 'f.npy', probs)
    teacher = PrecomputedTeacher(num_classes=4, source='files', root=str(tmp_path),
                                 pattern='{frame_id}.npy', kind='probs', temperature=2.0)
    out = teacher.label_frame({'frame_id': 'f'})
    expected = torch.softmax(torch.from_numpy(np.log(probs)).permute(2, 0, 1) / 2.0, 0)
    torch.testing.assert_close(out, expected)


@pytest.fixture(scope='module')
def tiny_segformer(tmp_path_factory):
    transformers = pytest.importorskip('transformers', reason='transformers is not installed')
    config = transformers.SegformerConfig(
        num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
        hidden_sizes=[8, 16], patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 2],
        mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=5,
        id2label={i: f'c{i}' for i in range(5)}, label2id={f'c{i}': i for i in range(5)})
    torch.manual_seed(0)
    model = transformers.SegformerForSemanticSegmentation(config).eval()
    path = tmp_path_factory.mktemp('segformer')
    model.save_pretrained(path)
    (path / 'preprocessor_config.json').write_text(
        '{"do_normalize": true, "do_rescale": true, "rescale_factor": 0.00392156862745098, '
        '"image_mean": [0.485, 0.456, 0.406], "image_std": [0.229, 0.224, 0.225], '
        '"do_resize": true, "size": {"height": 64, "width": 64}}')
    return model, path


def test_hf_teacher_matches_manual_forward(tiny_segformer):
    model, path = tiny_segformer
    teacher = HFTeacher(str(path), device='cpu')
    assert teacher.class_names == [f'c{i}' for i in range(5)]
    img = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 40, 56))).float()
    probs = teacher(img)
    # reference: resize to 64x64, normalise by hand, run the model, upsample
    x = torch.nn.functional.interpolate(img, size=(64, 64), mode='bilinear', align_corners=False)
    mean = torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1)
    with torch.no_grad():
        logits = model(pixel_values=(x / 255 - mean) / std).logits
    expected = torch.softmax(torch.nn.functional.interpolate(
        logits, size=(40, 56), mode='bilinear', align_corners=False), 1)
    assert probs.shape == (1, 5, 40, 56)
    torch.testing.assert_close(probs, expected, atol=1e-5, rtol=1e-4)


def test_hf_teacher_errors(tiny_segformer, tmp_path):
    _, path = tiny_segformer
    with pytest.raises(TeacherCheckpointError, match='does not exist'):
        HFTeacher(str(tmp_path / 'none'))
    empty = tmp_path / 'empty'
    empty.mkdir()
    (empty / 'config.json').write_text((path / 'config.json').read_text())
    with pytest.raises(TeacherCheckpointError, match='no weights'):
        HFTeacher(str(empty))
    # weights of a 5-class head under a config saying 7 classes
    import json
    import shutil
    other = tmp_path / 'other'
    shutil.copytree(path, other)
    cfg = json.loads((other / 'config.json').read_text())
    cfg.update(num_labels=7, id2label={str(i): f'c{i}' for i in range(7)},
               label2id={f'c{i}': i for i in range(7)})
    (other / 'config.json').write_text(json.dumps(cfg))
    with pytest.raises(TeacherCheckpointError, match='mismatched|do not fit|cannot load'):
        HFTeacher(str(other))
