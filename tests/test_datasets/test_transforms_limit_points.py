"""``LimitPoints`` picks the nearest points by a partition of the distances
and a mask (in index order, no sort): the same points in the same order as
the previous ``argpartition`` + ``np.sort`` (kept here as the reference), on
the real panorama and with ties at the k-th distance."""
import numpy as np
from conftest import realdata_path
from PIL import Image

from d3l.datasets.transforms import LimitPoints
from d3l.geometry import grid_sample_indices, lift_equirect


class ReferenceLimitPoints(LimitPoints):
    """The selection before issue 16's change: argpartition, then sorted."""

    def _nearest(self, points, center):
        dist = np.sum((points.astype(np.float64) - center) ** 2, axis=1)
        return np.sort(np.argpartition(dist, self.max_points - 1)[:self.max_points])


def _sample(points, labels=None):
    sample = {'points': points, 'colors': np.random.default_rng(1).random(points.shape, np.float32),
              'pixel_index': np.arange(len(points))}
    if labels is not None:
        sample['labels'] = labels
    return sample


def _compare(points, max_points, labels=None, seeds=range(4)):
    for mode in ('sphere', 'center', 'random'):
        for keep_labeled in ((False, True) if labels is not None else (False,)):
            for seed in seeds:
                args = dict(max_points=max_points, mode=mode, seed=seed, keep_labeled=keep_labeled)
                new = LimitPoints(**args)(_sample(points, labels))
                ref = ReferenceLimitPoints(**args)(_sample(points, labels))
                np.testing.assert_array_equal(new['pixel_index'], ref['pixel_index'])
                np.testing.assert_array_equal(new['points'], ref['points'])
                np.testing.assert_array_equal(new['colors'], ref['colors'])
                assert len(new['points']) == max_points
                assert np.all(np.diff(new['pixel_index']) > 0)  # original order


def test_real_panorama_matches_reference():
    depth = np.asarray(Image.open(realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')),
                       np.uint16).astype(np.float32) / 1000
    points = lift_equirect(depth)[0]
    keep, _ = grid_sample_indices(points, 0.02, 'train', np.random.default_rng(0), False)
    points = points[keep]
    labels = np.where(np.random.default_rng(2).random(len(points)) < 0.01, 3, 255)
    _compare(points, 120_000, labels)


def test_ties_at_the_kth_distance_match_reference():
    """Integer lattices: many points share the k-th distance from the
    centre, so the argpartition fallback decides, as before."""
    grid = np.stack(np.meshgrid(*[np.arange(-6, 7)] * 3, indexing='ij'), -1).reshape(-1, 3)
    points = grid.astype(np.float32)
    for max_points in (7, 100, 500, len(points) - 1):
        _compare(points, max_points, seeds=range(6))
    dist = np.sum(points.astype(np.float64) ** 2, axis=1)
    kth = np.sort(dist)[99]
    assert np.count_nonzero(dist <= kth) > 100  # the centre case does tie


def test_numba_distances_are_the_numpy_bits(monkeypatch):
    """``squared_distances``' one-pass kernel gives the bits of the NumPy
    columns it replaces (and of np.sum's order), float32 and float64 points."""
    from d3l.datasets.transforms import cropping
    depth = np.asarray(Image.open(realdata_path('pano_hohonet', 'pano_asmasuxybohhcj.depth.png')),
                       np.uint16).astype(np.float32) / 1000
    clouds = [lift_equirect(depth)[0], np.random.default_rng(3).normal(size=(3000, 3)) * 4]
    for points in clouds:
        center = points[17].astype(np.float64) + 0.3
        out = []
        for use_numba in (True, False):
            monkeypatch.setattr(cropping, 'USE_NUMBA', use_numba)
            out.append(cropping.squared_distances(points, center))
        np.testing.assert_array_equal(out[0], out[1])
        np.testing.assert_array_equal(out[0], np.sum((points.astype(np.float64) - center) ** 2,
                                                     axis=1))


def test_sphere_centre_is_the_previous_draw():
    """The sphere's centre is drawn as before (``pool[rng.integers(N)]`` with
    ``pool = arange(N)``): the kept points are the nearest to that point."""
    points = np.random.default_rng(4).normal(size=(5000, 3)).astype(np.float32)
    for seed in range(3):
        out = LimitPoints(max_points=700, mode='sphere', seed=seed)(_sample(points))
        pool = np.arange(len(points))
        center = points[pool[np.random.default_rng(seed).integers(len(pool))]].astype(np.float64)
        dist = np.sum((points.astype(np.float64) - center) ** 2, axis=1)
        np.testing.assert_array_equal(out['pixel_index'], np.sort(np.argsort(dist)[:700]))
