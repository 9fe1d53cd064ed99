"""The real-size samples of ``benchmarks/bench_data_path.py``, written in each
dataset's on-disk format from the real samples of ``../shared/realdata``
(``D3L_SHARED_DIR``; synthetic stand-ins of the same size when absent); the
tests of the stored normals write their datasets with it too."""
import glob
import os
import os.path as osp
import sys

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
REAL = os.environ.get('D3L_SHARED_DIR', osp.join(osp.dirname(REPO), 'shared'))
REAL = osp.join(REAL, 'realdata')
SUN = osp.join(REAL, 'sunrgbd_rgbd')
PANO = osp.join(REAL, 'pano_hohonet', 'pano_asmasuxybohhcj')
SCANNET = osp.join(REAL, 'scannet_scene0000', 'scannet_train_instance_data')
NUM_CLASSES = 150
MP3D_SCENE = '17DRP5sb8fy'  # a training building of the official split


def _class_map(height, width, seed):
    """A blocky (H, W) class map, the stand-in teacher's labels."""
    rng = np.random.default_rng(seed)
    table = rng.integers(0, NUM_CLASSES, (height // 16 + 1, width // 16 + 1))
    rows, cols = np.mgrid[0:height, 0:width]
    return table[rows // 16, cols // 16].astype(np.uint8)


def _save_label(root, frame_id, labels):
    path = osp.join(root, f'{frame_id}.png')
    os.makedirs(osp.dirname(path), exist_ok=True)
    Image.fromarray(labels).save(path)


def _sun_frames():
    """(colour, depth mm, K, Rtilt) of the real SUN RGB-D frames resized to
    640x480, or a synthetic stand-in."""
    frames = []
    for name in sorted(glob.glob(osp.join(SUN, 'image', '*.jpg'))):
        stem = osp.splitext(osp.basename(name))[0]
        img = Image.open(name).convert('RGB')
        depth = Image.open(osp.join(SUN, 'depth_mm_derived', f'{stem}.png'))
        with open(osp.join(SUN, 'calib', f'{stem}.txt')) as f:
            rtilt, K = (np.array(line.split(), float).reshape(3, 3).T for line in f)
        scale = np.diag([640 / img.width, 480 / img.height, 1.0])
        frames.append((np.asarray(img.resize((640, 480), Image.BILINEAR)),
                       np.asarray(depth.resize((640, 480), Image.NEAREST), np.uint16),
                       scale @ K, rtilt))
    if not frames:
        rng = np.random.default_rng(0)
        rows = np.mgrid[0:480, 0:640][0]
        depth = (1500 + 3 * rows + rng.integers(0, 20, (480, 640))).astype(np.uint16)
        img = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
        frames.append((img, depth, np.array([[529.5, 0, 320], [0, 529.5, 240], [0, 0, 1]]),
                       np.eye(3)))
    return frames


def write_sunrgbd(root, labels):
    from d3l.datasets.rgbd.sunrgbd import CAMERA_TO_DEPTH
    for i, (img, depth_mm, K, rtilt) in enumerate(_sun_frames()):
        rel = f'kv1/NYUdata/NYU{i:04d}'
        frame = osp.join(root, rel)
        for sub in ('image', 'depth', 'extrinsics'):
            os.makedirs(osp.join(frame, sub), exist_ok=True)
        Image.fromarray(img).save(osp.join(frame, 'image', f'NYU{i:04d}.jpg'), quality=95)
        raw = ((depth_mm.astype(np.uint32) << 3) | (depth_mm >> 13)) & 0xFFFF  # SUN's rotation
        Image.fromarray(raw.astype(np.uint16)).save(osp.join(frame, 'depth', f'NYU{i:04d}.png'))
        K_matlab = K + np.array([[0, 0, 1], [0, 0, 1], [0, 0, 0]])  # 1-based pixels
        np.savetxt(osp.join(frame, 'intrinsics.txt'), K_matlab)
        extrinsics = np.zeros((3, 4))
        extrinsics[:, :3] = CAMERA_TO_DEPTH.T @ rtilt @ CAMERA_TO_DEPTH
        np.savetxt(osp.join(frame, 'extrinsics', '0001.txt'), extrinsics)
        _save_label(labels, rel, _class_map(480, 640, i))


def _panorama(size=(512, 1024), turn=0):
    """(colour, depth mm) of the real panorama at ``size``, turned by
    ``turn`` columns of 1024."""
    if osp.isfile(PANO + '.png'):
        img = Image.open(PANO + '.png').convert('RGB')
        depth = Image.open(PANO + '.depth.png')
    else:
        rng = np.random.default_rng(1)
        rows = np.mgrid[0:512, 0:1024][0]
        img = Image.fromarray(rng.integers(0, 255, (512, 1024, 3), dtype=np.uint8))
        depth = Image.fromarray((3000 + 2 * np.abs(rows - 256)).astype(np.uint16))
    height, width = size
    img = np.roll(np.asarray(img.resize((width, height), Image.BILINEAR)),
                  turn * width // 1024, 1)
    depth = np.roll(np.asarray(depth.resize((width, height), Image.NEAREST), np.uint16),
                    turn * width // 1024, 1)
    return img, depth


def write_matterport(root, labels, sizes=((512, 1024),), copies=4):
    scene = osp.join(root, MP3D_SCENE)
    os.makedirs(scene, exist_ok=True)
    for size in sizes:
        for i in range(copies):
            img, depth_mm = _panorama(size, turn=256 * i)
            pano = f'p{size[1]}_{i}'
            Image.fromarray(img).save(osp.join(scene, f'{pano}_rgb.png'))
            Image.fromarray((depth_mm.astype(np.uint32) * 4).clip(0, 65535).astype(np.uint16)
                            ).save(osp.join(scene, f'{pano}_depth.png'))  # 1/4 mm
            _save_label(labels, f'{MP3D_SCENE}/{pano}', _class_map(*size, i))


def write_structured3d(root, labels, copies=4):
    for i in range(copies):
        img, depth_mm = _panorama(turn=128 + 256 * i)
        pano = osp.join(root, 'scene_00000', '2D_rendering', str(i), 'panorama')
        os.makedirs(osp.join(pano, 'full'), exist_ok=True)
        Image.fromarray(img).save(osp.join(pano, 'full', 'rgb_rawlight.png'))
        Image.fromarray(depth_mm).save(osp.join(pano, 'full', 'depth.png'))
        Image.fromarray(_class_map(512, 1024, 10 + i) % 41).save(
            osp.join(pano, 'full', 'semantic.png'))
        np.savetxt(osp.join(pano, 'camera_xyz.txt'), [[1000.0, 2000.0, 1500.0]])
        _save_label(labels, f'scene_00000/{i}', _class_map(512, 1024, 20 + i))


def write_scannet(root, num_vertices=150_000):
    parts = [np.load(p) for p in sorted(glob.glob(osp.join(SCANNET, '*_vert_all.npy')))[:2]]
    labels = [np.load(p.replace('_vert_all', '_sem_label_all'))
              for p in sorted(glob.glob(osp.join(SCANNET, '*_vert_all.npy')))[:2]]
    if parts:
        vert, nyu40 = np.concatenate(parts)[:num_vertices], np.concatenate(labels)[:num_vertices]
    else:
        rng = np.random.default_rng(2)
        vert = np.concatenate([rng.uniform(0, 6, (num_vertices, 3)),
                               rng.uniform(0, 255, (num_vertices, 3))], 1)
        nyu40 = rng.integers(0, 41, num_vertices)
    from d3l.datasets.scannet import nyu40_to_scannet20
    scene = osp.join(root, 'train', 'scene0000_00')
    os.makedirs(scene, exist_ok=True)
    rng = np.random.default_rng(3)
    normals = rng.normal(size=(len(vert), 3)) + [0, 0, 3]  # mesh normals are not stored
    np.save(osp.join(scene, 'coord.npy'), vert[:, :3].astype(np.float32))
    np.save(osp.join(scene, 'color.npy'), vert[:, 3:6].astype(np.uint8))
    np.save(osp.join(scene, 'normal.npy'),
            (normals / np.linalg.norm(normals, axis=1, keepdims=True)).astype(np.float32))
    segment = nyu40_to_scannet20(nyu40.astype(np.int64)).astype(np.int64)
    np.save(osp.join(scene, 'segment20.npy'), np.where(segment == 255, -1, segment))
    return len(vert)
