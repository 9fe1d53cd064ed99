"""Confident pseudo-label selection and its files."""
import numpy as np
import pytest

from d3l.datasets.semi import (
    load_pseudo_labels,
    num_kept,
    pseudo_label_path,
    sample_key,
    save_pseudo_labels,
    select_confident,
)

IGNORE = 255


def test_keeps_exactly_the_top_fraction_of_each_class():
    # class 0: 10 points (keep 2), class 1: 5 points (keep 1), class 2: 20 points (keep 4)
    pred = np.array([0] * 10 + [1] * 5 + [2] * 20)
    rng = np.random.default_rng(0)
    confidence = rng.permutation(35) / 35.0  # distinct values
    order = rng.permutation(35)  # points of the classes interleaved
    pred, confidence = pred[order], confidence[order]
    out = select_confident(pred, confidence, ratio=0.2)
    for c, k in ((0, 2), (1, 1), (2, 4)):
        members = np.flatnonzero(pred == c)
        top = members[np.argsort(-confidence[members])[:k]]
        assert set(np.flatnonzero(out == c)) == set(top), c
    assert (out[(out != IGNORE)] == pred[out != IGNORE]).all()
    assert (out == IGNORE).sum() == 35 - 7


def test_small_and_absent_classes_and_ties():
    pred = np.array([3, 3, 3, 1, 0, 0, 0, 0, 0, 0])
    confidence = np.array([0.2, 0.9, 0.5, 0.1, 0.7, 0.7, 0.7, 0.3, 0.7, 0.6])
    out = select_confident(pred, confidence, ratio=0.2, num_classes=5)
    # 3 points of class 3 < 1/ratio: the single most confident one stays
    assert np.flatnonzero(out == 3).tolist() == [1]
    # a lone point of class 1 stays
    assert np.flatnonzero(out == 1).tolist() == [3]
    # 6 points of class 0 -> floor(1.2) = 1; four-way tie at 0.7: the earliest point wins
    assert np.flatnonzero(out == 0).tolist() == [4]
    # class 2 and 4 were never predicted: nothing
    assert not np.isin(out, [2, 4]).any()
    assert num_kept(0, 0.2) == 0 and num_kept(4, 0.2) == 1 and num_kept(100, 0.29) == 29


def test_ratio_one_keeps_everything_and_ignored_predictions_stay_ignored():
    pred = np.array([0, 1, IGNORE, 1])
    out = select_confident(pred, np.array([0.1, 0.2, 0.99, 0.3]), ratio=1.0)
    assert out.tolist() == [0, 1, IGNORE, 1]
    assert (select_confident(np.full(4, IGNORE), np.ones(4)) == IGNORE).all()


@pytest.mark.parametrize('kwargs, message', [
    (dict(ratio=0.0), 'ratio'),
    (dict(ratio=1.5), 'ratio'),
    (dict(num_classes=2), 'outside'),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        select_confident(np.array([0, 2]), np.array([0.5, 0.5]), **kwargs)
    with pytest.raises(ValueError, match='confidences'):
        select_confident(np.array([0, 1]), np.array([0.5]))


def test_files_use_the_ground_truth_format(tmp_path):
    labels = np.array([0, IGNORE, 19, 4, IGNORE])
    path = pseudo_label_path(str(tmp_path), 'scene0000_00')
    save_pseudo_labels(path, labels)
    raw = np.load(path)
    assert raw.dtype == np.int16 and raw.tolist() == [0, -1, 19, 4, -1]  # like segment20.npy
    assert load_pseudo_labels(path, 5, 20).tolist() == labels.tolist()
    assert not list(tmp_path.rglob('*.tmp*'))
    with pytest.raises(ValueError, match=r'scene0000_00/segment20.npy has 5 labels but the '
                                         r'scene has 6'):
        load_pseudo_labels(path, 6)
    with pytest.raises(ValueError, match='class 19 outside'):
        load_pseudo_labels(path, 5, num_classes=10)
    (tmp_path / 'bad.npy').write_bytes(b'not numpy')
    with pytest.raises(ValueError, match='bad.npy'):
        load_pseudo_labels(str(tmp_path / 'bad.npy'))
    with pytest.raises(FileNotFoundError, match='make_confident_pseudo_labels'):
        load_pseudo_labels(str(tmp_path / 'missing.npy'))


def test_sample_key():
    assert sample_key({'scene_id': 'scene0001_00', 'sample_idx': 3}) == 'scene0001_00'
    assert sample_key({'shape_id': 'airplane_0001'}) == 'airplane_0001'
    assert sample_key({'sample_idx': 7}) == 'sample_000007'
    with pytest.raises(KeyError):
        sample_key({})


def test_old_import_path_is_a_warning_alias_of_one_release():
    import importlib
    import sys

    import d3l.datasets.semi as new
    sys.modules.pop('d3l.semi', None)
    with pytest.warns(DeprecationWarning, match='d3l.datasets.semi'):
        old = importlib.import_module('d3l.semi')
    for name in old.__all__:
        assert getattr(old, name) is getattr(new, name), name
