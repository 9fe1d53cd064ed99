"""Fusion on a synthetic room (exact geometry, rendered RGB-D frames with
their ground-truth 2D labels as a one-hot teacher): fused labels reproduce
the room's 3D labels where 2D and 3D classes correspond one to one, hidden
vertices get nothing, and a killed run resumes to the same store."""
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
from fusion_data import REPO_ROOT, fusion_config, generate_frame_labels, load_tool
from fusion_data import write_scene as write_test_scene

from d3l.benchmark.world import CLASSES_2D, CLASSES_3D, RELATION_2D_TO_3D
from d3l.benchmark.world import writers as W
from d3l.benchmark.world.presets import get_preset
from d3l.benchmark.world.rooms import generate_room
from d3l.benchmark.world.scene import sample_scene
from d3l.benchmark.world.scene_frames import render_room_frames
from d3l.fusion import FusedLabelStore, project, visible_vertices
from d3l.soft_labels import SoftLabelCodec, list_shards, read_manifest

SCENES = ('scene0000_00', 'scene0001_00')
NUM_FRAMES = 6


def one_to_one_pairs():
    """(2D id, 3D id) of classes that map onto each other only."""
    pairs = []
    for name_2d, names_3d in RELATION_2D_TO_3D.items():
        if len(names_3d) != 1:
            continue
        sources = [n for n, targets in RELATION_2D_TO_3D.items() if names_3d[0] in targets]
        if sources == [name_2d]:
            pairs.append((CLASSES_2D.index(name_2d), CLASSES_3D.index(names_3d[0])))
    return pairs


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('fusion_room')
    preset = get_preset(dict(get_preset('tiny').to_dict(), image_size=(128, 96)))
    room = generate_room(np.random.default_rng(7), room_type='bedroom')
    scene = sample_scene(room, np.random.default_rng(0), density=150.0)
    frames = render_room_frames(room, lambda f: np.random.default_rng([7, f]), NUM_FRAMES,
                                preset)
    scenes_root, frames_root = str(tmp / 'scenes'), str(tmp / 'frames')
    for scene_id in SCENES:  # two copies: two shards for the resume test
        write_test_scene(scenes_root, scene_id, scene['coord'], scene['color'],
                         scene['segment20'])
        W.write_rgbd_room(frames_root, scene_id, frames, 'perspective',
                          frames[0]['intrinsics'].astype(np.float64))
    labels = generate_frame_labels(str(tmp), frames_root, num_classes=len(CLASSES_2D))
    return dict(tmp=str(tmp), room=room, scene=scene, frames=frames, scenes_root=scenes_root,
                frames_root=frames_root, labels=labels)


def fuse(world, out, *extra):
    config = fusion_config(world['tmp'], world['scenes_root'], world['frames_root'],
                           world['labels'], out, name=f'cfg_{osp.basename(out)}.py')
    load_tool('fuse_soft_labels').main([config, *extra])
    return config


@pytest.fixture(scope='module')
def fused(world):
    out = osp.join(world['tmp'], 'fused')
    fuse(world, out)
    return out


def test_one_to_one_classes_reproduce_3d_labels(world, fused):
    scene = world['scene']
    store = FusedLabelStore(fused)
    record = store.get(SCENES[0], num_vertices=len(scene['coord']))
    top1_2d = SoftLabelCodec.top1(record.lookup(np.arange(len(scene['coord'])))).numpy()
    seen = store.num_views(SCENES[0]) > 0
    assert seen.mean() > 0.3, seen.mean()
    pairs = one_to_one_pairs()
    assert len(pairs) >= 8, pairs  # wall, bed, chair, table, desk, cabinet, door, ...
    to_3d = np.full(256, -2)
    for c2, c3 in pairs:
        to_3d[c2] = c3
    segment = scene['segment20'].astype(np.int64)
    in_pairs = np.isin(segment, [c3 for _, c3 in pairs]) & seen
    assert in_pairs.sum() > 1000, in_pairs.sum()
    agreement = float((to_3d[top1_2d[in_pairs]] == segment[in_pairs]).mean())
    assert agreement >= 0.97, agreement
    # and the fused 2D class is the vertex's own primitive's class nearly everywhere
    own = world['room'].label2d[scene['prim']]
    assert float((top1_2d[seen] == own[seen]).mean()) >= 0.95


def test_vertex_behind_a_wall_gets_nothing(world, fused):
    """Points just outside the room, behind its walls, that project into a
    frame: the depth test rejects them in every frame."""
    room, frames = world['room'], world['frames']
    lx, ly, _ = room.size
    rng = np.random.default_rng(0)
    outside = np.stack([rng.uniform(-1.0, lx + 1.0, 4000), rng.uniform(-1.0, ly + 1.0, 4000),
                        rng.uniform(0.2, 2.0, 4000)], 1)
    outside = outside[(outside[:, 0] < -0.2) | (outside[:, 0] > lx + 0.2)
                      | (outside[:, 1] < -0.2) | (outside[:, 1] > ly + 0.2)]
    in_view = 0
    for frame in frames:
        K, pose = frame['intrinsics'].astype(np.float64), frame['cam2world'].astype(np.float64)
        projected, _, _ = project(outside, K, pose, frame['depth'].shape)
        in_view += len(projected)
        vertex, _ = visible_vertices(outside, frame['depth'], K, pose)
        assert len(vertex) == 0
    assert in_view > 100, in_view  # the test looks at points the frames do cover


def test_occlusion_two_planes():
    """A vertex 0.5 m behind the surface the depth image shows gets no view;
    the vertex on the surface does, as does one 3 cm off it (tolerance)."""
    K = np.array([[50.0, 0, 31.5], [0, 50.0, 23.5], [0, 0, 1]])
    depth = np.full((48, 64), 2.0, np.float32)
    points = np.array([[0.0, 0.0, 2.0], [0.0, 0.0, 2.5], [0.1, 0.1, 2.03], [0.0, 0.0, 1.5]])
    vertex, pixel = visible_vertices(points, depth, K, np.eye(4))
    assert vertex.tolist() == [0, 2]
    assert pixel[0] == 24 * 64 + 32  # (u, v) = (31.5, 23.5) rounds half to even
    np.testing.assert_array_equal(
        visible_vertices(points, depth, K, np.eye(4), abs_tolerance=0.6, rel_tolerance=0)[0],
        [0, 1, 2, 3])


def _shard_bytes(label_dir):
    return {osp.basename(p): open(p, 'rb').read() for p in list_shards(label_dir).values()}


def test_resume_after_kill_gives_the_same_store(world, fused):
    out = osp.join(world['tmp'], 'killed')
    config = fusion_config(world['tmp'], world['scenes_root'], world['frames_root'],
                           world['labels'], out, name='cfg_killed.py')
    # the child stalls on the second scene, after the first shard is committed
    child = subprocess.Popen([sys.executable, '-c', f"""
import sys, time
sys.path.insert(0, {osp.join(REPO_ROOT, 'tests', 'test_fusion')!r})
from fusion_data import load_tool
from d3l.fusion import SoftLabelFuser
original = SoftLabelFuser.fuse_scene
def slow(self, index):
    if index == 1:
        time.sleep(120)
    return original(self, index)
SoftLabelFuser.fuse_scene = slow
load_tool('fuse_soft_labels').main([{config!r}])
"""], env=dict(os.environ, OMP_NUM_THREADS='1'), cwd=REPO_ROOT)
    deadline = time.time() + 120
    while not osp.isfile(osp.join(out, 'shard_00000.npz')) and time.time() < deadline:
        assert child.poll() is None, 'the fusion child exited early'
        time.sleep(0.2)
    time.sleep(0.5)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert osp.isfile(osp.join(out, 'writer.lock'))  # a dead owner's lock is left
    assert sorted(_shard_bytes(out)) == ['shard_00000.npz']
    first = os.stat(osp.join(out, 'shard_00000.npz')).st_mtime_ns
    fuse(world, out, '--resume')
    assert os.stat(osp.join(out, 'shard_00000.npz')).st_mtime_ns == first  # kept
    assert _shard_bytes(out) == _shard_bytes(fused)
    manifest, reference = read_manifest(out), read_manifest(fused)
    assert manifest['complete'] and manifest['shards'] == reference['shards']
    assert manifest['fusion_counts']['kept_scenes'] == 1
    assert manifest['fusion_counts']['scenes'] == 1
    assert not osp.exists(osp.join(out, 'writer.lock'))


def test_resume_refuses_other_settings(world, fused):
    from d3l.soft_labels import LabelStoreError
    config = fusion_config(world['tmp'], world['scenes_root'], world['frames_root'],
                           world['labels'], fused, name='cfg_other.py', abs_tolerance=0.2)
    with pytest.raises(LabelStoreError, match='different teacher'):
        load_tool('fuse_soft_labels').main([config, '--resume'])


def test_fused_scene_dataset_gives_teacher_labels_only(world, fused):
    from d3l.datasets.fused_scene import FusedSceneDataset
    scenes = dict(type='ScanNetDataset', data_root=world['scenes_root'], split='train')
    dataset = FusedSceneDataset(scenes, fused, with_hard_labels=True)
    assert len(dataset) == len(SCENES) and len(dataset.metainfo['classes']) == len(CLASSES_2D)
    sample = dataset[0]
    num = len(world['scene']['coord'])
    assert 'instance' not in sample and len(sample['points']) == num
    store = FusedLabelStore(fused)
    views = store.num_views(SCENES[0])
    labels = sample['labels']  # the fused top-1, not segment20
    np.testing.assert_array_equal(labels == 255, views == 0)
    own = world['room'].label2d[world['scene']['prim']]
    assert float((labels[views > 0] == own[views > 0]).mean()) >= 0.95
    assert sample['soft_labels']['indices'].shape[0] == num
    strict = FusedSceneDataset(scenes, fused, min_views=2, with_hard_labels=True)[0]
    np.testing.assert_array_equal(strict['labels'] == 255, views < 2)
    dense = FusedSceneDataset(scenes, fused, decode=True)[0]['soft_labels']
    np.testing.assert_allclose(dense[views > 0].sum(1), 1.0, atol=1e-5)
    assert (dense[views == 0] == 0).all()


@pytest.mark.parametrize('backbone', ['spconv', 'ocnn'])
def test_fused_pretrain_config_trains(world, fused, tmp_path, backbone):
    """configs/pretrain/pretrainer_dpt-ade20k-fused_scannet_*, pointed at the
    synthetic scenes and their fused labels, a tiny backbone: one epoch of
    training and validation through MMEngine's Runner."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain',
                                   f'pretrainer_dpt-ade20k-fused_scannet_{backbone}.py'))
    assert cfg.fusion.type == 'SoftLabelFuser' and cfg.model.decode_head.num_classes == 150
    cfg.model.decode_head.num_classes = len(CLASSES_2D)
    cfg.model.backbone.update(stem_channels=8, enc_channels=[8, 16], enc_blocks=[1, 1],
                              dec_channels=[16, 8], dec_blocks=[1, 1])
    if backbone == 'ocnn':  # the config's 10.24 m cube at 8 cm leaves
        cfg.model.backbone.update(depth=7)
    else:
        cfg.model.backbone.update(voxel_size=0.05)
    for loader in ('train_dataloader', 'val_dataloader'):
        cfg[loader].dataset.scenes.data_root = world['scenes_root']
        cfg[loader].dataset.label_dir = fused
        cfg[loader].update(batch_size=2, num_workers=0, persistent_workers=False)
    cfg.train_dataloader.dataset.pipeline = [
        t for t in cfg.train_dataloader.dataset.pipeline if t['type'] != 'ElasticDistortion']
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 0 <= metrics['aAcc'] <= 100
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))


def test_two_processes_match_one(world, fused):
    """torchrun with 2 ranks: each fuses its own shards (round-robin), the
    store is byte-identical to the 1-process run."""
    out = osp.join(world['tmp'], 'two_ranks')
    config = fusion_config(world['tmp'], world['scenes_root'], world['frames_root'],
                           world['labels'], out, name='cfg_two.py')
    port = 29500 + (os.getpid() + 517) % 1000
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(port), osp.join(REPO_ROOT, 'tools', 'fuse_soft_labels.py'),
           config, '--launcher', 'pytorch']
    env = dict(os.environ, OMP_NUM_THREADS='1',
               PYTHONPATH=REPO_ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env,
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '2 process(es)' in proc.stdout
    assert _shard_bytes(out) == _shard_bytes(fused)
    assert read_manifest(out)['fusion_counts']['scenes'] == len(SCENES)


def test_bad_frames_are_counted_and_bad_setups_refused(world, tmp_path):
    """A frame whose pose file is broken is left out and listed, the scene
    is still fused; a frame label directory that is not one, and frames of
    another dataset than the labelled one, are one-line errors."""
    import shutil

    from d3l.soft_labels import LabelStoreError
    frames_root = str(tmp_path / 'frames')
    shutil.copytree(world['frames_root'], frames_root)
    labels = osp.join(str(tmp_path), 'labels')
    shutil.copytree(world['labels'], labels)
    # same size, other content: the fingerprint's sizes still match
    pose = osp.join(frames_root, SCENES[0], 'pose', '000001.txt')
    text = open(pose).read()
    open(pose, 'w').write('x' * len(text))
    out = str(tmp_path / 'fused')
    fuse_cfg = fusion_config(str(tmp_path), world['scenes_root'], frames_root, labels, out)
    load_tool('fuse_soft_labels').main([fuse_cfg])
    counts = read_manifest(out)['fusion_counts']
    assert counts['num_failed_frames'] == 1 and counts['used'] == 2 * NUM_FRAMES - 1
    assert counts['failed_frames'][0][:2] == [SCENES[0], f'{SCENES[0]}/000001']
    assert '000001.txt' in counts['failed_frames'][0][2]
    assert FusedLabelStore(out).num_views(SCENES[0]).max() <= NUM_FRAMES - 1

    not_labels = fusion_config(str(tmp_path), world['scenes_root'], frames_root,
                               str(tmp_path), str(tmp_path / 'x'), name='cfg_bad.py')
    with pytest.raises(LabelStoreError, match='not a label directory'):
        load_tool('fuse_soft_labels').main([not_labels])
    # depth images re-encoded to another size: not the frames the labels were made from
    depth = osp.join(frames_root, SCENES[1], 'depth', '000000.png')
    from PIL import Image
    Image.open(depth).save(depth, compress_level=0)
    with pytest.raises(LabelStoreError, match='not those the labels were made from'):
        load_tool('fuse_soft_labels').main([fuse_cfg, '--out', str(tmp_path / 'y')])
