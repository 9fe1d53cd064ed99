"""Every annotated point of a Limited-Annotations scene reaches the loss:
``GridSample`` / ``LimitPoints`` / ``RandomChunkCrop`` with ``keep_labeled``."""
import copy
import os
import os.path as osp
import sys

import numpy as np
import pytest
import torch
from mmcv.transforms import Compose
from mmengine.config import Config

from d3l.datasets import ScanNetDataset
from d3l.datasets.scannet import nyu40_to_scannet20
from d3l.datasets.transforms import GridSample, LimitPoints, RandomChunkCrop
from d3l.geometry import grid_sample_indices
from d3l.registry import MODELS, TRANSFORMS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))

pytestmark = pytest.mark.filterwarnings('ignore::UserWarning')


# ------------------------------------------------------------------ the real LA-20 sample
@pytest.fixture(scope='module')
def la_scene(tmp_path_factory):
    """scene0000_00 in Pointcept's layout with the 20- and 200-point LA files of
    tools/make_data_efficient_splits.py; its first sample with ``point_index``."""
    from conftest import realdata_path
    folder = realdata_path('scannet_scene0000', 'scannet_train_instance_data')
    vert = np.load(osp.join(folder, 'scene0000_00_vert_all.npy'))
    labels = nyu40_to_scannet20(np.load(osp.join(folder, 'scene0000_00_sem_label_all.npy')))
    tmp = tmp_path_factory.mktemp('la')
    scene = tmp / 'scannet' / 'train' / 'scene0000_00'
    os.makedirs(scene)
    np.save(scene / 'coord.npy', vert[:, :3].astype(np.float32))
    np.save(scene / 'color.npy', vert[:, 3:].astype(np.uint8))
    np.save(scene / 'normal.npy', np.tile(np.float32([0, 0, 1]), (len(vert), 1)))
    np.save(scene / 'segment20.npy', np.where(labels == 255, -1, labels))
    from make_data_efficient_splits import main as make_splits
    make_splits(['scannet-la', '--data-root', str(tmp / 'scannet'), '--points', '20', '200',
                 '--seed', '0', '--out', str(tmp / 'points')])

    def sample(points_per_scene):
        dataset = ScanNetDataset(str(tmp / 'scannet'), split='train',
                                 la_file=str(tmp / 'points' / f'points{points_per_scene}'))
        out = dataset[0]
        out['point_index'] = np.arange(len(out['points']))
        return out
    return sample


LA20_CONFIG = 'configs/scannet_la/segmentor_scratch_scannet_ocnn_la20.py'


def _train_pipeline(keep_labeled: bool, max_points: int = None):
    """The training pipeline of the LA-20 config (``keep_labeled=True``), or
    the full-supervision one it derives from (configs/_base_/datasets/scannet.py)."""
    if keep_labeled:
        cfg = Config.fromfile(osp.join(REPO, LA20_CONFIG))
        pipeline = copy.deepcopy(cfg.train_dataloader.dataset.pipeline)
    else:
        cfg = Config.fromfile(osp.join(REPO, 'configs/_base_/datasets/scannet.py'))
        pipeline = copy.deepcopy(cfg.train_pipeline)
    steps = {step['type']: step for step in pipeline}
    assert steps['GridSample'].get('keep_labeled', False) == keep_labeled
    assert steps['LimitPoints'].get('keep_labeled', False) == keep_labeled
    if max_points is not None:
        steps['LimitPoints']['max_points'] = max_points
    return Compose([TRANSFORMS.build(step) for step in pipeline])


def _annotated_in_loss(packed):
    """Rows of the packed sample that get a gradient from the configs' loss."""
    labels = packed['data_samples']['labels']
    logits = torch.zeros(len(labels), 20, requires_grad=True)
    MODELS.build(dict(type='CrossEntropyLoss', ignore_index=255))(logits, labels).backward()
    return torch.nonzero(logits.grad.abs().sum(1) > 0).reshape(-1)


def test_every_la20_label_reaches_the_loss_on_every_draw(la_scene):
    sample = la_scene(20)
    annotated = np.flatnonzero(sample['labels'] != 255)
    assert len(annotated) == 20
    pipeline = _train_pipeline(keep_labeled=True)
    np.random.seed(0)
    for _ in range(8):
        packed = pipeline(copy.deepcopy(sample))
        rows = _annotated_in_loss(packed).numpy()
        index = packed['data_samples']['point_index'].numpy()
        labels = packed['data_samples']['labels'].numpy()
        # each of the 20 vertices is there once, with its label, and is in the loss
        assert sorted(index[rows].tolist()) == annotated.tolist()
        assert np.array_equal(labels[rows], sample['labels'][index[rows]])
        # the other points are still one per 2 cm voxel (with RandomScale etc. applied)
        assert packed['inputs']['coord'].shape[0] < len(sample['points'])
    # the same draws without the option lose annotated points (the test can fail)
    plain = _train_pipeline(keep_labeled=False)
    np.random.seed(0)
    reached = [len(_annotated_in_loss(plain(copy.deepcopy(sample)))) for _ in range(8)]
    assert min(reached) < 20


def test_without_keep_labeled_grid_sampling_loses_annotated_points(la_scene):
    """What the option fixes: a random point per voxel drops annotated ones."""
    sample = la_scene(200)
    lost = []
    for seed in range(4):
        out = GridSample(0.02, mode='train', seed=seed)(copy.deepcopy(sample))
        lost.append(200 - int(np.sum(out['labels'] != 255)))
        kept = GridSample(0.02, mode='train', seed=seed, keep_labeled=True)(copy.deepcopy(sample))
        assert np.sum(kept['labels'] != 255) == 200
    assert max(lost) > 0


def test_active_crop_keeps_one_annotated_point_and_counts_the_rest(la_scene):
    """A 30k-point cap cuts the 80k-point scene: at least one annotated point
    stays and ``num_labeled_dropped`` counts the others exactly."""
    sample = la_scene(20)
    pipeline = _train_pipeline(keep_labeled=True, max_points=30000)
    crop = [t for t in pipeline.transforms if isinstance(t, LimitPoints)][0]
    np.random.seed(1)
    dropped_any = False
    for _ in range(4):
        # stop before packing to read the count
        results = copy.deepcopy(sample)
        for transform in pipeline.transforms[:-1]:
            results = transform(results)
        kept = int(np.sum(results['labels'] != 255))
        assert len(results['points']) == 30000
        assert kept >= 1
        assert results['num_labeled_dropped'] == 20 - kept
        dropped_any |= kept < 20
    assert dropped_any
    assert crop.tally.samples == 4 and crop.tally.labeled == 80


# ------------------------------------------------------------------ synthetic unit checks
def _cloud(num=4000, labeled=20, seed=0, dense_cells=False):
    rng = np.random.default_rng(seed)
    points = rng.random((num, 3)).astype(np.float32) * 2
    if dense_cells:  # many points per 0.1 voxel
        points = np.round(points * 10) / 10 + rng.random((num, 3)).astype(np.float32) * 0.01
    labels = np.full(num, 255, np.int64)
    labels[rng.choice(num, labeled, replace=False)] = rng.integers(0, 20, labeled)
    return dict(points=points, labels=labels, colors=rng.random((num, 3)).astype(np.float32),
                point_index=np.arange(num))


def test_grid_sample_keep_labeled_keeps_all_and_one_point_elsewhere():
    sample = _cloud(dense_cells=True, labeled=300)
    out = GridSample(0.1, mode='train', seed=0, keep_labeled=True,
                     return_inverse=True)(copy.deepcopy(sample))
    annotated = np.flatnonzero(sample['labels'] != 255)
    assert set(annotated) <= set(out['point_index'].tolist())
    # independent reference: voxels from floor(x / 0.1)
    voxel = [tuple(v) for v in np.floor(sample['points'] / 0.1).astype(int)]
    labeled_voxels = {voxel[i] for i in annotated}
    kept_voxels = [voxel[i] for i in out['point_index']]
    assert set(kept_voxels) == set(voxel)  # every voxel still represented
    unlabeled_kept = [voxel[i] for i in out['point_index'] if sample['labels'][i] == 255]
    assert len(unlabeled_kept) == len(set(unlabeled_kept))  # one point per such voxel
    assert not set(unlabeled_kept) & labeled_voxels  # annotated voxels keep annotated points
    # inverse: annotated points map to themselves, others to a point of their voxel
    inverse = out['inverse']
    assert np.array_equal(out['point_index'][inverse[annotated]], annotated)
    assert all(kept_voxels[inverse[i]] == voxel[i] for i in range(0, 4000, 7))
    assert np.array_equal(out['origin_labels'], sample['labels'])


def test_keep_labeled_changes_nothing_without_annotations():
    """The unlabelled stream (every label 255) and clouds without labels are
    sampled and cropped exactly as without the option."""
    sample = _cloud()
    sample['labels'][:] = 255
    for transform in (GridSample, ):
        plain = transform(0.1, mode='train', seed=3)(copy.deepcopy(sample))
        kept = transform(0.1, mode='train', seed=3, keep_labeled=True)(copy.deepcopy(sample))
        assert np.array_equal(plain['point_index'], kept['point_index'])
    for mode in ('sphere', 'random', 'center'):
        plain = LimitPoints(500, mode=mode, seed=4)(copy.deepcopy(sample))
        kept = LimitPoints(500, mode=mode, seed=4, keep_labeled=True)(copy.deepcopy(sample))
        assert np.array_equal(plain['point_index'], kept['point_index'])
        assert 'num_labeled_dropped' not in kept
    unlabeled = {k: v for k, v in sample.items() if k != 'labels'}
    plain = RandomChunkCrop(0.5, 0.25, min_points=100, seed=5)(copy.deepcopy(unlabeled))
    kept = RandomChunkCrop(0.5, 0.25, min_points=100, seed=5,
                           keep_labeled=True)(copy.deepcopy(unlabeled))
    assert np.array_equal(plain['point_index'], kept['point_index'])


def test_grid_sample_default_matches_one_point_per_voxel():
    sample = _cloud(dense_cells=True, labeled=300)
    out = GridSample(0.1, mode='train', seed=0)(copy.deepcopy(sample))
    keep, _ = grid_sample_indices(sample['points'], 0.1, 'train', np.random.default_rng(0))
    assert np.array_equal(out['point_index'], keep)


@pytest.mark.parametrize('mode', ['sphere', 'center', 'random'])
def test_limit_points_keeps_an_annotated_point(mode):
    sample = _cloud(num=5000, labeled=3, seed=2)
    for seed in range(5):
        out = LimitPoints(300, mode=mode, seed=seed, keep_labeled=True)(copy.deepcopy(sample))
        kept = int(np.sum(out['labels'] != 255))
        assert len(out['points']) == 300 and kept >= 1
        assert out['num_labeled_dropped'] == 3 - kept
        if mode == 'random':
            assert kept == 3
            continue
        # still a ball around the box centre or a kept annotated point
        centres = [sample['points'][i] for i in out['point_index'][out['labels'] != 255]]
        centres.append((sample['points'].min(0) + sample['points'].max(0)) / 2)
        inside = np.zeros(len(sample['points']), bool)
        inside[out['point_index']] = True
        assert any(_is_ball(sample['points'], inside, c) for c in centres)


def _is_ball(points, inside, centre):
    dist = np.linalg.norm(points - centre, axis=1)
    return dist[inside].max() <= dist[~inside].min()


@pytest.mark.parametrize('mode', ['grid', 'random'])
def test_chunk_crop_keeps_an_annotated_point(mode):
    sample = _cloud(num=6000, labeled=2, seed=6)
    for seed in range(6):
        out = RandomChunkCrop((0.5, 0.5, 5), 0.25, min_points=10 ** 6, mode=mode, seed=seed,
                              keep_labeled=True)(copy.deepcopy(sample))
        kept = int(np.sum(out['labels'] != 255))
        assert kept >= 1 and out['num_labeled_dropped'] == 2 - kept
        assert np.all(out['points'] >= out['chunk_origin'] - 1e-6)
        assert np.all(out['points'] <= out['chunk_origin'] + [0.5, 0.5, 5] + 1e-6)
    # without the option a small chunk usually misses both annotated points
    missed = sum(int(np.sum(RandomChunkCrop((0.5, 0.5, 5), 0.25, min_points=10 ** 6, mode=mode,
                                            seed=s)(copy.deepcopy(sample))['labels'] != 255)) == 0
                 for s in range(6))
    assert missed > 0


def test_dense_labels_warn():
    sample = _cloud(labeled=3000)
    sparse = GridSample(0.1, mode='train', seed=0, keep_labeled=True)
    sparse(_cloud(labeled=20))
    assert not sparse._warned_dense
    dense = GridSample(0.1, mode='train', seed=0, keep_labeled=True)
    out = dense(copy.deepcopy(sample))
    assert np.sum(out['labels'] != 255) == 3000 and dense._warned_dense
