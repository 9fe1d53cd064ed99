"""Geometry of the synthetic world: exact ray casting, surface sampling,
rendering conventions (checked against the SDFs, closed-form hits and
d3l.geometry's lifting)."""
import numpy as np
import pytest

from d3l.benchmark.world import PrimitiveSet, generate_room, sample_scene
from d3l.benchmark.world.render import (
    intrinsics,
    look_rotation,
    pose,
    render_equirect,
    render_perspective,
    sample_panorama_camera,
    sample_perspective_camera,
)
from d3l.geometry import lift_equirect, lift_perspective


def _rooms(count=3, seed=0):
    return [generate_room(np.random.default_rng([seed, i])) for i in range(count)]


def _hit_sdf(prims, origins, dirs, t, prim):
    points = origins + t[:, None] * dirs
    return np.array([prims.sdf(p[None], [i])[0, 0] for p, i in zip(points, prim)])


def test_closed_form_hits():
    prims = PrimitiveSet()
    box = prims.add_box((0, 0, 0), (1, 2, 0.5), yaw=np.pi / 2)  # x-extent 2, y-extent 1
    cyl = prims.add_cylinder((5, 0, 0), radius=1.0, half_height=1.0)
    sph = prims.add_sphere((0, 6, 0), radius=0.5)
    origins = np.array([[-10, 0, 0], [10, 0, 0], [5, 0, 10], [5.5, 0, -10], [0, 10, 0],
                        [0, 0, 10], [-10, 0, 3]], float)
    dirs = np.array([[1, 0, 0], [-2, 0, 0], [0, 0, -1], [0, 0, 1], [0, -1, 0], [0, 0, -1],
                     [1, 0, 0]], float)
    t, ids, normal = prims.cast(origins, dirs)
    # rotated box: its half extent along world x is 2 (the box's y half extent)
    assert t[0] == pytest.approx(8.0) and ids[0] == box
    np.testing.assert_allclose(normal[0], [-1, 0, 0], atol=1e-12)
    # cylinder side from +x; t is in units of |direction| (2)
    assert t[1] == pytest.approx(2.0) and ids[1] == cyl
    np.testing.assert_allclose(normal[1], [1, 0, 0], atol=1e-12)
    # cylinder caps from above and below
    assert t[2] == pytest.approx(9.0) and ids[2] == cyl
    np.testing.assert_allclose(normal[2], [0, 0, 1])
    assert t[3] == pytest.approx(9.0) and ids[3] == cyl
    np.testing.assert_allclose(normal[3], [0, 0, -1])
    assert t[4] == pytest.approx(3.5) and ids[4] == sph
    np.testing.assert_allclose(normal[4], [0, 1, 0], atol=1e-12)
    assert t[5] == pytest.approx(9.5) and ids[5] == box
    # a ray passing above everything misses
    assert np.isinf(t[6]) and ids[6] == -1


def test_ray_cast_points_lie_on_their_primitive_and_the_path_is_free():
    rng = np.random.default_rng(0)
    for room in _rooms():
        lx, ly, h = room.size
        origins = np.stack([rng.uniform(0.2, lx - 0.2, 300), rng.uniform(0.2, ly - 0.2, 300),
                            rng.uniform(0.2, h - 0.2, 300)], 1)
        # cameras stand in free space; drop origins inside furniture
        origins = origins[room.prims.min_sdf(origins) > 0.01]
        dirs = rng.normal(size=(len(origins), 3))
        t, prim, normal = room.prims.cast(origins, dirs)
        assert np.isfinite(t).all() and (prim >= 0).all(), 'a closed room: every ray hits'
        # the hit lies on the surface of the primitive reported
        assert np.abs(_hit_sdf(room.prims, origins, dirs, t, prim)).max() < 1e-5
        # ... and it is the first hit: nothing is crossed before it
        fractions = np.linspace(0.0, 0.999, 64)
        before = origins[:, None] + (fractions[None, :, None] * t[:, None, None]) * dirs[:, None]
        assert room.prims.min_sdf(before.reshape(-1, 3)).min() > -1e-9
        # the normal is the outward gradient of the primitive's SDF
        hits = origins + t[:, None] * dirs
        eps = 1e-6
        for k in rng.choice(len(hits), 40, replace=False):
            grad = [(room.prims.sdf((hits[k] + eps * e)[None], [prim[k]])[0, 0]
                     - room.prims.sdf((hits[k] - eps * e)[None], [prim[k]])[0, 0]) / (2 * eps)
                    for e in np.eye(3)]
            if np.linalg.norm(grad) > 0.99:  # skip points exactly on an edge
                np.testing.assert_allclose(normal[k], grad, atol=1e-4)
        # rays face the surface they hit
        assert (np.sum(normal * dirs, 1) < 0).all()


def test_enclosure_shortcut_matches_the_full_test():
    room = _rooms(1, seed=3)[0]
    rng = np.random.default_rng(1)
    K, cam2world = sample_perspective_camera(room, rng, 40, 30)
    rows, cols = np.divmod(np.arange(40 * 30), 40)
    dirs = np.stack([cols, rows, np.ones_like(cols)], 1) @ np.linalg.inv(K).T @ \
        cam2world[:3, :3].T
    fast = room.prims.cast(cam2world[None, :3, 3], dirs)
    enclosure, room.prims.enclosure = room.prims.enclosure, None
    try:
        slow = room.prims.cast(cam2world[None, :3, 3], dirs)
    finally:
        room.prims.enclosure = enclosure
    np.testing.assert_allclose(fast[0], slow[0], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(fast[1], slow[1])


def test_lifted_perspective_render_lies_on_the_rooms_surfaces():
    for k, room in enumerate(_rooms()):
        rng = np.random.default_rng([5, k])
        K, cam2world = sample_perspective_camera(room, rng, 48, 36)
        frame = render_perspective(room, K, cam2world, 48, 36, noise=0.02, rng=rng)
        assert frame['depth'].dtype == np.float32 and (frame['depth'] > 0).all()
        points, index = lift_perspective(frame['depth'], frame['intrinsics'])
        world = points.astype(np.float64) @ cam2world[:3, :3].T + cam2world[:3, 3]
        dist = room.prims.sdf(world)
        assert np.abs(dist.min(1)).max() < 1e-4 * max(1.0, float(frame['depth'].max()))
        # the primitive under each pixel is the one whose surface the point is on
        prim = frame['prim'].reshape(-1)[index]
        assert np.abs(dist[np.arange(len(prim)), prim]).max() < 1e-4 * 10
        # per-pixel labels are the primitives' labels
        np.testing.assert_array_equal(frame['label2d'].reshape(-1), room.label2d[prim])


def test_lifted_panorama_lies_on_the_rooms_surfaces():
    room = _rooms(1, seed=7)[0]
    rng = np.random.default_rng(2)
    cam2world = sample_panorama_camera(room, rng)
    frame = render_equirect(room, cam2world, 64, 32, rng=rng)
    points, index = lift_equirect(frame['depth'])
    assert len(index) == 64 * 32
    world = points.astype(np.float64) @ cam2world[:3, :3].T + cam2world[:3, 3]
    assert np.abs(room.prims.min_sdf(world)).max() < 1e-4 * 10
    # upright: the bottom rows see the floor, the top rows the ceiling
    assert (frame['label3d'][-1] == 1).all()  # floor
    assert (frame['label2d'][0] == 2).all()   # ceiling (2D teacher class)


def test_camera_conventions():
    rot = look_rotation(yaw=0.0, pitch=0.0)
    # OpenCV camera: z forward = +x of the room, x right = -y, y down = -z
    np.testing.assert_allclose(rot, [[0, 0, 1], [-1, 0, 0], [0, -1, 0]], atol=1e-12)
    K = intrinsics(64, 48, 90.0)
    assert K[0, 0] == pytest.approx(32.0) and K[0, 2] == pytest.approx(31.5)
    # a single box straight ahead: the centre pixel's z-depth is the distance
    prims = PrimitiveSet()
    prims.add_box((5, 0, 0), (0.5, 10, 10))

    class _Room:  # just what render_perspective reads
        pass
    room = _Room()
    room.prims = prims
    room.rgb = np.full((1, 3), 0.5)
    room.texture = np.zeros(1, np.int64)
    room.tex_amp = np.zeros(1)
    room.tex_phase = np.zeros(1)
    room.label2d = np.array([0])
    room.label3d = np.array([0])
    room.instance = np.array([0])
    frame = render_perspective(room, K, pose(rot, np.zeros(3)), 64, 48)
    # a fronto-parallel plane: constant z-depth 4.5 over the whole image
    np.testing.assert_allclose(frame['depth'], 4.5, rtol=1e-6)


def test_scene_points_are_visible_surface_samples():
    room = _rooms(1, seed=11)[0]
    scene = sample_scene(room, np.random.default_rng(0), density=80.0)
    coord = scene['coord'].astype(np.float64)
    dist = room.prims.sdf(coord)
    own = dist[np.arange(len(coord)), scene['prim']]
    # float32 storage of metre coordinates: ~1e-7 relative
    assert np.abs(own).max() < 1e-5
    others = dist.copy()
    others[np.arange(len(coord)), scene['prim']] = np.inf
    assert others.min() > 1e-3 - 1e-5  # hidden samples were dropped
    np.testing.assert_allclose(np.linalg.norm(scene['normal'], axis=1), 1, atol=1e-5)
    np.testing.assert_array_equal(scene['segment20'], room.label3d[scene['prim']])
    # no ceiling by default (ScanNet scans rarely have one), floor at z = 0
    assert not room.is_ceiling[scene['prim']].any()
    assert coord[:, 2].min() > -1e-5 and coord[:, 2].max() < room.size[2] + 1e-5
    assert (scene['segment20'] == 1).any() and (scene['segment20'] == 0).any()
    assert scene['color'].dtype == np.uint8


def test_shading_depends_on_orientation():
    from d3l.benchmark.world.appearance import shade
    normals = np.array([[0, 0, 1], [0, 0, -1], [1, 0, 0], [-1, 0, 0], [0, 1, 0], [0, -1, 0]],
                       float)
    values = shade(normals)
    assert len(np.unique(np.round(values, 6))) >= 4
    assert values[0] == values.max() and values[1] == values.min()
