"""Small generated RGB-D frames and tiny teachers for the pseudo-label tests."""
import json
import os
import os.path as osp

import numpy as np
from PIL import Image

FX, FY = 40.0, 40.0


def make_rgbd_folder(root, num_frames=6, height=36, width=48, seed=0, scene='scene0',
                     bad_frames=(), with_labels=False, num_label_classes=5):
    """A RGBDFolderDataset layout: smooth colour + depth of a tilted plane.

    ``bad_frames``: indices whose depth file is truncated (unreadable).
    """
    rng = np.random.default_rng(seed)
    folder = osp.join(root, scene)
    for sub in ('rgb', 'depth') + (('label',) if with_labels else ()):
        os.makedirs(osp.join(folder, sub), exist_ok=True)
    with open(osp.join(folder, 'camera.json'), 'w') as f:
        json.dump(dict(fx=FX, fy=FY, cx=(width - 1) / 2, cy=(height - 1) / 2), f)
    rows, cols = np.mgrid[0:height, 0:width]
    for i in range(num_frames):
        phase = rng.uniform(0, 2 * np.pi, 3)
        img = np.stack([127 + 120 * np.sin(cols / 7.0 + phase[0] + rows / 11.0),
                        127 + 120 * np.sin(rows / 5.0 + phase[1]),
                        127 + 120 * np.cos((rows + cols) / 9.0 + phase[2])], -1)
        Image.fromarray(img.clip(0, 255).astype(np.uint8)).save(
            osp.join(folder, 'rgb', f'{i:04d}.png'))
        depth_m = 1.5 + 0.02 * cols + 0.01 * rows + 0.1 * i
        depth = (depth_m * 1000).astype(np.uint16)
        depth[:2, :3] = 0  # a few invalid pixels
        path = osp.join(folder, 'depth', f'{i:04d}.png')
        Image.fromarray(depth).save(path)
        if i in bad_frames:
            with open(path, 'r+b') as f:
                f.truncate(40)
        if with_labels:
            # classes follow the red channel: learnable from per-point colour
            red = img[..., 0].clip(0, 255)
            labels = np.minimum(red * num_label_classes // 256,
                                num_label_classes - 1).astype(np.uint8)
            labels[-3:, :] = 255
            Image.fromarray(labels).save(osp.join(folder, 'label', f'{i:04d}.png'))
    return root


def tiny_dpt_checkpoint(tmp_dir, num_classes=150, seed=0, name='tiny_dpt.pth'):
    """(config dict, checkpoint path) of a randomly initialised tiny DPT."""
    from d3l.teachers.mmseg_teacher import save_random_mmseg_checkpoint, tiny_dpt_config

    config = tiny_dpt_config(num_classes=num_classes)
    path = osp.join(str(tmp_dir), name)
    save_random_mmseg_checkpoint(config, path, seed=seed)
    return config, path


def write_tiny_dpt_config(tmp_dir, num_classes=150, name='tiny_dpt_cfg.py'):
    """The tiny DPT as an mmseg config file (for configs used by tools)."""
    from d3l.teachers.mmseg_teacher import tiny_dpt_config

    path = osp.join(str(tmp_dir), name)
    with open(path, 'w') as f:
        f.write(f'model = {tiny_dpt_config(num_classes=num_classes)["model"]!r}\n')
    return path
