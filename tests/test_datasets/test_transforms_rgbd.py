"""LoadRGBD, FilterDepthEdges and the lifting transforms, on the analytic
box room written to disk."""
import numpy as np
import pytest
from PIL import Image
from rgbd_data import (
    K_SMALL,
    equirect_room,
    gradient_image,
    perspective_room,
    write_png16,
    write_rgb,
)

from d3l.datasets.rgbd.io import BadFrameError
from d3l.datasets.transforms import (
    FilterDepthEdges,
    GridSample,
    LiftEquirect,
    LiftPerspective,
    LiftRGBD,
    LoadRGBD,
)
from d3l.geometry import project_perspective

CAM_TO_UPRIGHT = np.array([[0, 0, 1], [-1, 0, 0], [0, -1, 0]], np.float64)


def _frame(tmp_path, depth, img=None, name='f', projection='perspective', K=K_SMALL, **extra):
    depth_path = str(tmp_path / f'{name}_depth.png')
    img_path = str(tmp_path / f'{name}_rgb.png')
    write_png16(depth_path, depth)
    write_rgb(img_path, gradient_image(*depth.shape) if img is None else img)
    info = dict(img_path=img_path, depth_path=depth_path, projection=projection,
                depth_encoding='uint16', depth_scale=1000.0, frame_id=name, scene_id='s')
    if projection == 'perspective':
        info['intrinsics'] = K
    info.update(extra)
    return info


def test_perspective_frame_to_upright_points(tmp_path):
    origin = np.array([0.3, -0.2, 0.1])
    depth, hits, normals_true = perspective_room(K_SMALL, (60, 80), CAM_TO_UPRIGHT, origin)
    cam2world = np.eye(4)
    cam2world[:3, :3], cam2world[:3, 3] = CAM_TO_UPRIGHT, origin
    labels = np.argmax(np.abs(normals_true), axis=2)
    info = _frame(tmp_path, depth, cam2world=cam2world)
    results = LoadRGBD()(info)
    assert results['img'].shape == (60, 80, 3) and results['img'].dtype == np.uint8
    assert results['depth'].dtype == np.float32 and results['img_shape'] == (60, 80)
    results['pixel_labels'] = labels
    results = LiftPerspective()(results)
    index = results['pixel_index']
    assert len(index) == 60 * 80
    # depth was stored in millimetres: points are within half a millimetre of the
    # true hits scaled along the ray
    err = np.linalg.norm(results['points'] - hits.reshape(-1, 3)[index], axis=1)
    assert err.max() < 2e-3
    np.testing.assert_array_equal(results['colors'] * 255,
                                  gradient_image(60, 80).reshape(-1, 3)[index].astype(np.float32))
    assert results['colors'].dtype == np.float32 and results['colors'].max() <= 1
    np.testing.assert_array_equal(results['labels'], labels.reshape(-1)[index])
    # upright (z-up) normals of the floor / ceiling are vertical, walls horizontal
    dots = np.sum(results['normals'] * normals_true.reshape(-1, 3)[index], axis=1)
    assert np.median(dots) > 0.999
    assert np.mean(dots > 0.99) > 0.8


def test_panorama_frame(tmp_path):
    distance, hits, normals_true = equirect_room((64, 128))
    info = _frame(tmp_path, distance, projection='equirect')
    results = LiftEquirect()(LoadRGBD()(dict(info)))
    err = np.linalg.norm(results['points'] - hits.reshape(-1, 3)[results['pixel_index']], axis=1)
    assert err.max() < 2e-3
    dots = np.sum(results['normals'] * normals_true.reshape(-1, 3)[results['pixel_index']], 1)
    assert np.median(dots) > 0.999
    with pytest.raises(ValueError, match="projection 'equirect'"):
        LiftPerspective()(LoadRGBD()(_frame(tmp_path, distance, projection='equirect')))
    assert len(LiftRGBD(max_depth=2.0)(LoadRGBD()(dict(info)))['points']) < len(results['points'])


def test_colour_registered_into_the_depth_camera(tmp_path):
    # colour camera: twice the resolution and a shifted principal point (ScanNet-like)
    K_color = np.array([[130.0, 0, 85.0], [0, 128.0, 57.0], [0, 0, 1]])
    height, width = 120, 170
    rows, cols = np.mgrid[0:height, 0:width]
    colour = np.stack([cols, rows, np.full_like(cols, 50)], -1).astype(np.uint8)
    depth = np.full((60, 80), 2.0, np.float32)
    info = _frame(tmp_path, depth, img=colour, color_intrinsics=K_color)
    img = LoadRGBD()(info)['img']
    assert img.shape == (60, 80, 3)
    # each depth pixel sees the colour pixel K_color K_depth^-1 [u, v, 1]
    d_rows, d_cols = np.mgrid[0:60, 0:80]
    mapped = np.stack([d_cols, d_rows, np.ones_like(d_cols)], -1) @ (
        K_color @ np.linalg.inv(K_SMALL)).T
    inside = ((mapped[..., 0] >= 0) & (mapped[..., 0] <= width - 1) & (mapped[..., 1] >= 0)
              & (mapped[..., 1] <= height - 1))
    assert inside.mean() > 0.9
    np.testing.assert_allclose(img[..., 0][inside], mapped[..., 0][inside], atol=1.01)
    np.testing.assert_allclose(img[..., 1][inside], mapped[..., 1][inside], atol=1.01)
    with pytest.raises(BadFrameError, match=r'colour image is 170x120 but depth .* is 80x60'):
        LoadRGBD()(_frame(tmp_path, depth, img=colour, name='nok'))


def test_ray_depth_is_converted_to_z(tmp_path):
    depth, _, _ = perspective_room()
    points_z = LiftPerspective(with_normals=False)(LoadRGBD()(_frame(tmp_path, depth)))['points']
    distance = np.linalg.norm(points_z, axis=1).reshape(60, 80)
    results = LoadRGBD()(_frame(tmp_path, distance, name='ray', depth_kind='ray'))
    np.testing.assert_allclose(results['depth'], depth, atol=1.5e-3)


def test_bad_frames_raise_with_the_file_named(tmp_path):
    depth = np.full((6, 8), 2.0, np.float32)
    with pytest.raises(BadFrameError, match='colour image is 9x6 but depth'):
        LoadRGBD()(_frame(tmp_path, depth, img=np.zeros((6, 9, 3), np.uint8)))
    with pytest.raises(BadFrameError, match='without intrinsics'):
        LoadRGBD()(_frame(tmp_path, depth, K=None))
    with pytest.raises(BadFrameError, match='invalid intrinsics'):
        LoadRGBD()(_frame(tmp_path, depth, K=np.zeros((3, 3))))
    with pytest.raises(BadFrameError, match=r'f_depth.png: only 0 valid depth pixels'):
        LoadRGBD()(_frame(tmp_path, np.zeros((6, 8), np.float32)))
    with pytest.raises(BadFrameError, match='twice as wide'):
        LoadRGBD()(_frame(tmp_path, depth, projection='equirect'))
    info = _frame(tmp_path, depth)
    nan_depth = depth.copy()
    nan_depth[2, 3] = np.nan
    nan_depth[0, 0] = np.inf
    np.save(tmp_path / 'nan.npy', nan_depth)
    info.update(depth_path=str(tmp_path / 'nan.npy'), depth_encoding='float', depth_scale=None)
    with pytest.raises(BadFrameError, match=r'nan.npy: 2 depth pixels are NaN, inf or negative'):
        LoadRGBD()(dict(info))
    out = LoadRGBD(nonfinite_depth='invalid')(dict(info))
    assert out['depth'][2, 3] == 0 and out['depth'][0, 0] == 0 and (out['depth'] > 0).sum() == 46
    data = open(info['img_path'], 'rb').read()
    truncated = tmp_path / 'trunc.png'
    truncated.write_bytes(data[:len(data) // 2])
    with pytest.raises(BadFrameError, match='trunc.png: cannot read colour image'):
        LoadRGBD()(dict(_frame(tmp_path, depth), img_path=str(truncated)))
    Image.fromarray(np.zeros((5, 8), np.uint8)).save(tmp_path / 'lab.png')
    with pytest.raises(BadFrameError, match='lab.png: labels are 8x5 but depth is 8x6'):
        LoadRGBD()(_frame(tmp_path, depth, label_path=str(tmp_path / 'lab.png')))
    far = LoadRGBD()(_frame(tmp_path, depth))
    with pytest.raises(BadFrameError, match='lifting gave 0 points'):
        LiftPerspective(max_depth=1.0)(far)
    # a panorama built without LoadRGBD (which checks the shape too) is refused by lifting
    square = dict(img=np.zeros((6, 6, 3), np.uint8), depth=np.full((6, 6), 2.0, np.float32),
                  projection='equirect', frame_id='square_pano')
    with pytest.raises(BadFrameError, match=r'square_pano: .*twice as wide as high, got 6x6'):
        LiftEquirect()(square)


def test_label_map_and_bad_pose(tmp_path):
    depth = np.full((6, 8), 2.0, np.float32)
    raw = np.zeros((6, 8), np.uint8)
    raw[:, 4:] = 3
    raw[0, 0] = 200
    Image.fromarray(raw).save(tmp_path / 'lab.png')
    out = LoadRGBD()(_frame(tmp_path, depth, label_path=str(tmp_path / 'lab.png'),
                            label_map=[255, 7, 8, 9]))
    assert out['pixel_labels'][0, 0] == 255 and out['pixel_labels'][0, 1] == 255
    assert (out['pixel_labels'][:, 4:] == 9).all()
    bad_pose = np.full((4, 4), -np.inf)
    out = LoadRGBD()(_frame(tmp_path, depth, cam2world=bad_pose))
    with pytest.raises(BadFrameError, match='non-finite'):
        LiftPerspective()(out)


def test_depth_edge_filter_removes_flying_pixels(tmp_path):
    depth = np.full((30, 40), 3.0, np.float32)
    depth[10:20, 10:20] = 1.0  # a box in front of a wall
    results = LoadRGBD()(_frame(tmp_path, depth))
    filtered = FilterDepthEdges(rel_threshold=0.05)(dict(results))
    removed = (results['depth'] > 0) & (filtered['depth'] == 0)
    # the box outline (both sides of the jump) is removed, nothing else
    expected = np.zeros_like(removed)
    expected[9:21, 9:21] = True
    expected[11:19, 11:19] = False
    np.testing.assert_array_equal(removed, expected)
    assert filtered['num_edge_pixels'] == expected.sum()
    lifted = LiftPerspective(with_normals=False)(filtered)
    assert len(lifted['points']) == 30 * 40 - expected.sum()


def test_grid_sample_keeps_the_pixel_mapping(tmp_path):
    depth, _, _ = perspective_room()
    results = LiftPerspective()(LoadRGBD()(_frame(tmp_path, depth)))
    n_before = len(results['points'])
    results = GridSample(grid_size=0.1, mode='train', seed=0)(results)
    assert 0 < len(results['points']) < n_before / 4
    index = results['pixel_index']
    img = gradient_image(60, 80).reshape(-1, 3)
    np.testing.assert_array_equal(results['colors'] * 255, img[index].astype(np.float32))
    uv, z = project_perspective(results['points'], K_SMALL)  # no cam2world: camera frame
    rows, cols = np.divmod(index, 80)
    np.testing.assert_allclose(uv, np.stack([cols, rows], 1), atol=1e-3)
    assert len(results['normals']) == len(index)


def test_grazing_points_are_dropped(tmp_path):
    angle = np.deg2rad(60)  # look towards a corner: one wall is seen at a grazing angle
    R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0],
                  [0, 0, 1]]) @ CAM_TO_UPRIGHT
    origin = np.array([0.3, -0.2, 0.1])
    depth, _, normals_true = perspective_room(K_SMALL, (60, 80), R, origin)
    cam2world = np.eye(4)
    cam2world[:3, :3], cam2world[:3, 3] = R, origin
    results = LoadRGBD()(_frame(tmp_path, depth, cam2world=cam2world))
    kept = LiftPerspective(min_incidence_cos=0.8)(dict(results))
    full = LiftPerspective()(dict(results))
    assert 0 < len(kept['points']) < 0.9 * len(full['points'])
    true_normals = normals_true.reshape(-1, 3)[full['pixel_index']]
    rays = full['points'] - origin
    cos = np.abs(np.sum(true_normals * rays, 1)) / np.linalg.norm(rays, axis=1)
    accurate = np.sum(full['normals'] * true_normals, 1) > 0.999  # away from room corners
    is_kept = np.isin(full['pixel_index'], kept['pixel_index'])
    assert accurate.mean() > 0.8
    assert (cos[accurate & is_kept] > 0.79).all() and (cos[accurate & ~is_kept] < 0.81).all()
    slim = LiftPerspective(keep_images=False)(dict(results))
    assert 'img' not in slim and 'depth' not in slim and 'points' in slim


def test_label_mapping_kernel_gives_the_numpy_values(monkeypatch):
    """``map_labels``' numba pass against NumPy's mask / clip / gather / where
    and a per-value reference: in-range labels mapped, the others 255."""
    from d3l.datasets.transforms import rgbd_loading
    rng = np.random.default_rng(0)
    labels = rng.integers(-5, 50, (64, 128)).astype(np.int64)
    label_map = np.concatenate([[255], np.arange(40)])  # Structured3D's NYU40 map
    reference = np.array([label_map[v] if 0 <= v < len(label_map) else 255
                          for v in labels.ravel()]).reshape(labels.shape)
    for use_numba in (True, False):
        monkeypatch.setattr(rgbd_loading, 'USE_NUMBA', use_numba)
        out = rgbd_loading.map_labels(labels, label_map)
        assert out.dtype == np.int64 and out.shape == labels.shape
        np.testing.assert_array_equal(out, reference)
