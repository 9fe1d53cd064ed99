"""Class coverage of a ScanNet-layout world (d3l.benchmark.world.coverage):
expected Limited Annotations counts against the real split tool, counts of a
split file, rooms per class, and clear errors."""
import os

import numpy as np
import pytest
import torch

from d3l.benchmark.world import CLASSES_3D, coverage


def _write_world(root, scenes):
    """scenes: split -> {scene id: segment20 array}."""
    os.makedirs(root / 'meta', exist_ok=True)
    for split, table in scenes.items():
        for scene_id, labels in table.items():
            folder = root / split / scene_id
            os.makedirs(folder, exist_ok=True)
            labels = np.asarray(labels, np.int16)
            np.save(folder / 'segment20.npy', labels)
            np.save(folder / 'coord.npy', np.zeros((len(labels), 3), np.float32))
            np.save(folder / 'color.npy', np.zeros((len(labels), 3), np.uint8))
            np.save(folder / 'normal.npy', np.tile(np.float32([0, 0, 1]), (len(labels), 1)))
        (root / 'meta' / f'scannetv2_{split}.txt').write_text('\n'.join(table) + '\n')


@pytest.fixture
def world(tmp_path):
    rng = np.random.default_rng(0)
    train = {
        # 70 wall, 20 floor, 10 sink, 5 unlabelled
        'scene0000_00': rng.permutation([0] * 70 + [1] * 20 + [17] * 10 + [-1] * 5),
        # fewer labelled points (12) than asked for (20): every one is drawn
        'scene0001_00': rng.permutation([0] * 6 + [5] * 6),
    }
    val = {'scene0002_00': np.array([0, 0, 1, 17]), 'scene0003_00': np.array([0, 1, 1, -1])}
    _write_world(tmp_path, dict(train=train, val=val))
    return tmp_path


def test_expected_la_counts_follow_the_labelled_fractions(world):
    expected = coverage.expected_la_counts(str(world), 20)
    assert set(expected) == set(CLASSES_3D)
    # scene 0: 20 of its 100 labelled points; scene 1: all of its 12
    assert expected['wall'] == pytest.approx(20 * 0.7 + 6)
    assert expected['floor'] == pytest.approx(20 * 0.2)
    assert expected['sink'] == pytest.approx(20 * 0.1)
    assert expected['sofa'] == pytest.approx(6)
    assert sum(expected.values()) == pytest.approx(20 + 12)


def test_split_tool_counts_match_the_expectation(world, tmp_path):
    """The real split tool, averaged over seeds, gives the expected counts."""
    import importlib.util
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(__file__))), 'tools',
                        'make_data_efficient_splits.py')
    spec = importlib.util.spec_from_file_location('_split_tool', path)
    split_tool = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(split_tool)
    totals = np.zeros(len(CLASSES_3D))
    seeds = 30
    for seed in range(seeds):
        out = tmp_path / f'la{seed}'
        split_tool.main(['scannet-la', '--data-root', str(world), '--out', str(out),
                         '--points', '20', '--seed', str(seed)])
        counts = coverage.la_file_counts(str(world), str(out / 'points20'))
        assert sum(counts.values()) == 20 + 12  # only labelled points are drawn
        totals += [counts[name] for name in CLASSES_3D]
    expected = coverage.expected_la_counts(str(world), 20)
    mean = dict(zip(CLASSES_3D, totals / seeds))
    # sink: hypergeometric, 10 of 100, 20 drawn: std 1.2 per draw, 0.22 over 30 seeds
    assert mean['sink'] == pytest.approx(expected['sink'], abs=0.9)
    assert mean['wall'] == pytest.approx(expected['wall'], abs=1.2)
    assert mean['sofa'] == expected['sofa']


def test_rooms_and_scene_counts(world):
    rooms = coverage.rooms_per_class(str(world), 'val')
    assert rooms['wall'] == 2 and rooms['floor'] == 2 and rooms['sink'] == 1
    assert rooms['bed'] == 0
    counts = coverage.scene_list_counts(str(world), ['scene0001_00'])
    assert counts['wall'] == 6 and counts['sofa'] == 6 and counts['floor'] == 0


def test_la_file_of_known_points(world, tmp_path):
    labels = np.load(world / 'train' / 'scene0000_00' / 'segment20.npy')
    sink = np.flatnonzero(labels == 17)[:3]
    wall = np.flatnonzero(labels == 0)[:2]
    path = tmp_path / 'points5'
    torch.save({'scene0000_00': torch.from_numpy(np.concatenate([sink, wall]))}, path)
    counts = coverage.la_file_counts(str(world), str(path))
    assert counts['sink'] == 3 and counts['wall'] == 2 and sum(counts.values()) == 5


def test_bad_inputs_name_the_file(world, tmp_path):
    with pytest.raises(coverage.CoverageError, match='scannetv2_test.txt'):
        coverage.expected_la_counts(str(world), 20, split='test')
    bad = tmp_path / 'not_a_dict'
    torch.save([1, 2, 3], bad)
    with pytest.raises(coverage.CoverageError, match='not_a_dict.*dict scene id'):
        coverage.la_file_counts(str(world), str(bad))
    os.remove(world / 'val' / 'scene0003_00' / 'segment20.npy')
    with pytest.raises(coverage.CoverageError, match='scene0003_00.*segment20.npy'):
        coverage.rooms_per_class(str(world), 'val')
    from d3l.utils.errors import D3LError
    assert issubclass(coverage.CoverageError, D3LError)
