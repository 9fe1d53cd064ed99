"""Analytic RGB-D scenes and tiny on-disk RGB-D datasets for the RGB-D
tests (importable from any test: pytest puts ``tests/`` on ``sys.path``).

The scene is a camera inside an axis-aligned box room: every ray hits a wall,
so depth, ray distance, hit point and surface normal of each pixel are known
in closed form, independently of the code under test."""
import json
import os
import os.path as osp
from typing import Optional, Tuple

import numpy as np
from PIL import Image

ROOM = np.array([2.0, 1.5, 1.2])  # half extents of the room (x, y, z), metres
K_SMALL = np.array([[60.0, 0.0, 39.5], [0.0, 60.0, 29.5], [0.0, 0.0, 1.0]])


def box_hits(directions: np.ndarray, half: np.ndarray = ROOM,
             origin: np.ndarray = np.zeros(3)) -> Tuple[np.ndarray, np.ndarray]:
    """Ray parameter ``t`` (N,) and inward unit normal (N, 3) of rays
    ``origin + t * direction`` leaving a box ``[-half, half]``."""
    directions = np.asarray(directions, np.float64)
    with np.errstate(divide='ignore'):
        t_axes = np.where(directions > 0, (half - origin) / directions,
                          np.where(directions < 0, (-half - origin) / directions, np.inf))
    axis = np.argmin(t_axes, axis=1)
    t = t_axes[np.arange(len(t_axes)), axis]
    normals = np.zeros_like(directions)
    normals[np.arange(len(axis)), axis] = -np.sign(directions[np.arange(len(axis)), axis])
    return t, normals


def perspective_room(K: np.ndarray = K_SMALL, size=(60, 80), cam2world: Optional[np.ndarray] = None,
                     origin=(0.3, -0.2, 0.1)):
    """z-depth (H, W), world hit points (H, W, 3) and inward world normals
    (H, W, 3) of a pinhole camera at ``origin`` with rotation ``cam2world``
    (3x3, camera -> world) inside the room."""
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    pix = np.stack([cols, rows, np.ones_like(cols)], -1).reshape(-1, 3)
    rays_cam = pix @ np.linalg.inv(K).T  # z = 1
    R = np.eye(3) if cam2world is None else np.asarray(cam2world, np.float64)
    rays_world = rays_cam @ R.T
    origin = np.asarray(origin, np.float64)
    t, normals = box_hits(rays_world, origin=origin)
    hits = origin + rays_world * t[:, None]
    return (t.reshape(height, width).astype(np.float32), hits.reshape(height, width, 3),
            normals.reshape(height, width, 3))


def equirect_room(size=(64, 128), origin=(0.3, -0.2, 0.1)):
    """Ray distance (H, W), hit points relative to the camera (H, W, 3) and
    inward normals (H, W, 3) of a panorama at ``origin`` inside the room,
    using the panorama formula of the issue (u, v at pixel centres)."""
    height, width = size
    rows, cols = np.mgrid[0:height, 0:width].astype(np.float64)
    u = ((cols + 0.5) / width * 2 - 1) * np.pi
    v = ((rows + 0.5) / height * 2 - 1) * np.pi / 2
    dirs = np.stack([np.cos(v) * np.cos(u), np.cos(v) * np.sin(u), -np.sin(v)], -1).reshape(-1, 3)
    t, normals = box_hits(dirs, origin=np.asarray(origin, np.float64))
    hits = (dirs * t[:, None]).reshape(height, width, 3)
    return t.reshape(height, width).astype(np.float32), hits, normals.reshape(height, width, 3)


def gradient_image(height: int, width: int) -> np.ndarray:
    """Colour that encodes the pixel: R = column, G = row, B = 128."""
    rows, cols = np.mgrid[0:height, 0:width]
    img = np.stack([cols * 255 // max(width - 1, 1), rows * 255 // max(height - 1, 1),
                    np.full_like(rows, 128)], -1)
    return img.astype(np.uint8)


def write_png16(path: str, depth_m: np.ndarray, scale: float = 1000.0) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(np.round(depth_m * scale).astype(np.uint16)).save(path)


def write_rgb(path: str, img: np.ndarray) -> None:
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(img).save(path)


def make_folder_scene(root: str, num_frames: int = 3, K: np.ndarray = K_SMALL,
                      size=(60, 80), with_pose: bool = True, with_labels: bool = True,
                      camera_json: bool = True) -> dict:
    """A scene of the generic folder layout with the room rendered from
    ``num_frames`` cameras (rotated about z by 30 degrees each). Returns the
    ground truth per frame stem: depth, world points, normals, cam2world."""
    truth = {}
    for i in range(num_frames):
        angle = np.deg2rad(30 * i)
        # camera looking along world +x rotated about z; OpenCV axes -> z-up world
        cam_to_upright = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], np.float64)
        rz = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                       [0, 0, 1]])
        R = rz @ cam_to_upright
        origin = np.array([0.3, -0.2, 0.1])
        depth, hits, normals = perspective_room(K, size, R, origin)
        cam2world = np.eye(4)
        cam2world[:3, :3], cam2world[:3, 3] = R, origin
        stem = f'{i:04d}'
        write_png16(osp.join(root, 'depth', stem + '.png'), depth)
        write_rgb(osp.join(root, 'rgb', stem + '.png'), gradient_image(*size))
        if with_pose:
            os.makedirs(osp.join(root, 'pose'), exist_ok=True)
            np.savetxt(osp.join(root, 'pose', stem + '.txt'), cam2world)
        if with_labels:
            labels = np.argmax(np.abs(normals), axis=2).astype(np.uint8)  # 0/1/2 = x/y/z wall
            labels[0, :] = 255
            write_rgb(osp.join(root, 'label', stem + '.png'), labels)
        truth[stem] = dict(depth=np.round(depth * 1000) / 1000, hits=hits, normals=normals,
                           cam2world=cam2world)
    if camera_json:
        with open(osp.join(root, 'camera.json'), 'w') as f:
            json.dump(dict(fx=K[0, 0], fy=K[1, 1], cx=K[0, 2], cy=K[1, 2], width=size[1],
                           height=size[0]), f)
    return truth
