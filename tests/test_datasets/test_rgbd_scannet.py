"""ScanNet posed frames: intrinsics and poses load in SensReader's export
layout and agree with the scene's own vertices."""
import os
import os.path as osp
import shutil

import numpy as np
import pytest
from PIL import Image
from scipy.spatial import cKDTree

from d3l.datasets import ScanNetFramesDataset
from d3l.datasets.rgbd import BadFrameError
from d3l.geometry import project_perspective

FRAMES = ('00000', '00011', '00102')


def _depth_camera(K_color):
    """A 320x240 depth camera with the colour camera's field of view (and a
    slightly different principal point, as real ScanNet depth intrinsics)."""
    scale = 320 / 1296
    K = np.eye(3)
    K[0, 0], K[1, 1] = K_color[0, 0] * scale, K_color[1, 1] * scale
    K[0, 2] = (K_color[0, 2] + 0.5) * scale - 0.5 + 1.3
    K[1, 2] = (K_color[1, 2] + 0.5) * scale - 0.5 - 0.7
    return K


def _render_depth(world_xyz, cam2world, K, shape=(240, 320)):
    """Z-buffer of the scene's vertices (millimetres), with a 2x2 splat."""
    cam = (world_xyz - cam2world[:3, 3]) @ cam2world[:3, :3]
    cam = cam[cam[:, 2] > 0.1]
    uv, z = project_perspective(cam, K)
    cols, rows = np.round(uv[:, 0]).astype(int), np.round(uv[:, 1]).astype(int)
    depth = np.full(shape, np.inf)
    for dr in (0, 1):
        for dc in (0, 1):
            r, c = rows + dr, cols + dc
            ok = (r >= 0) & (r < shape[0]) & (c >= 0) & (c < shape[1])
            np.minimum.at(depth, (r[ok], c[ok]), z[ok])
    depth[np.isinf(depth)] = 0
    return np.round(depth * 1000).astype(np.uint16)


@pytest.fixture
def scannet_export(realdata, tmp_path):
    """scene0000_00 in SensReader's export layout: the three real colour
    frames, their real poses and intrinsics, depth rendered from the real
    vertices, and the real axis alignment in the meta file."""
    root = realdata('scannet_scene0000')
    cams = np.load(osp.join(root, 'cameras_scene0000_00.npz'))
    vertices = np.load(osp.join(root, 'scannet_train_instance_data',
                                'scene0000_00_vert_all.npy'))
    align = cams['axis_align_matrix']
    world = (vertices[:, :3] - align[:3, 3]) @ np.linalg.inv(align[:3, :3]).T  # unaligned scan
    scene = tmp_path / 'scans' / 'scene0000_00'
    for sub in ('color', 'depth', 'pose', 'intrinsic'):
        os.makedirs(scene / sub)
    K_color = cams['intrinsics'][:3, :3]
    K_depth = _depth_camera(K_color)
    np.savetxt(scene / 'intrinsic' / 'intrinsic_color.txt', cams['intrinsics'])
    depth_4x4 = np.eye(4)
    depth_4x4[:3, :3] = K_depth
    np.savetxt(scene / 'intrinsic' / 'intrinsic_depth.txt', depth_4x4)
    for i, name in enumerate(FRAMES):
        shutil.copy(osp.join(root, 'posed_images', 'scene0000_00', f'{name}.jpg'),
                    scene / 'color' / f'{i}.jpg')
        pose = cams['extrinsics_cam2world'][i]
        np.savetxt(scene / 'pose' / f'{i}.txt', pose)
        Image.fromarray(_render_depth(world, pose, K_depth)).save(scene / 'depth' / f'{i}.png')
    with open(scene / 'scene0000_00.txt', 'w') as f:
        f.write('axisAlignment = ' + ' '.join(f'{v:.6f}' for v in align.reshape(-1)) + '\n')
        f.write('colorHeight = 968\n')
    return tmp_path, cams, vertices


def test_intrinsics_and_poses_load_and_lift_onto_the_scene(scannet_export):
    root, cams, vertices = scannet_export
    ds = ScanNetFramesDataset(str(root), frame_skip=1, pipeline=[
        dict(type='LoadRGBD'), dict(type='LiftPerspective', with_normals=False)])
    assert ds.frame_ids() == ['scene0000_00/0', 'scene0000_00/1', 'scene0000_00/2']
    tree = cKDTree(vertices[:, :3])
    rng = np.random.default_rng(0)
    for i in range(3):
        info = ds.get_data_info(i)
        np.testing.assert_allclose(info['color_intrinsics'], cams['intrinsics'][:3, :3])
        np.testing.assert_allclose(
            info['cam2world'], cams['axis_align_matrix'] @ cams['extrinsics_cam2world'][i],
            atol=1e-5)
        sample = ds[i]
        assert sample['img'].shape == (240, 320, 3)  # colour registered into the depth camera
        assert len(sample['points']) > 2000
        # lifted points land on the (axis-aligned) scene's vertices
        # (the depth was splatted from vertices at ~9 mm pixels: ~1 cm residual)
        dist, nearest = tree.query(sample['points'])
        assert np.median(dist) < 0.015
        other = ds.get_data_info((i + 1) % 3)['cam2world'].astype(np.float64)
        mine = info['cam2world'].astype(np.float64)
        moved = (sample['points'] - mine[:3, 3]) @ mine[:3, :3] @ other[:3, :3].T + other[:3, 3]
        assert np.median(tree.query(moved)[0]) > 5 * np.median(dist)  # another frame's pose
        # and their colours, taken from the real photo, match the vertex colours
        # far better than random correspondences (the MANIFEST's check)
        diff = np.abs(sample['colors'] * 255 - vertices[nearest, 3:]).mean()
        shuffled = np.abs(sample['colors'] * 255 - vertices[rng.permutation(nearest), 3:]).mean()
        assert diff < 0.7 * shuffled


def test_vertices_project_onto_the_loaded_frames(scannet_export):
    """Projecting the scene's vertices with the loaded pose and colour
    intrinsics lands on the image (as the MANIFEST's check did)."""
    root, cams, vertices = scannet_export
    ds = ScanNetFramesDataset(str(root), frame_skip=1, axis_align=False)
    for i in range(3):
        info = ds.get_data_info(i)
        align = cams['axis_align_matrix']
        world = (vertices[:, :3] - align[:3, 3]) @ np.linalg.inv(align[:3, :3]).T
        pose = info['cam2world'].astype(np.float64)
        cam = (world - pose[:3, 3]) @ pose[:3, :3]
        uv, _ = project_perspective(cam, info['color_intrinsics'])
        on_image = ((uv[:, 0] >= 0) & (uv[:, 0] < 1296) & (uv[:, 1] >= 0) & (uv[:, 1] < 968))
        assert on_image.sum() > 4000


def test_frame_skip_split_and_invalid_pose(scannet_export, tmp_path):
    root, _, _ = scannet_export
    assert ScanNetFramesDataset(str(root), frame_skip=2).frame_ids() == [
        'scene0000_00/0', 'scene0000_00/2']
    (tmp_path / 'split.txt').write_text('scene0000_00\nscene0999_00\n')
    with pytest.raises(FileNotFoundError, match='1 scenes of .*split.txt are not under'):
        ScanNetFramesDataset(str(root), split_file=str(tmp_path / 'split.txt'))
    np.savetxt(root / 'scans' / 'scene0000_00' / 'pose' / '1.txt', np.full((4, 4), -np.inf))
    ds = ScanNetFramesDataset(str(root), frame_skip=1, pipeline=[dict(type='LoadRGBD')])
    with pytest.raises(BadFrameError, match=r'1.txt: invalid pose'):
        ds[1]
    ds = ScanNetFramesDataset(str(root), frame_skip=1, skip_bad_frames=True,
                              pipeline=[dict(type='LoadRGBD')])
    assert ds[1]['frame_id'] == 'scene0000_00/2' and ds.num_skipped == 1
