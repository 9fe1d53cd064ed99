"""The embedded benchmark's pieces: frames of the 3D scenes' own rooms, and
the pre-training config over fused scenes."""
import os.path as osp

import numpy as np
from mmengine.config import Config
from scipy.spatial import cKDTree

from d3l.benchmark.fused import write_fused_pretrain_config
from d3l.benchmark.world.build import make_room, room_rng
from d3l.benchmark.world.presets import get_preset
from d3l.benchmark.world.scene import sample_scene
from d3l.benchmark.world.scene_frames import write_scene_frames
from d3l.datasets.rgbd import RGBDFolderDataset
from d3l.geometry.lifting import lift_perspective


def test_scene_frames_show_the_scenes_room(tmp_path):
    """Frames of training room 1 lifted with their K and pose land on the
    surface of scene0001_00 (as the world generates it), so fusion sees the
    scene it labels; a second call keeps the complete room."""
    preset = get_preset('tiny')
    out = str(tmp_path / 'frames')
    counts = write_scene_frames(out, 'tiny', seed=0, frames_per_room=2, rooms=[1])
    assert counts == dict(written=1, skipped=0)
    assert write_scene_frames(out, 'tiny', seed=0, frames_per_room=2, rooms=[1]) == \
        dict(written=0, skipped=1)
    room = make_room(0, 'train', 1)
    scene = sample_scene(room, room_rng(0, 'train', 1, 0), preset.point_density * 10,
                         include_ceiling=True)
    tree = cKDTree(scene['coord'])
    dataset = RGBDFolderDataset(out, pipeline=[dict(type='LoadRGBD')])
    assert [dataset.get_raw_info(i)['scene_id'] for i in range(len(dataset))] == \
        ['scene0001_00'] * 2
    for i in range(len(dataset)):
        frame = dataset[i]
        points, _ = lift_perspective(frame['depth'], frame['intrinsics'])
        world = points @ frame['cam2world'][:3, :3].T + frame['cam2world'][:3, 3]
        distance, _ = tree.query(world)
        assert np.median(distance) < 0.05, np.median(distance)


def test_fused_pretrain_config_reads_fused_scenes(tmp_path):
    path = write_fused_pretrain_config(str(tmp_path / 'pretrain_fused.py'), '/data/scannet',
                                       '/data/fused')
    cfg = Config.fromfile(path)
    dataset = cfg.train_dataloader.dataset
    assert dataset.type == 'FusedSceneDataset' and dataset.label_dir == '/data/fused'
    assert dataset.scenes == dict(type='ScanNetDataset', data_root='/data/scannet',
                                  split='train')
    assert 'source' not in dataset  # the RGB-D frame dataset's keys are replaced
    assert cfg.model.type == 'Pretrainer' and cfg.model.decode_head.num_classes == 30
    assert not any(t['type'].startswith(('Lift', 'LoadSoftLabels')) for t in dataset.pipeline)
    assert osp.basename(path) == 'pretrain_fused.py'
