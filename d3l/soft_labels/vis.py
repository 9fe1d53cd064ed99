"""PNG overlays of teacher labels (``generate_pseudo_labels.py --vis``)."""
from __future__ import annotations

import re

import numpy as np

from d3l.utils import fileio


def safe_name(frame_id: str) -> str:
    return re.sub(r'[^A-Za-z0-9._-]+', '_', frame_id)


def save_overlay(path: str, img: np.ndarray, probs, stride: int) -> None:
    """image | top-1 class over the image | confidence (white = 1)."""
    from PIL import Image

    from d3l.visualization import default_palette

    num_classes = probs.shape[0]
    conf, top1 = probs.max(0)
    top1 = top1.cpu().numpy()
    conf = conf.cpu().numpy()
    height, width = img.shape[:2]
    if stride > 1:
        top1 = np.repeat(np.repeat(top1, stride, 0), stride, 1)[:height, :width]
        conf = np.repeat(np.repeat(conf, stride, 0), stride, 1)[:height, :width]
    colors = default_palette(num_classes)[top1]
    overlay = (0.4 * img + 0.6 * colors).astype(np.uint8)
    conf_img = np.repeat((conf * 255).astype(np.uint8)[..., None], 3, 2)
    canvas = np.concatenate([img, overlay, conf_img], axis=1)
    with fileio.atomic_open(path, 'wb') as f:
        Image.fromarray(canvas).save(f, format='PNG')
