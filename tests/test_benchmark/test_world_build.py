"""The synthetic world on disk: determinism, caching/resume, class balance,
and that every written file loads with the real readers (ScanNetDataset,
RGBDFolderDataset + LoadRGBD/LiftRGBD, mmseg's BaseSegDataset)."""
import hashlib
import json
import os
import os.path as osp
import shutil

import numpy as np
import pytest

from d3l.benchmark.world import (
    CLASSES_2D,
    CLASSES_3D,
    RELATION_2D_TO_3D,
    build_world,
    generate_room,
    get_preset,
)
from d3l.benchmark.world.build import WorldMismatchError, make_room
from d3l.benchmark.world.classes import palette_2d

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
TEACHER_CONFIG = osp.join(REPO, 'configs', 'demo', 'dpt_scratch_synthetic-seg2d_vit-tiny.py')


def _tree_digest(root):
    """sha1 of every file below root except the manifest's timings."""
    digest = {}
    for folder, _, files in os.walk(root):
        for name in files:
            path = osp.join(folder, name)
            rel = osp.relpath(path, root)
            if rel == 'manifest.json':
                with open(path) as f:
                    manifest = json.load(f)
                manifest.pop('seconds')
                data = json.dumps(manifest, sort_keys=True).encode()
            else:
                with open(path, 'rb') as f:
                    data = f.read()
            digest[rel] = hashlib.sha1(data).hexdigest()
    return digest


@pytest.fixture(scope='module')
def world(tmp_path_factory):
    return build_world(str(tmp_path_factory.mktemp('world') / 'tiny'), 'tiny', seed=0,
                       progress=False)


def test_rooms_are_deterministic_for_a_seed():
    a = generate_room(np.random.default_rng([4, 2]))
    b = generate_room(np.random.default_rng([4, 2]))
    c = generate_room(np.random.default_rng([4, 3]))
    for key in ('label2d', 'label3d', 'rgb', 'tex_phase'):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
    for key, value in a.prims.to_dict().items():
        np.testing.assert_array_equal(value, b.prims.to_dict()[key])
    assert a.summary() != c.summary()


def test_world_is_deterministic_and_cached(world, tmp_path):
    again = build_world(str(tmp_path / 'again'), 'tiny', seed=0, progress=False, workers=1)
    first = _tree_digest(world['root'])
    assert first == _tree_digest(again['root'])
    assert len(first) > 50
    other = build_world(str(tmp_path / 'other'), 'tiny', seed=1, progress=False)
    other_digest = _tree_digest(other['root'])
    assert other_digest.keys() == first.keys()
    assert sum(other_digest[k] != first[k] for k in first) > len(first) // 2

    # a complete world is reused as it is (nothing rewritten)
    stamp = os.stat(osp.join(again['scannet'], 'train', 'scene0000_00', 'coord.npy')).st_mtime_ns
    build_world(again['root'], 'tiny', seed=0, progress=False)
    assert os.stat(osp.join(again['scannet'], 'train', 'scene0000_00',
                            'coord.npy')).st_mtime_ns == stamp
    # an interrupted one resumes: missing items are regenerated identically
    shutil.rmtree(osp.join(again['scannet'], 'val', 'scene0004_00'))
    os.remove(osp.join(again['seg2d'], 'img_dir', 'train', 'r0001_f02.png'))
    shutil.rmtree(osp.join(again['rgbd_panorama'], 'room0002'))
    os.remove(again['manifest'])
    build_world(again['root'], 'tiny', seed=0, progress=False)
    assert _tree_digest(again['root']) == first
    # another seed in the same folder is refused, naming both
    with pytest.raises(WorldMismatchError, match='seed 0.*seed 3'):
        build_world(again['root'], 'tiny', seed=3, progress=False)


def test_teacher_photos_generates_only_the_asked_splits_and_adds_the_rest_later(world, tmp_path):
    full = _tree_digest(world['root'])
    part = build_world(str(tmp_path / 'val_only'), 'tiny', seed=0, progress=False, workers=1,
                       teacher_photos=('val',))
    digest = _tree_digest(part['root'])
    train_photos = {k for k in full if k.startswith(osp.join('seg2d', 'img_dir', 'train'))}
    assert train_photos and not any(k.startswith(osp.join('seg2d', 'img_dir', 'train'))
                                    or k.startswith(osp.join('seg2d', 'ann_dir', 'train'))
                                    for k in digest)
    # every other item is the full world's, byte for byte
    same = [k for k in digest if k != 'manifest.json']
    assert same and all(digest[k] == full[k] for k in same)
    with open(part['manifest']) as f:
        manifest = json.load(f)
    preset = get_preset('tiny')
    assert manifest['teacher_photos'] == ['val']
    assert manifest['counts']['teacher_images'] == (preset.teacher_frames_per_room
                                                    * preset.teacher_val_rooms)
    # the same folder asked for every photo later: the training photos are added
    build_world(part['root'], 'tiny', seed=0, progress=False, workers=1)
    assert _tree_digest(part['root']) == full
    with pytest.raises(ValueError, match="unknown split.*'test'"):
        build_world(part['root'], 'tiny', seed=0, progress=False, teacher_photos=('test',))


def test_manifest(world):
    with open(world['manifest']) as f:
        manifest = json.load(f)
    preset = get_preset('tiny')
    assert manifest['seed'] == 0 and manifest['preset']['name'] == 'tiny'
    assert manifest['classes_3d'] == list(CLASSES_3D)
    assert manifest['classes_2d'] == list(CLASSES_2D)
    counts = manifest['counts']
    assert counts['scenes_train'] == preset.train_rooms
    assert counts['scenes_val'] == preset.val_rooms
    assert counts['teacher_images'] == preset.teacher_frames_per_room * (
        preset.teacher_train_rooms + preset.teacher_val_rooms)
    assert abs(sum(manifest['class_frequency_3d'].values()) - 1) < 1e-3
    assert set(manifest['scenes']) == {f'scene{i:04d}_00' for i in range(6)}
    # the summaries the scene workers return are their rooms' (train 0-3, val 0-1)
    pools = [('train', i) for i in range(preset.train_rooms)] + \
        [('val', i) for i in range(preset.val_rooms)]
    for k, (pool, i) in enumerate(pools):
        assert manifest['scenes'][f'scene{k:04d}_00'] == json.loads(
            json.dumps(make_room(0, pool, i).summary()))


def _class_areas(rooms):
    """Visible-ish area per 3D / 2D class from the primitives (no ceiling)."""
    area3d = np.zeros(len(CLASSES_3D))
    area2d = np.zeros(len(CLASSES_2D))
    pairs = set()
    for room in rooms:
        areas = np.where(room.is_ceiling, 0, room.prims.areas())
        labelled = room.label3d >= 0
        np.add.at(area3d, room.label3d[labelled], areas[labelled])
        np.add.at(area2d, room.label2d, room.prims.areas())
        pairs |= set(zip(room.label2d.tolist(), room.label3d.tolist()))
    return area3d, area2d, pairs


def test_class_balance_and_documented_relation():
    rooms = [make_room(0, 'train', i) for i in range(60)]
    area3d, area2d, pairs = _class_areas(rooms)
    frac = area3d / area3d.sum()
    # every ScanNet-20 class and every teacher class occurs
    assert (area3d > 0).all(), [c for c, a in zip(CLASSES_3D, area3d) if a == 0]
    assert (area2d > 0).all(), [c for c, a in zip(CLASSES_2D, area2d) if a == 0]
    # walls and floor dominate as in ScanNet, but do not swamp the objects
    assert 0.35 < frac[0] + frac[1] < 0.85
    assert frac[2:].max() < 0.15
    # every (2D, 3D) pair that occurs is in the documented relation
    for id2d, id3d in pairs:
        allowed = RELATION_2D_TO_3D[CLASSES_2D[id2d]]
        if id3d >= 0:
            assert CLASSES_3D[id3d] in allowed, (CLASSES_2D[id2d], CLASSES_3D[id3d])
        else:  # unlabelled in 3D: documented as such
            assert not allowed, CLASSES_2D[id2d]
    # the relation is not a function: some 2D classes map to several 3D ones
    assert max(len(v) for v in RELATION_2D_TO_3D.values()) > 1


def _bayes_accuracy(feature_bins, labels):
    """Accuracy of the best classifier that sees only the binned feature."""
    table = np.zeros((feature_bins.max() + 1, labels.max() + 1))
    np.add.at(table, (feature_bins, labels), 1)
    return table.max(1).sum() / len(labels)


def test_neither_colour_nor_height_alone_separates_the_classes(world):
    coords, colors, labels = [], [], []
    for split in ('train', 'val'):
        for scene_id in sorted(os.listdir(osp.join(world['scannet'], split))):
            folder = osp.join(world['scannet'], split, scene_id)
            coords.append(np.load(osp.join(folder, 'coord.npy')))
            colors.append(np.load(osp.join(folder, 'color.npy')))
            labels.append(np.load(osp.join(folder, 'segment20.npy')))
    coord, color, label = map(np.concatenate, (coords, colors, labels))
    keep = label >= 0
    coord, color, label = coord[keep], color[keep].astype(np.int64), label[keep].astype(int)
    # colour quantised to 8 levels per channel, height to 10 cm
    colour_bins = (color[:, 0] // 32) * 64 + (color[:, 1] // 32) * 8 + color[:, 2] // 32
    height_bins = np.clip((coord[:, 2] / 0.1).astype(int), 0, 40)
    majority = np.bincount(label).max() / len(label)
    for bins in (colour_bins, height_bins):
        accuracy = _bayes_accuracy(bins, label)
        assert accuracy < 0.8, accuracy
    # ... but together with the geometry they are informative (sanity of the test)
    assert _bayes_accuracy(colour_bins * 41 + height_bins, label) > majority


def test_scenes_load_with_scannet_dataset(world):
    from d3l.datasets.scannet import ScanNetDataset
    train = ScanNetDataset(world['scannet'], split='train',
                           scene_list=world['scannet_train_list'])
    val = ScanNetDataset(world['scannet'], split='val', scene_list=world['scannet_val_list'],
                         test_mode=True)
    preset = get_preset('tiny')
    assert len(train) == preset.train_rooms and len(val) == preset.val_rooms
    assert tuple(train.metainfo['classes']) == CLASSES_3D
    sample = train[0]
    raw = np.load(osp.join(world['scannet'], 'train', sample['scene_id'], 'segment20.npy'))
    assert len(sample['points']) == len(raw) > 100
    np.testing.assert_array_equal(sample['labels'], np.where(raw < 0, 255, raw))
    assert 0 <= sample['colors'].min() and sample['colors'].max() <= 1
    np.testing.assert_allclose(np.linalg.norm(sample['normals'], axis=1), 1, atol=1e-5)


def test_data_efficient_splits_from_the_world(world, tmp_path, tool):
    from d3l.datasets.scannet import ScanNetDataset
    out = tmp_path / 'splits'
    tool('make_data_efficient_splits.py', 'scannet-la', '--data-root', world['scannet'],
         '--out', str(out / 'la'), '--points', '20')
    tool('make_data_efficient_splits.py', 'scannet-lr', '--data-root', world['scannet'],
         '--out', str(out / 'lr'), '--percent', '25')
    la = ScanNetDataset(world['scannet'], split='train', la_file=str(out / 'la' / 'points20'))
    labelled = [(s['labels'] != 255).sum() for s in (la[i] for i in range(len(la)))]
    assert max(labelled) <= 20 and min(labelled) > 0
    lr = ScanNetDataset(world['scannet'], split='train', lr_file=str(out / 'lr' / '25.txt'))
    assert len(lr) == 1


def test_rgbd_frames_load_and_lift_onto_the_rooms_surfaces(world):
    from d3l.datasets.rgbd import RGBDFolderDataset
    preset = get_preset('tiny')
    pipeline = [dict(type='LoadRGBD'), dict(type='LiftRGBD', with_normals=False)]
    for kind, per_room in (('perspective', preset.pretrain_frames_per_room),
                           ('panorama', preset.pretrain_panoramas_per_room)):
        dataset = RGBDFolderDataset(world[f'rgbd_{kind}'], pipeline=pipeline)
        assert len(dataset) == preset.pretrain_rooms * per_room
        for index in range(len(dataset)):
            sample = dataset[index]
            room = make_room(0, 'pretrain', int(sample['scene_id'][4:]))
            assert sample['projection'] == ('perspective' if kind == 'perspective'
                                            else 'equirect')
            # lifted with the stored pose: points on the room's surfaces,
            # up to the millimetre quantisation of the depth PNG
            dist = np.abs(room.prims.min_sdf(sample['points'].astype(np.float64)))
            assert np.percentile(dist, 99) < 2e-3 and dist.max() < 1e-2
            labels = sample['labels']
            assert labels.max() < len(CLASSES_2D)


def test_seg2d_images_load_with_mmseg(world):
    import mmseg.datasets  # noqa: F401
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    from mmseg.registry import DATASETS
    cfg = Config.fromfile(TEACHER_CONFIG)
    assert tuple(cfg.metainfo['classes']) == CLASSES_2D
    np.testing.assert_array_equal(np.asarray(cfg.metainfo['palette']), palette_2d())
    preset = get_preset('tiny')
    for split, rooms in (('train', preset.teacher_train_rooms), ('val', preset.teacher_val_rooms)):
        key = 'train_dataloader' if split == 'train' else 'val_dataloader'
        dataset_cfg = cfg[key].dataset.copy()
        dataset_cfg.data_root = world['seg2d']
        with DefaultScope.overwrite_default_scope('mmseg'):
            dataset = DATASETS.build(dataset_cfg)
        assert len(dataset) == rooms * preset.teacher_frames_per_room
        sample = dataset[0]
        gt = sample['data_samples'].gt_sem_seg.data.numpy()[0]
        height, width = preset.image_size[1], preset.image_size[0]
        assert gt.shape == (height, width)
        assert set(np.unique(gt)) <= set(range(len(CLASSES_2D))) | {255}


def test_teacher_config_trains_and_loads_as_mmseg_teacher(world, tmp_path, tool):
    work_dir = tmp_path / 'teacher'
    seg2d = world['seg2d']
    tool('train.py', TEACHER_CONFIG, '--work-dir', str(work_dir), '--cfg-options',
         f'train_dataloader.dataset.data_root={seg2d}',
         f'val_dataloader.dataset.data_root={seg2d}',
         f'test_dataloader.dataset.data_root={seg2d}', 'train_cfg.max_iters=3',
         'train_cfg.val_interval=3', 'default_hooks.checkpoint.interval=3',
         'train_dataloader.batch_size=2', 'param_scheduler.0.end=1',
         'param_scheduler.1.begin=1')
    checkpoint = work_dir / 'iter_3.pth'
    assert checkpoint.is_file()
    from d3l.teachers.mmseg_teacher import MMSegTeacher
    teacher = MMSegTeacher(TEACHER_CONFIG, checkpoint=str(checkpoint))
    assert tuple(teacher.class_names) == CLASSES_2D
