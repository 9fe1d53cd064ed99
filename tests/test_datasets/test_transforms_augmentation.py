"""Point augmentations, chunk crops and the point cap."""
import numpy as np
import pytest

from d3l.datasets.transforms import (
    ChromaticAutoContrast,
    ChromaticJitter,
    ElasticDistortion,
    GridSample,
    LimitPoints,
    RandomChunkCrop,
    RandomFlip,
    RandomRotate,
    RandomScale,
)
from d3l.datasets.transforms.cropping import chunk_origins
from d3l.registry import TRANSFORMS


def _cloud(n=500, seed=0, extent=(4.0, 3.0, 2.5)):
    rng = np.random.default_rng(seed)
    points = (rng.random((n, 3)) * extent + [10.0, -5.0, 0.0]).astype(np.float32)
    normals = rng.normal(size=(n, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return dict(points=points, normals=normals.astype(np.float32),
                colors=rng.random((n, 3)).astype(np.float32),
                labels=rng.integers(0, 5, n), pixel_index=np.arange(n) * 3)


def _fit_linear(src, dst):
    """Least-squares A, t with dst = src A^T + t."""
    X = np.hstack([src, np.ones((len(src), 1))])
    sol, *_ = np.linalg.lstsq(X, dst, rcond=None)
    return sol[:3].T, sol[3]


def test_random_rotate_is_a_rotation_about_z_with_small_tilts():
    for seed in range(5):
        sample = _cloud(seed=seed)
        before = {k: v.copy() for k, v in sample.items()}
        out = RandomRotate(seed=seed)(sample)
        A, t = _fit_linear(before['points'].astype(np.float64), out['points'].astype(np.float64))
        np.testing.assert_allclose(A @ A.T, np.eye(3), atol=1e-5)
        assert np.linalg.det(A) > 0
        np.testing.assert_allclose(A, out['rotation'], atol=1e-5)
        tilt = np.degrees(np.arccos(np.clip(A[2, 2], -1, 1)))
        assert tilt <= np.degrees(np.sqrt(2) * np.pi / 64) + 1e-6
        np.testing.assert_allclose(out['normals'], before['normals'] @ A.T, atol=1e-5)
        centre = (before['points'].min(0) + before['points'].max(0)) / 2
        np.testing.assert_allclose(centre @ A.T + t, centre, atol=1e-4)  # about the centre
        np.testing.assert_array_equal(out['labels'], before['labels'])
    angles = []
    for seed in range(40):
        out = RandomRotate(tilt_range=(0, 0), seed=seed)(_cloud(50))
        angles.append(np.arctan2(out['rotation'][1, 0], out['rotation'][0, 0]))
    assert min(angles) < -2.5 and max(angles) > 2.5  # any heading


def test_random_scale():
    sample = _cloud()
    before = sample['points'].astype(np.float64).copy()
    out = RandomScale(scale_range=(0.8, 1.2), seed=1)(sample)
    A, _ = _fit_linear(before, out['points'])
    s = A[0, 0]
    assert 0.8 <= s <= 1.2 and abs(s - 1) > 1e-3
    np.testing.assert_allclose(A, np.eye(3) * s, atol=1e-5)
    # anisotropic: the normal of a plane stays perpendicular to the scaled plane
    rng = np.random.default_rng(0)
    n = np.array([1.0, 2.0, 2.0]) / 3
    basis = np.linalg.svd(n[None])[2][1:]
    plane = rng.random((200, 2)) @ basis
    sample = dict(points=plane.astype(np.float32), normals=np.tile(n, (200, 1)).astype(np.float32))
    out = RandomScale(scale_range=(0.5, 2.0), anisotropic=True, seed=3)(sample)
    tangents = out['points'][1:] - out['points'][0]
    assert np.abs(tangents @ out['normals'][0]).max() < 1e-4
    np.testing.assert_allclose(np.linalg.norm(out['normals'], axis=1), 1, atol=1e-6)


def test_random_flip_mirrors_points_and_normals():
    sample = _cloud()
    before = {k: v.copy() for k, v in sample.items()}
    out = RandomFlip(axes=('x',), flip_prob=1.0, seed=0)(sample)
    lo, hi = before['points'].min(0), before['points'].max(0)
    np.testing.assert_allclose(out['points'][:, 0], lo[0] + hi[0] - before['points'][:, 0],
                               atol=1e-5)
    np.testing.assert_array_equal(out['points'][:, 1:], before['points'][:, 1:])
    np.testing.assert_array_equal(out['normals'][:, 0], -before['normals'][:, 0])


def test_elastic_distortion_is_smooth_and_bounded():
    rng = np.random.default_rng(0)
    base = rng.random((2000, 3)) * [6, 5, 3]
    pairs = base + rng.normal(scale=0.005, size=base.shape)  # 5 mm neighbours
    points = np.concatenate([base, pairs]).astype(np.float32)
    out = ElasticDistortion(prob=1.0, seed=0)(dict(points=points.copy()))['points']
    move = out - points
    step = np.linalg.norm(move, axis=1)
    assert step.mean() > 0.01  # it does distort
    assert step.max() < 1.0  # bounded: smoothed unit noise times the magnitudes
    diff = np.linalg.norm(move[:2000] - move[2000:], axis=1)
    assert np.median(diff) < 0.05 * np.median(step[:2000])  # smooth field
    same = ElasticDistortion(prob=1.0, seed=0)(dict(points=points.copy()))['points']
    np.testing.assert_array_equal(out, same)
    untouched = ElasticDistortion(prob=0.0)(dict(points=points.copy()))['points']
    np.testing.assert_array_equal(untouched, points)


def _reference_elastic(points, granularity, magnitude, noise):
    """The authors' formulation (datasets/scannet.py of their code): two passes of
    3-cell box convolutions per axis, then a regular-grid trilinear interpolator."""
    from scipy import interpolate, ndimage
    lo = points.min(0)
    shape = noise.shape[:3]
    for _ in range(2):
        for axis in range(3):
            kernel = np.ones([3 if a == axis else 1 for a in range(3)] + [1]) / 3
            noise = ndimage.convolve(noise, kernel, mode='constant', cval=0)
    axes = [np.linspace(a - granularity, a + granularity * (d - 2), d)
            for a, d in zip(lo, shape)]
    interp = interpolate.RegularGridInterpolator(axes, noise, bounds_error=False,
                                                 fill_value=0)
    return points + interp(points) * magnitude


def test_elastic_distortion_with_the_authors_smoothing_matches_their_formula():
    rng = np.random.default_rng(3)
    points = rng.random((400, 3)) * [8.0, 6.0, 3.0]
    granularity, magnitude = 1.024, 2.048  # the authors' (0.2, 0.4) x 5.12 m
    out = ElasticDistortion.distort(points, granularity, magnitude, np.random.default_rng(7),
                                    smoothing_passes=2)
    shape = ((points.max(0) - points.min(0)) // granularity).astype(int) + 3
    noise = np.random.default_rng(7).standard_normal((*shape, 3))
    np.testing.assert_allclose(out, _reference_elastic(points, granularity, magnitude, noise),
                               atol=1e-9)
    three = ElasticDistortion.distort(points, granularity, magnitude, np.random.default_rng(7))
    assert np.abs(three - out).max() > 1e-3  # the pass count matters
    transform = ElasticDistortion(params=((granularity, magnitude),), smoothing_passes=2,
                                  prob=1.0, seed=0)
    assert 'smoothing_passes=2' in repr(transform)
    with pytest.raises(ValueError, match='smoothing_passes'):
        ElasticDistortion(smoothing_passes=-1)


def test_chromatic_auto_contrast_and_jitter():
    rng = np.random.default_rng(0)
    colors = (0.3 + 0.2 * rng.random((300, 3))).astype(np.float32)
    full = ChromaticAutoContrast(prob=1.0, blend_factor=1.0)(dict(points=colors, colors=colors))
    np.testing.assert_allclose(full['colors'].min(0), 0, atol=1e-6)
    np.testing.assert_allclose(full['colors'].max(0), 1, atol=1e-6)
    ref = (colors - colors.min(0)) / (colors.max(0) - colors.min(0))
    np.testing.assert_allclose(full['colors'], ref, atol=1e-5)
    half = ChromaticAutoContrast(prob=1.0, blend_factor=0.5)(dict(points=colors, colors=colors))
    np.testing.assert_allclose(half['colors'], 0.5 * colors + 0.5 * ref, atol=1e-5)
    out = ChromaticJitter(std=0.01, prob=1.0, seed=0)(dict(points=colors, colors=colors.copy()))
    noise = out['colors'] - colors
    assert 0.008 < noise.std() < 0.012 and abs(noise.mean()) < 0.002
    bright = np.ones((100, 3), np.float32)
    assert ChromaticJitter(std=0.1, prob=1.0, seed=0)(
        dict(points=bright, colors=bright))['colors'].max() <= 1.0


def test_global_numpy_seed_controls_unseeded_transforms():
    # unseeded transforms draw from numpy's global state, which MMEngine seeds
    # per worker: the same global seed repeats, another one differs
    results = []
    for global_seed in (0, 0, 1):
        np.random.seed(global_seed)
        results.append(RandomRotate()(_cloud(50))['points'])
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.allclose(results[0], results[2])


def test_chunk_origins_follow_the_reference_grid():
    origins = chunk_origins(np.zeros(3), np.array([22.0, 9.0, 3.0]), np.full(3, 10.0),
                            np.full(3, 5.0))
    # x: ceil((22 - 10) / 5) + 1 = 4 chunks, y and z fit in one
    assert sorted(origins[:, 0].tolist()) == [0, 5, 10, 15]
    assert (origins[:, 1:] == 0).all()


def test_random_chunk_crop():
    rng = np.random.default_rng(0)
    n = 20000
    points = (rng.random((n, 3)) * [25, 14, 3]).astype(np.float32)
    sample = dict(points=points, colors=rng.random((n, 3)).astype(np.float32),
                  pixel_index=np.arange(n), labels=rng.integers(0, 3, n),
                  soft_labels={'index': np.arange(n)[:, None], 'prob': np.ones((n, 1))})
    out = RandomChunkCrop(chunk_size=10.0, stride=5.0, min_points=3000, seed=0)(sample)
    kept = out['pixel_index']
    assert 3000 <= len(kept) < n
    extent = out['points'].max(0) - out['points'].min(0)
    assert (extent <= 10.0 + 1e-5).all()
    origin = out['chunk_origin']
    assert ((origin - points.min(0)) % 5.0 < 1e-4).all()  # on the 5 m grid
    np.testing.assert_array_equal(out['points'], points[kept])  # keys stay aligned
    np.testing.assert_array_equal(out['soft_labels']['index'][:, 0], kept)
    # everything inside the chosen chunk is kept
    inside = np.all((points >= origin) & (points <= origin + 10.0), axis=1)
    np.testing.assert_array_equal(np.flatnonzero(inside), kept)
    small = dict(points=(rng.random((100, 3)) * 5).astype(np.float32))
    assert len(RandomChunkCrop(seed=0)(small)['points']) == 100
    sparse = dict(points=points[:500].copy())  # no chunk has min_points: the fullest wins
    assert 0 < len(RandomChunkCrop(seed=0)(sparse)['points']) < 500
    with pytest.raises(ValueError, match='inverse'):
        RandomChunkCrop()(dict(points=points, inverse=np.zeros(n, np.int64)))


@pytest.mark.parametrize('mode', ['sphere', 'center', 'random'])
def test_limit_points(mode):
    sample = _cloud(1000)
    before = sample['points'].copy()
    out = LimitPoints(max_points=300, mode=mode, seed=0)(sample)
    kept = out['pixel_index'] // 3
    assert len(kept) == 300 and (np.diff(kept) > 0).all()  # original order
    np.testing.assert_array_equal(out['points'], before[kept])
    np.testing.assert_array_equal(out['normals'].shape, (300, 3))
    if mode == 'center':
        centre = (before.min(0) + before.max(0)) / 2
        dist = np.linalg.norm(before - centre, axis=1)
        dropped = np.setdiff1d(np.arange(1000), kept)
        assert dist[kept].max() <= dist[dropped].min() + 1e-6
    if mode == 'sphere':  # some kept point is the centre of a ball holding exactly the kept set
        dropped = np.setdiff1d(np.arange(1000), kept)
        found = False
        for c in kept:
            dist = np.linalg.norm(before - before[c], axis=1)
            if dist[kept].max() <= dist[dropped].min() + 1e-6:
                found = True
                break
        assert found
    assert len(LimitPoints(max_points=5000)(_cloud(1000))['points']) == 1000


def test_built_from_configs_in_a_pipeline():
    pipeline = [TRANSFORMS.build(dict(type=name)) for name in (
        'RandomRotate', 'RandomScale', 'RandomFlip', 'ElasticDistortion', 'ChromaticAutoContrast',
        'ChromaticJitter', 'RandomChunkCrop', 'LimitPoints')]
    sample = _cloud(2000)
    sample = GridSample(grid_size=0.05, mode='train', seed=0)(sample)
    for transform in pipeline:
        sample = transform(sample)
    n = len(sample['points'])
    assert all(len(sample[k]) == n for k in ('normals', 'colors', 'labels', 'pixel_index'))
    assert np.isfinite(sample['points']).all() and (0 <= sample['colors']).all()


def test_fit_to_cube_keeps_small_clouds_and_crops_large_ones_to_the_box():
    from d3l.datasets.transforms.augmentation import FitToCube
    small = _cloud(300, extent=(4.0, 3.0, 2.5))
    out = FitToCube(size=5.0, seed=0)(copy_results(small))
    np.testing.assert_array_equal(out['points'], small['points'])
    large = _cloud(4000, extent=(14.0, 6.0, 2.5))
    large['labels'] = np.arange(4000) % 5
    out = FitToCube(size=10.0, seed=0)(copy_results(large))
    extent = out['points'].max(0) - out['points'].min(0)
    assert extent[0] <= 10.0 + 1e-5
    assert np.allclose(extent[1:], np.ptp(large['points'], 0)[1:], atol=0.05)  # y, z untouched
    assert 0.6 * 4000 < len(out['points']) < 0.8 * 4000  # ~10 / 14 of the points
    kept = np.isin(large['points'], out['points']).all(1)  # per-point keys follow
    np.testing.assert_array_equal(out['labels'], large['labels'][kept])


def test_fit_to_cube_keeps_every_annotated_point_when_they_fit():
    from d3l.datasets.transforms.augmentation import FitToCube
    sample = _cloud(5000, extent=(14.0, 13.0, 2.5))
    labels = np.full(5000, 255)
    points = sample['points']
    # 20 annotated points spread over 9 m x 9 m of the 14 m x 13 m room, off-centre
    inner = np.flatnonzero((points[:, 0] > 14.5) & (points[:, 0] < 23.5) &
                           (points[:, 1] > -4.0) & (points[:, 1] < 5.0))
    chosen = np.random.default_rng(0).choice(inner, 20, replace=False)
    labels[chosen] = 3
    sample['labels'] = labels
    crop = FitToCube(size=10.0, keep_labeled=True)
    for seed in range(20):
        np.random.seed(seed)
        out = crop(copy_results(sample))
        assert (out['labels'] != 255).sum() == 20
        assert (out['points'].max(0) - out['points'].min(0) <= 10.0 + 1e-5).all()
        assert out.get('num_labeled_dropped', 0) == 0
    # annotated points 13 m apart cannot all stay: the most are kept and the rest counted
    far = np.argsort(points[:, 0])[[0, 1, 2, -1]]
    labels = np.full(5000, 255)
    labels[far] = 1
    sample['labels'] = labels
    out = crop(copy_results(sample))
    assert (out['labels'] != 255).sum() == 3 and out['num_labeled_dropped'] == 1
    with pytest.raises(ValueError, match='size'):
        FitToCube(size=0)


def copy_results(results):
    return {k: v.copy() if isinstance(v, np.ndarray) else v for k, v in results.items()}
