"""TFLiteTeacher: the real DeepLabv3-MobileNetV2 (Pascal VOC, uint8) run in torch,
checked against ScanNet's own chair labels projected into a real frame."""
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from d3l.teachers import TeacherCheckpointError
from d3l.teachers.tflite_teacher import TFLiteTeacher, _same_pad, resize_bilinear_tf

MODEL_257 = ('seg2d_deeplabv3_mnv2_tflite', 'deeplabv3_mnv2_pascal_257_os16_quant.tflite')
NYU40_SOFA, VOC_SOFA = 6, 18


def _projected_labels(realdata, frame_index):
    """NYU40 label of the nearest ScanNet vertex seen by each pixel of a
    frame (z-buffer over the mesh vertices), 0 where none projects."""
    root = realdata('scannet_scene0000')
    vert = np.load(osp.join(root, 'scannet_train_instance_data', 'scene0000_00_vert_all.npy'))
    labels = np.load(osp.join(root, 'scannet_train_instance_data',
                              'scene0000_00_sem_label_all.npy'))
    cams = np.load(osp.join(root, 'cameras_scene0000_00.npz'))
    world = np.c_[vert[:, :3], np.ones(len(vert))] @ np.linalg.inv(cams['axis_align_matrix']).T
    cam = world @ np.linalg.inv(cams['extrinsics_cam2world'][frame_index]).T
    front = cam[:, 2] > 0.1
    uvw = cam[front, :3] @ cams['intrinsics'][:3, :3].T
    cols = (uvw[:, 0] / uvw[:, 2]).astype(int)
    rows = (uvw[:, 1] / uvw[:, 2]).astype(int)
    image = Image.open(osp.join(root, 'posed_images', 'scene0000_00',
                                str(cams['img_names'][frame_index]))).convert('RGB')
    width, height = image.size
    inside = (cols >= 0) & (cols < width) & (rows >= 0) & (rows < height)
    depth = np.full((height, width), np.inf)
    out = np.zeros((height, width), np.int64)
    order = np.argsort(-cam[front, 2][inside])  # far first, near ones overwrite
    r, c = rows[inside][order], cols[inside][order]
    depth[r, c] = cam[front, 2][inside][order]
    out[r, c] = labels[front][inside][order]
    return np.asarray(image), out


def test_real_deeplab_finds_the_sofa_of_scannets_labels(realdata):
    model = realdata(*MODEL_257)
    image, projected = _projected_labels(realdata, 2)  # frame 00102: the sofa in view
    teacher = TFLiteTeacher(model, keep_ratio=False, device='cpu')
    assert teacher.num_classes == 21 and teacher.class_names[VOC_SOFA] == 'sofa'
    probs = teacher(torch.from_numpy(image).permute(2, 0, 1)[None].float())[0]
    assert probs.shape == (21, *image.shape[:2])
    torch.testing.assert_close(probs.sum(0), torch.ones(image.shape[:2]))
    predicted = (probs.argmax(0) == VOC_SOFA).numpy()
    labelled = projected > 0
    sofa = projected == NYU40_SOFA
    assert predicted.sum() > 1000 and sofa.sum() > 1000
    # the model's sofa pixels against ScanNet's labels: precision and recall far above the
    # sofa's share of the labelled pixels (what a model blind to the image would reach)
    precision = sofa[predicted & labelled].mean()
    recall = predicted[sofa].mean()
    share = sofa[labelled].mean()
    assert precision > 1.5 * share and recall > 0.6, (precision, recall, share)  # 0.52 0.78 0.28


def test_keep_ratio_pads_and_crops_back(realdata):
    teacher = TFLiteTeacher(realdata(*MODEL_257), device='cpu')
    img = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 3, 100, 200))).float()
    logits = teacher.logits(img)
    assert logits.shape[-2:] == (128, 257)  # 257 x 129 of content, cropped from 257 x 257
    assert teacher.describe()['input_size'] == [257, 257]


def test_resize_and_padding_follow_tensorflow():
    x = torch.randn(1, 5, 7, 3)
    ours = resize_bilinear_tf(x, (9, 13), align_corners=True, half_pixel=False)
    ref = F.interpolate(x.permute(0, 3, 1, 2), size=(9, 13), mode='bilinear',
                        align_corners=True).permute(0, 2, 3, 1)
    torch.testing.assert_close(ours, ref)
    ours = resize_bilinear_tf(x, (10, 14), align_corners=False, half_pixel=True)
    ref = F.interpolate(x.permute(0, 3, 1, 2), size=(10, 14), mode='bilinear',
                        align_corners=False).permute(0, 2, 3, 1)
    torch.testing.assert_close(ours, ref)
    # legacy TF (neither option): output pixel i samples input i * in / out
    legacy = resize_bilinear_tf(torch.arange(4.0).reshape(1, 4, 1, 1), (8, 1), False, False)
    assert legacy.reshape(-1).tolist() == [0, 0.5, 1, 1.5, 2, 2.5, 3, 3]
    # SAME padding: 513 -> 257 with a 3x3 stride-2 kernel pads one pixel on each side
    assert _same_pad(torch.zeros(1, 1, 513, 513), (3, 3), (2, 2)).shape[-1] == 515
    assert _same_pad(torch.zeros(1, 1, 8, 8), (3, 3), (2, 2)).shape[-1] == 9  # extra one after


def test_not_a_tflite_file_is_an_error(tmp_path):
    bad = tmp_path / 'model.tflite'
    bad.write_bytes(b'\x00' * 64)
    with pytest.raises(TeacherCheckpointError, match='not a TFLite'):
        TFLiteTeacher(str(bad))
    with pytest.raises(TeacherCheckpointError, match='does not exist'):
        TFLiteTeacher(str(tmp_path / 'none.tflite'))
