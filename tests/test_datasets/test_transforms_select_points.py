"""``select_points`` gathers a lifted sample's points / colors / pixel_index
in one numba pass (issue 16): the arrays np.take gives, for scattered,
sorted and repeated indices; other forms and bad indices take np.take's
path (its wrapping of negative indices, its error out of range)."""
import numpy as np
import pytest

from d3l.datasets.transforms import utils
from d3l.datasets.transforms.utils import select_points

pytest.importorskip('numba')


def _sample(n=5000, seed=0):
    rng = np.random.default_rng(seed)
    return {'points': rng.normal(size=(n, 3)).astype(np.float32),
            'colors': rng.random((n, 3), np.float32),
            'pixel_index': rng.permutation(3 * n)[:n].astype(np.int64),
            'labels': rng.integers(0, 20, n),
            'soft_labels': {'indices': rng.integers(0, 150, (n, 3)).astype(np.uint8),
                            'probs': rng.random((n, 3)).astype(np.float16)}}


def _both(sample, index, monkeypatch):
    out = []
    for use_numba in (True, False):
        monkeypatch.setattr(utils, 'USE_NUMBA', use_numba)
        out.append(select_points(dict(sample), index))
    return out


def _assert_same(a, b):
    assert sorted(a) == sorted(b)
    for key in b:
        if isinstance(b[key], dict):
            _assert_same(a[key], b[key])
        else:
            assert a[key].dtype == b[key].dtype and a[key].flags.c_contiguous, key
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_fused_gather_gives_np_take_rows(monkeypatch):
    sample = _sample()
    rng = np.random.default_rng(1)
    for index in (rng.permutation(5000)[:2400], np.sort(rng.permutation(5000)[:1200]),
                  rng.integers(0, 5000, 7000), np.array([4999]), np.arange(5000, dtype=np.int32)):
        fused, taken = _both(sample, index, monkeypatch)
        _assert_same(fused, taken)
        np.testing.assert_array_equal(fused['points'], sample['points'][index])  # independent
    monkeypatch.setattr(utils, 'USE_NUMBA', True)
    assert utils._gather_lifted(dict(sample), index, utils.POINT_KEYS) == (
        'points', 'colors', 'pixel_index')  # the fused path ran


def test_other_forms_and_bad_indices_take_np_take(monkeypatch):
    sample = _sample(300)
    monkeypatch.setattr(utils, 'USE_NUMBA', True)
    float64 = dict(sample, colors=sample['colors'].astype(np.float64))
    assert utils._gather_lifted(dict(float64), np.arange(10), utils.POINT_KEYS) == ()
    _assert_same(*_both(float64, np.arange(0, 300, 7), monkeypatch))
    no_pixels = {k: v for k, v in sample.items() if k != 'pixel_index'}
    _assert_same(*_both(no_pixels, np.arange(0, 300, 3), monkeypatch))
    negative = np.array([-1, 5, -300])  # np.take wraps them
    assert utils._gather_lifted(dict(sample), negative, utils.POINT_KEYS) == ()
    _assert_same(*_both(sample, negative, monkeypatch))
    monkeypatch.setattr(utils, 'USE_NUMBA', True)
    with pytest.raises(IndexError):
        select_points(dict(sample), np.array([3, 300]))
    mask = np.zeros(300, bool)
    mask[::4] = True
    _assert_same(*_both(sample, mask, monkeypatch))  # boolean masks still work
