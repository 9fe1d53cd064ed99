"""SemiDataset / SemiSampler / PseudoLabelDataset and view matching."""
import os.path as osp

import numpy as np
import pytest
import torch
from downstream_data import make_scannet_root

from d3l.datasets import point_collate
from d3l.datasets.semi import PseudoLabelDataset, SemiDataset, SemiSampler, save_pseudo_labels
from d3l.datasets.synthetic_shapes import SyntheticShapesDataset
from d3l.models.algorithms.mean_teacher_entmin import match_views

IGNORE = 255
SUBSET = [dict(type='LimitPoints', max_points=60, mode='random'),
          dict(type='PackPointInputs', feat_keys=('normals',))]


def _shapes(seed, num_samples=4, pipeline=SUBSET):
    return dict(type='SyntheticShapesDataset', task='seg', num_samples=num_samples,
                num_points=80, seed=seed, pipeline=pipeline)


def test_views_carry_point_index_into_the_loaded_cloud():
    dataset = SemiDataset(labeled=_shapes(0), unlabeled=_shapes(5, 6), num_views=2)
    reference = SyntheticShapesDataset(task='seg', num_samples=6, num_points=80, seed=0)
    unlabeled_reference = SyntheticShapesDataset(task='seg', num_samples=6, num_points=80,
                                                 seed=5)
    labeled, unlabeled = dataset[(1, (3,))]
    raw = reference.generate(1)
    assert len(labeled['inputs']) == 2
    indices = []
    for view, (inputs, sample) in enumerate(zip(labeled['inputs'], labeled['data_samples']
                                                ['views'])):
        index = sample['point_index'].numpy()
        assert len(np.unique(index)) == 60 and inputs['feat'].shape == (60, 3)
        # the packed features and labels are the loaded cloud's rows point_index
        assert np.array_equal(inputs['feat'].numpy(), raw['normals'][index]), view
        assert np.array_equal(sample['labels'].numpy(), raw['labels'][index]), view
        assert sample['metainfo']['stream'] == 'labeled'
        indices.append(index)
    assert not np.array_equal(indices[0], indices[1])  # independently subsampled views
    top = labeled['data_samples']
    assert torch.equal(top['point_index'], top['views'][0]['point_index'])

    u_raw = unlabeled_reference.generate(3)
    for inputs, sample in zip(unlabeled['inputs'], unlabeled['data_samples']['views']):
        index = sample['point_index'].numpy()
        assert np.array_equal(inputs['feat'].numpy(), u_raw['normals'][index])
        assert (sample['labels'] == IGNORE).all()  # hidden, whatever the dataset had
        assert sample['metainfo']['stream'] == 'unlabeled'

    batch = point_collate([dataset[(0, (1,))], dataset[(2, (4,))]])
    views = batch['inputs']['views']
    assert len(views) == 2 and all(v['batch_size'] == 4 for v in views)
    streams = [s['metainfo']['stream'] for s in batch['data_samples']]
    assert streams == ['labeled', 'unlabeled', 'labeled', 'unlabeled']


def test_single_view_items_are_plain_packed_samples_and_int_index_needs_no_stream():
    dataset = SemiDataset(labeled=_shapes(0))
    item = dataset[2]
    assert isinstance(item['inputs'], dict) and 'views' not in item['data_samples']
    assert 'point_index' not in item['data_samples']
    assert len(dataset) == 4 and dataset.metainfo['classes'][0] == 'box'
    with pytest.raises(TypeError, match='SemiSampler'):
        SemiDataset(labeled=_shapes(0), unlabeled=_shapes(1))[0]


def test_several_labelled_datasets_are_concatenated():
    dataset = SemiDataset(labeled=[_shapes(0, 3), _shapes(9, 2)])
    assert len(dataset) == 5
    other = SyntheticShapesDataset(task='seg', num_samples=2, num_points=80, seed=9)
    item = dataset[4]
    assert item['data_samples']['metainfo']['sample_idx'] == 1
    labels = item['data_samples']['labels'].numpy()
    assert np.isin(labels, other.generate(1)['labels']).all()
    with pytest.raises(IndexError):
        dataset.get_labeled(5)


def test_unlabeled_subset_is_fixed_by_its_seed():
    first = SemiDataset(labeled=_shapes(0), unlabeled=_shapes(1, 10), unlabeled_subset=0.3)
    again = SemiDataset(labeled=_shapes(0), unlabeled=_shapes(1, 10), unlabeled_subset=3)
    other = SemiDataset(labeled=_shapes(0), unlabeled=_shapes(1, 10), unlabeled_subset=3,
                        subset_seed=1)
    assert first.num_unlabeled == 3 and first.unlabeled_indices == again.unlabeled_indices
    assert other.unlabeled_indices != first.unlabeled_indices
    with pytest.raises(ValueError, match='has 10 samples'):
        SemiDataset(labeled=_shapes(0), unlabeled=_shapes(1, 10), unlabeled_subset=11)


def test_sampler_draws_fresh_unlabelled_samples_every_epoch():
    dataset = SemiDataset(labeled=_shapes(0, 4), unlabeled=_shapes(1, 12))
    sampler = SemiSampler(dataset, num_unlabeled=2, seed=3)
    epochs = []
    for epoch in range(3):
        sampler.set_epoch(epoch)
        pairs = list(sampler)
        assert len(pairs) == len(sampler) == 4
        assert sorted(p[0] for p in pairs) == [0, 1, 2, 3]  # each labelled sample once
        drawn = [j for _, js in pairs for j in js]
        assert len(drawn) == 8 and len(set(drawn)) == 8  # no repeat within an epoch
        epochs.append(drawn)
    assert epochs[0] != epochs[1] != epochs[2]
    sampler.set_epoch(1)
    assert [j for _, js in sampler for j in js] == epochs[1]  # deterministic

    longer = SemiSampler(dataset, num_unlabeled=1, seed=0, epoch_length=10)
    counts = np.bincount([i for i, _ in longer], minlength=4)
    assert len(longer) == 10 and counts.min() >= 2
    with pytest.raises(ValueError, match='no unlabeled stream'):
        SemiSampler(SemiDataset(labeled=_shapes(0)), num_unlabeled=1)


def test_sampler_splits_both_streams_over_ranks(monkeypatch):
    import d3l.datasets.semi.dataset as semi
    dataset = SemiDataset(labeled=_shapes(0, 5), unlabeled=_shapes(1, 12))
    shards = []
    for rank in range(2):
        monkeypatch.setattr(semi, 'get_dist_info', lambda rank=rank: (rank, 2))
        sampler = SemiSampler(dataset, num_unlabeled=2, seed=0)
        shards.append(list(sampler))
    assert len(shards[0]) == len(shards[1]) == 3  # 5 rounded up to 6
    labeled = [i for shard in shards for i, _ in shard]
    assert set(labeled) == set(range(5))
    drawn = [j for shard in shards for _, js in shard for j in js]
    assert len(drawn) == 12 and len(set(drawn)) == 12  # ranks never share a sample


def test_match_views():
    index_a = torch.tensor([5, 1, 7, 5, 2])
    batch_a = torch.tensor([0, 0, 0, 1, 1])
    index_b = torch.tensor([7, 5, 3, 2, 5])
    batch_b = torch.tensor([0, 0, 1, 1, 1])
    rows_a, rows_b = match_views(index_a, batch_a, index_b, batch_b)
    assert rows_a.tolist() == [0, 2, 3, 4]
    assert rows_b.tolist() == [1, 0, 4, 3]
    empty = match_views(index_a, batch_a, index_b[:0], batch_b[:0])
    assert empty[0].numel() == 0


@pytest.fixture
def scannet_lr(tmp_path):
    root = make_scannet_root(str(tmp_path / 'scannet'),
                             {'train': ['scene0000_00', 'scene0001_00', 'scene0002_00',
                                        'scene0003_00']}, num_points=300)
    lr_file = tmp_path / 'lr.txt'
    lr_file.write_text('scene0001_00\n')
    return root, str(lr_file)


def test_scannet_lr_streams_with_voxel_subsampled_views(scannet_lr):
    root, lr_file = scannet_lr
    pipeline = [dict(type='GridSample', grid_size=0.4, mode='train'),
                dict(type='RandomRotate'),
                dict(type='PackPointInputs', feat_keys=('colors', 'normals'))]
    scans = dict(type='ScanNetDataset', data_root=root, split='train', lr_file=lr_file,
                 pipeline=pipeline)
    dataset = SemiDataset(labeled=dict(scans, subset='labeled'),
                          unlabeled=dict(scans, subset='unlabeled'), num_views=2)
    assert dataset.num_labeled == 1 and dataset.num_unlabeled == 3
    batch = point_collate([dataset[(0, (2,))]])
    samples = batch['data_samples']
    assert samples[0]['metainfo']['scene_id'] == 'scene0001_00'
    assert (samples[0]['labels'] != IGNORE).any() and (samples[1]['labels'] == IGNORE).all()
    views = batch['inputs']['views']
    index = [torch.cat([s['views'][v]['point_index'] for s in samples]) for v in range(2)]
    cloud = [torch.repeat_interleave(torch.arange(2), torch.tensor(
        [len(s['views'][v]['point_index']) for s in samples])) for v in range(2)]
    rows_a, rows_b = match_views(index[0], cloud[0], index[1], cloud[1])
    # random voxel representatives: some points are in both views, not all
    assert 0 < rows_a.numel() < views[0]['coord'].shape[0]
    # the same original points: identical colours, differently rotated normals
    feat_a, feat_b = views[0]['feat'][rows_a], views[1]['feat'][rows_b]
    assert torch.equal(feat_a[:, :3], feat_b[:, :3])
    assert not torch.allclose(feat_a[:, 3:], feat_b[:, 3:])


def test_pseudo_label_dataset_reads_labels_beside_never_into_the_scenes(scannet_lr, tmp_path):
    root, lr_file = scannet_lr
    scans = dict(type='ScanNetDataset', data_root=root, split='train', lr_file=lr_file,
                 subset='unlabeled',
                 pipeline=[dict(type='PackPointInputs', feat_keys=('colors', 'normals'))])
    label_root = tmp_path / 'pseudo'
    expected = {}
    for i, scene in enumerate(['scene0000_00', 'scene0002_00', 'scene0003_00']):
        labels = np.full(300, IGNORE)
        labels[i::7] = i + 2
        save_pseudo_labels(str(label_root / scene / 'segment20.npy'), labels)
        expected[scene] = labels
    dataset = PseudoLabelDataset(scans, label_root=str(label_root))
    assert len(dataset) == 3
    for item in (dataset[0], dataset[2]):
        sample = item['data_samples']
        assert sample['metainfo']['stream'] == 'pseudo'
        assert np.array_equal(sample['labels'].numpy(), expected[sample['metainfo']['scene_id']])
    # used as a labelled stream of a SemiDataset, it stays 'pseudo' and keeps its labels
    semi = SemiDataset(labeled=[dict(scans, subset='labeled'), dataset])
    sample = semi[3]['data_samples']
    assert sample['metainfo']['stream'] == 'pseudo' and (sample['labels'] != IGNORE).any()
    assert semi[0]['data_samples']['metainfo']['stream'] == 'labeled'

    np.save(str(label_root / 'scene0002_00' / 'segment20.npy'), np.zeros(299, np.int16))
    with pytest.raises(ValueError, match=r'scene0002_00/segment20.npy has 299 labels'):
        dataset[1]
    (label_root / 'scene0003_00' / 'segment20.npy').unlink()
    with pytest.raises(FileNotFoundError, match=r'1 of 3 scenes have no segment20.npy'):
        PseudoLabelDataset(scans, label_root=str(label_root))
    with pytest.raises(FileNotFoundError, match='make_confident_pseudo_labels'):
        PseudoLabelDataset(scans, label_root=str(tmp_path / 'nowhere'))
    assert not osp.exists(osp.join(root, 'train', 'scene0000_00', 'pseudo'))
