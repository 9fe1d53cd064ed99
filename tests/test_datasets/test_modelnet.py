"""ModelNet40: official layout reader, O-CNN normalisation, per-category
data-efficient subsets."""
import os.path as osp
import sys

import numpy as np
import pytest
from downstream_data import MODELNET_SHAPES, make_modelnet_root

from d3l.datasets import ModelNet40Dataset
from d3l.datasets.modelnet import shape_category

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                            'tools'))


@pytest.fixture
def modelnet_root(tmp_path):
    return make_modelnet_root(str(tmp_path / 'modelnet40_normal_resampled'),
                              counts={'train': 10, 'test': 2}, num_points=50)


def test_reader_layout_and_normalisation(modelnet_root):
    dataset = ModelNet40Dataset(modelnet_root, split='train')
    assert dataset.metainfo['classes'] == tuple(MODELNET_SHAPES)
    assert len(dataset) == 40
    sample = dataset[12]
    raw = np.loadtxt(osp.join(modelnet_root, sample['category'], f'{sample["shape_id"]}.txt'),
                     delimiter=',')
    assert sample['label'] == list(MODELNET_SHAPES).index(sample['category'])
    # O-CNN: bounding-box centre at the origin, half the box diagonal = 0.8
    bbmin, bbmax = sample['points'].min(0), sample['points'].max(0)
    assert np.allclose((bbmin + bbmax) / 2, 0, atol=1e-5)
    assert np.linalg.norm(bbmax - bbmin) / 2 == pytest.approx(0.8, rel=1e-5)
    # a similarity transform of the raw points (same shape, new frame)
    raw_d = np.linalg.norm(raw[0, :3] - raw[1, :3])
    new_d = np.linalg.norm(sample['points'][0] - sample['points'][1])
    factor = 0.8 / (np.linalg.norm(raw[:, :3].max(0) - raw[:, :3].min(0)) / 2)
    assert new_d == pytest.approx(raw_d * factor, rel=1e-4)
    assert np.allclose(np.linalg.norm(sample['normals'], axis=1), 1, atol=1e-4)
    assert np.allclose(sample['colors'], 0.5)
    assert sample['colors'].shape == sample['points'].shape
    # the files are y-up; d3l turns them z-up (new z = old y, new y = -old z)
    file_frame = ModelNet40Dataset(modelnet_root, split='train', up_axis='z')[12]
    assert np.allclose(sample['points'][:, 2], file_frame['points'][:, 1], atol=1e-6)
    assert np.allclose(sample['points'][:, 1], -file_frame['points'][:, 2], atol=1e-6)
    assert np.allclose(sample['normals'][:, 2], file_frame['normals'][:, 1], atol=1e-6)
    first = ModelNet40Dataset(modelnet_root, split='test', num_points=20)[0]
    assert first['points'].shape == (20, 3)


def test_subsets_per_category_nested_and_reproducible(modelnet_root, tmp_path):
    from make_data_efficient_splits import main as make_splits
    out = str(tmp_path / 'splits')
    make_splits(['modelnet40', '--data-root', modelnet_root, '--percent', '1', '20', '50',
                 '--seed', '2', '--out', out])
    read = lambda p: open(osp.join(out, f'modelnet40_train_{p}pct.txt')).read().split()  # noqa
    one, twenty, fifty = read(1), read(20), read(50)
    # 10 shapes per category: 1 % -> at least one each, 20 % -> 2, 50 % -> 5
    for ids, per_category in ((one, 1), (twenty, 2), (fifty, 5)):
        counts = {c: sum(shape_category(i) == c for i in ids) for c in MODELNET_SHAPES}
        assert set(counts.values()) == {per_category}
    assert set(one) <= set(twenty) <= set(fifty)
    out2 = str(tmp_path / 'again')
    make_splits(['modelnet40', '--data-root', modelnet_root, '--percent', '20', '--seed', '2',
                 '--out', out2])
    assert open(osp.join(out2, 'modelnet40_train_20pct.txt')).read().split() == twenty
    make_splits(['modelnet40', '--data-root', modelnet_root, '--percent', '20', '--seed', '3',
                 '--out', out2])
    assert open(osp.join(out2, 'modelnet40_train_20pct.txt')).read().split() != twenty

    labeled = ModelNet40Dataset(modelnet_root,
                                subset_file=osp.join(out, 'modelnet40_train_20pct.txt'))
    assert labeled.shape_ids == twenty and labeled[0]['label'] != 255
    unlabeled = ModelNet40Dataset(modelnet_root, subset='unlabeled',
                                  subset_file=osp.join(out, 'modelnet40_train_20pct.txt'))
    assert len(unlabeled) == 40 - len(twenty)
    assert not set(unlabeled.shape_ids) & set(twenty)
    assert unlabeled[0]['label'] == 255


def test_bad_input(modelnet_root, tmp_path):
    subset = tmp_path / 'subset.txt'
    subset.write_text('bathtub_0001\nairplane_9999\n')
    with pytest.raises(ValueError, match=r'subset.txt names 1 shape.*airplane_9999'):
        ModelNet40Dataset(modelnet_root, subset_file=str(subset))
    with open(osp.join(modelnet_root, 'modelnet40_test.txt'), 'a') as f:
        f.write('piano_0001\n')
    with pytest.raises(ValueError, match="piano_0001 has category 'piano'"):
        ModelNet40Dataset(modelnet_root, split='test')
    dataset = ModelNet40Dataset(modelnet_root)
    path = osp.join(modelnet_root, 'bathtub', 'bathtub_0001.txt')
    with open(path, 'w') as f:
        f.write('1,2\n3,4\n')
    with pytest.raises(ValueError, match='bathtub_0001.txt must have >= 6 columns'):
        dataset[0]
