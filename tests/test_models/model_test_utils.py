"""Tiny clouds and model settings shared by the tests in tests/test_models."""
import contextlib
import logging

import numpy as np
import torch
from mmengine.logging import MMLogger

from d3l.models.backbones import OCNNUNet, SparseUNet
from d3l.structures import PointBatch

TINY = dict(stem_channels=8, enc_channels=[8, 16, 16], enc_blocks=[1, 1, 1],
            dec_channels=[16, 16, 8], dec_blocks=[1, 1, 1])
LEAF = 0.1  # metres: OCNNUNet depth 5 over a 3.2 m cube, SparseUNet voxel


def make_ocnn(**kwargs):
    cfg = dict(depth=5, full_depth=2, normalize='scene', scale=1.6, **TINY)
    cfg.update(kwargs)
    return OCNNUNet(6, **cfg)


def make_sparse(**kwargs):
    cfg = dict(voxel_size=LEAF, **TINY)
    cfg.update(kwargs)
    return SparseUNet(6, **cfg)


BACKBONES = {'ocnn': make_ocnn, 'spconv': make_sparse}


def room(num_points: int, seed: int, size=(2.4, 2.0, 1.2)):
    """Points on the floor and walls of a box room plus a box on the floor,
    with colours and unit normals (the 6 scene input channels)."""
    rng = np.random.default_rng(seed)
    size = np.asarray(size)
    face = rng.integers(0, 4, num_points)
    pts = rng.random((num_points, 3)) * size
    normals = np.zeros((num_points, 3))
    pts[face == 0, 2] = 0.0
    normals[face == 0] = (0, 0, 1)
    pts[face == 1, 0] = 0.0
    normals[face == 1] = (1, 0, 0)
    pts[face == 2, 1] = 0.0
    normals[face == 2] = (0, 1, 0)
    box = face == 3  # top of a table-like box
    pts[box] = pts[box] * (0.6, 0.5, 0) + (0.8, 0.7, 0.7)
    normals[box] = (0, 0, 1)
    colors = rng.random((num_points, 3))
    feat = np.concatenate([colors, normals], 1)
    return torch.tensor(pts, dtype=torch.float32), torch.tensor(feat, dtype=torch.float32)


def two_clouds(sizes=(700, 400)):
    clouds = [room(n, seed=i) for i, n in enumerate(sizes)]
    return PointBatch.from_list([c for c, _ in clouds], [f for _, f in clouds])


@contextlib.contextmanager
def captured_log():
    """Records logged to MMEngine's current logger inside the block."""
    logger = MMLogger.get_current_instance()
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger.addHandler(handler)
    try:
        yield records
    finally:
        logger.removeHandler(handler)


def run_eval(model, batch):
    model.eval()
    with torch.no_grad():
        return model(PointBatch(batch.coord, batch.feat, batch.batch, batch.batch_size))


