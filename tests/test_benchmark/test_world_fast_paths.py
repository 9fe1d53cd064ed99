"""The synthetic world's fast paths give the same bits as the direct ones:
the nearby-pairs visibility test (``PrimitiveSet.near_any``) against the
dense ``min_sdf``, and the numba ray/primitive kernel against the NumPy
pair tests (``raycast.cast(kernel=False)``), on furnished rooms."""
import numpy as np
import pytest

from d3l.benchmark.world import PrimitiveSet, generate_room, raycast
from d3l.benchmark.world.render import sample_perspective_camera
from d3l.benchmark.world.scene import HIDDEN_EPS


def _rooms(count=4, seed=7):
    return [generate_room(np.random.default_rng([seed, i])) for i in range(count)]


def _mixed_prims():
    """A yawed box, a cylinder and a sphere that touch and overlap."""
    prims = PrimitiveSet()
    prims.add_box((0, 0, 0.5), (0.5, 0.3, 0.5), yaw=0.4)
    prims.add_cylinder((0.6, 0.1, 0.5), 0.2, 0.5)
    prims.add_sphere((0.0, 0.0, 1.2), 0.25)
    prims.add_box((0, 0, -0.05), (2, 2, 0.05))
    return prims.freeze()


def test_bounding_boxes_hold_every_surface_sample():
    for prims in [_mixed_prims()] + [room.prims for room in _rooms(2)]:
        points, _, owner = prims.sample_surface(np.full(len(prims), 200), np.random.default_rng(0))
        lo, hi = prims.bounding_boxes()
        assert np.all(points >= lo[owner] - 1e-12) and np.all(points <= hi[owner] + 1e-12)
    # tight for an axis-aligned box (its corners) and a sphere
    lo, hi = _mixed_prims().bounding_boxes()
    np.testing.assert_allclose(np.stack([lo[3], hi[3]]), [(-2, -2, -0.1), (2, 2, 0)])
    np.testing.assert_allclose(np.stack([lo[2], hi[2]]), [(-0.25, -0.25, 0.95),
                                                          (0.25, 0.25, 1.45)])


@pytest.mark.parametrize('eps', [0.0, HIDDEN_EPS, 0.05])
def test_near_any_is_min_sdf_below_eps(eps):
    rng = np.random.default_rng(1)
    for room in _rooms():
        counts = rng.poisson(room.prims.areas() * 150)
        points, _, prim = room.prims.sample_surface(counts, rng)
        # surface samples (the hidden-surface test) and points in free space
        free = rng.uniform(-0.2, 1, (3000, 3)) * np.array([*room.size]) * 1.2
        for pts, exclude in ((points, prim), (free, None)):
            dense = room.prims.min_sdf(pts, exclude=exclude) <= eps
            fast = room.prims.near_any(pts, eps, exclude=exclude)
            np.testing.assert_array_equal(fast, dense)
        # the surface case has both answers (hidden and visible samples)
        assert 0 < room.prims.near_any(points, eps, exclude=prim).mean() < 1


def _room_rays(room, rng):
    K, cam2world = sample_perspective_camera(room, rng, 64, 48)
    rows, cols = np.divmod(np.arange(64 * 48), 64)
    pix = np.stack([cols, rows, np.ones_like(cols)], 1).astype(np.float64)
    return cam2world[:3, 3][None], pix @ np.linalg.inv(K).T @ cam2world[:3, :3].T


def test_ray_kernel_matches_the_numpy_pair_tests_bit_for_bit():
    pytest.importorskip('numba')
    rng = np.random.default_rng(2)
    cases = [(_mixed_prims(), rng.uniform(-1.5, 1.5, (5000, 3)), rng.normal(size=(5000, 3)))]
    for room in _rooms():
        cases.append((room.prims, *_room_rays(room, rng)))  # inside: the enclosure path
        cases.append((room.prims, rng.uniform(-1, 6, (3000, 3)), rng.normal(size=(3000, 3))))
    # axis-parallel rays (the slab test's division-free branch)
    axes = np.repeat(np.eye(3), 300, 0) * rng.choice([-1, 1], (900, 1))
    cases.append((_mixed_prims(), rng.uniform(-1, 1, (900, 3)), axes))
    hits, kinds = 0, set()
    for prims, origins, dirs in cases:
        ref = raycast.cast(prims, origins, dirs, kernel=False)
        out = raycast.cast(prims, origins, dirs, kernel=True)
        for a, b in zip(ref, out):
            np.testing.assert_array_equal(a, b)
            np.testing.assert_array_equal(np.signbit(a), np.signbit(b))
        hits += np.isfinite(ref[0]).sum()
        kinds |= set(prims.kind[ref[1][ref[1] >= 0]].tolist())
    assert hits > 10000 and kinds == {0, 1, 2}


def test_distance_kernel_repeats_the_numpy_sdf_bit_for_bit():
    pytest.importorskip('numba')
    from d3l.benchmark.world import distance_kernel as K

    rng = np.random.default_rng(3)
    for prims in [_mixed_prims()] + [room.prims for room in _rooms(2)]:
        points = rng.uniform(-1.5, 5, (200, 3))
        dense = prims.sdf(points)
        yaw = prims.box_yaw
        geo = (prims.box_center, prims.box_half, np.cos(yaw), np.sin(yaw), prims.cyl_center,
               prims.cyl_radius, prims.cyl_half, prims.sph_center, prims.sph_radius)
        pairs = np.array([[K._sdf_pair(*p, j, prims.kind, prims.local, geo)
                           for j in range(len(prims))] for p in points])
        np.testing.assert_array_equal(pairs, dense)
    # and near_any's NumPy path agrees with the kernel's
    room = _rooms(1)[0]
    points, _, prim = room.prims.sample_surface(rng.poisson(room.prims.areas() * 100), rng)
    np.testing.assert_array_equal(room.prims.near_any(points, HIDDEN_EPS, exclude=prim),
                                  _numpy_near_any(room, points, prim))


def _numpy_near_any(room, points, prim):
    from d3l.benchmark.world import distance
    return distance.near_any(room.prims, points, HIDDEN_EPS, exclude=prim, kernel=False)


def _texture_everywhere(points, kind, amplitude, phase):
    """The texture as it was first written: every pattern at every point, then selected."""
    x, y, z = points[:, 0], points[:, 1], points[:, 2]
    stripes = (np.sin(38.0 * (x + 0.7 * y + 0.3 * z) + phase) + 0.5 * np.sin(
        91.0 * (x - 0.4 * y + z) + 2 * phase)) / 1.5
    checker = np.sign(np.sin(np.pi * x / 0.3 + phase) * np.sin(np.pi * y / 0.3 + phase))
    quilt = np.cos(np.pi * x / 0.1) * np.cos(np.pi * y / 0.1) + np.cos(np.pi * z / 0.1) * (
        np.cos(np.pi * x / 0.1) + np.cos(np.pi * y / 0.1)) / 2
    pleats = np.sin(2 * np.pi * (x + y) / 0.12 + phase)
    weave = np.sin(2 * np.pi * (x + z) / 0.05) * np.sin(2 * np.pi * (y - z) / 0.05)
    brushed = np.sin(2 * np.pi * z / 0.03 + phase)
    grain = np.sin(12.9898 * x * 97 + 78.233 * y * 89 + 37.719 * z * 83 + phase) * 43758.5453
    grain = (grain - np.floor(grain)) * 2 - 1
    value = np.select([kind == 1, kind == 2, kind == 3, kind == 4, kind == 5, kind == 6],
                      [stripes, checker, quilt, pleats, weave, brushed], grain)
    return 1.0 + amplitude * value


def test_texture_per_pattern_equals_every_pattern_everywhere():
    from d3l.benchmark.world.appearance import TEXTURES, texture

    rng = np.random.default_rng(4)
    points = rng.uniform(-1, 8, (20000, 3))
    kind = rng.integers(0, len(TEXTURES), len(points))
    amplitude, phase = rng.uniform(0, 0.2, len(points)), rng.uniform(0, 2 * np.pi, len(points))
    out = texture(points, kind, amplitude, phase)
    np.testing.assert_array_equal(out, _texture_everywhere(points, kind, amplitude, phase))
    assert len(np.unique(kind)) == 7 and out.std() > 0.01
