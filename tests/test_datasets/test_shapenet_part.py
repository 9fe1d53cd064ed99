"""ShapeNet part: official layout reader, global part ids, subsets."""
import os.path as osp
import sys

import numpy as np
import pytest
from downstream_data import make_shapenet_root

from d3l.datasets import ShapeNetPartDataset
from d3l.datasets.shapenet_part import PART_CLASSES, category_parts

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                            'tools'))


@pytest.fixture
def shapenet_root(tmp_path):
    return make_shapenet_root(str(tmp_path / 'shapenet'),
                              counts={'train': 6, 'val': 2, 'test': 2}, num_points=40)


def test_standard_part_table():
    parts = category_parts()
    assert len(parts) == 16 and len(PART_CLASSES) == 50
    # the global ids of the benchmark (PointNet's seg_classes)
    assert parts['Airplane'] == [0, 1, 2, 3] and parts['Bag'] == [4, 5]
    assert parts['Earphone'] == [16, 17, 18] and parts['Motorbike'] == [30, 31, 32, 33, 34, 35]
    assert parts['Mug'] == [36, 37] and parts['Table'] == [47, 48, 49]
    flat = [p for ids in parts.values() for p in ids]
    assert flat == list(range(50))


def test_reader_splits_and_labels(shapenet_root):
    trainval = ShapeNetPartDataset(shapenet_root, split='trainval')
    assert len(trainval) == 2 * (6 + 2)
    assert len(ShapeNetPartDataset(shapenet_root, split='test')) == 4
    mug_only = ShapeNetPartDataset(shapenet_root, split='train', categories=['Mug'])
    assert len(mug_only) == 6
    sample = mug_only[0]
    assert sample['category'] == 'Mug' and sample['label'] == 11
    assert set(np.unique(sample['labels'])) <= {36, 37}
    raw = np.loadtxt(osp.join(shapenet_root, f'{sample["shape_id"]}.txt'))
    assert np.array_equal(sample['labels'], raw[:, 6].astype(int))
    bbmin, bbmax = sample['points'].min(0), sample['points'].max(0)
    assert np.linalg.norm(bbmax - bbmin) / 2 == pytest.approx(0.8, rel=1e-5)
    meta = trainval.metainfo
    assert meta['category_parts']['Mug'] == [36, 37] and len(meta['classes']) == 50


def test_subsets(shapenet_root, tmp_path):
    from make_data_efficient_splits import main as make_splits
    out = str(tmp_path / 'splits')
    make_splits(['shapenet-part', '--data-root', shapenet_root, '--percent', '5', '25',
                 '--out', out])
    five = open(osp.join(out, 'shapenet_part_trainval_5pct.txt')).read().split()
    quarter = open(osp.join(out, 'shapenet_part_trainval_25pct.txt')).read().split()
    assert len(five) == 2 and len(quarter) == 4  # 8 shapes per category
    assert {i.split('/')[0] for i in five} == {'02773838', '03797390'}
    assert set(five) <= set(quarter)
    labeled = ShapeNetPartDataset(shapenet_root, subset_file=osp.join(out,
                                  'shapenet_part_trainval_25pct.txt'))
    assert labeled.shape_ids == quarter
    unlabeled = ShapeNetPartDataset(shapenet_root, subset='unlabeled', subset_file=osp.join(
        out, 'shapenet_part_trainval_25pct.txt'))
    assert len(unlabeled) == 12 and np.all(unlabeled[0]['labels'] == 255)


def test_bad_input(shapenet_root):
    dataset = ShapeNetPartDataset(shapenet_root, split='test', categories=['Bag'])
    path = osp.join(shapenet_root, f'{dataset.shape_ids[0]}.txt')
    data = np.loadtxt(path)
    data[3, 6] = 37  # a Mug part on a Bag
    np.savetxt(path, data)
    with pytest.raises(ValueError, match='part id 37 is not a part of Bag'):
        dataset[0]
    with pytest.raises(ValueError, match='unknown categories'):
        ShapeNetPartDataset(shapenet_root, categories=['Sofa'])


def test_one_category_for_per_category_fine_tuning(shapenet_root, tmp_path):
    mug = ShapeNetPartDataset(shapenet_root, split='trainval', category='Mug')
    assert mug.shape_ids == ShapeNetPartDataset(shapenet_root, split='trainval',
                                                categories=['Mug']).shape_ids
    assert len(mug) == 8 and all(i.startswith('03797390/') for i in mug.shape_ids)
    # the data-efficient subset keeps its shapes of that category only
    joint = ShapeNetPartDataset(shapenet_root, split='trainval')
    subset = tmp_path / 'subset.txt'
    subset.write_text('\n'.join([joint.shape_ids[0], *mug.shape_ids[:2]]) + '\n')
    assert not joint.shape_ids[0].startswith('03797390/')
    labeled = ShapeNetPartDataset(shapenet_root, category='Mug', subset_file=str(subset))
    assert sorted(labeled.shape_ids) == sorted(mug.shape_ids[:2])
    unlabeled = ShapeNetPartDataset(shapenet_root, category='Mug', subset_file=str(subset),
                                    subset='unlabeled')
    assert sorted(unlabeled.shape_ids) == sorted(mug.shape_ids[2:])
    with pytest.raises(ValueError, match='disagree'):
        ShapeNetPartDataset(shapenet_root, category='Mug', categories=['Bag'])
    with pytest.raises(ValueError, match='list of names'):
        ShapeNetPartDataset(shapenet_root, categories='Mug')
    with pytest.raises(ValueError, match='unknown categories'):
        ShapeNetPartDataset(shapenet_root, category='Sofa')
