"""Reading users' point-cloud files: formats, and one clear error per problem."""
import numpy as np
import pytest
from plyfile import PlyData, PlyElement

from d3l.apis.io import PointFileError, list_inputs, read_points
from d3l.apis.normals import estimate_normals


def write_ply(path, points, colors=None, normals=None, text=False, faces=None):
    fields = [('x', 'f4'), ('y', 'f4'), ('z', 'f4')]
    if normals is not None:
        fields += [('nx', 'f4'), ('ny', 'f4'), ('nz', 'f4')]
    if colors is not None:
        fields += [('red', 'u1'), ('green', 'u1'), ('blue', 'u1')]
    vertex = np.empty(len(points), fields)
    vertex['x'], vertex['y'], vertex['z'] = points.T
    if normals is not None:
        vertex['nx'], vertex['ny'], vertex['nz'] = normals.T
    if colors is not None:
        vertex['red'], vertex['green'], vertex['blue'] = colors.T
    elements = [PlyElement.describe(vertex, 'vertex')]
    if faces is not None:
        face = np.empty(len(faces), [('vertex_indices', 'i4', (3,))])
        face['vertex_indices'] = faces
        elements.append(PlyElement.describe(face, 'face'))
    PlyData(elements, text=text).write(str(path))
    return str(path)


def cloud(n=50, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.random((n, 3)).astype(np.float32) * 4,
            rng.integers(0, 256, (n, 3)).astype(np.uint8),
            rng.normal(size=(n, 3)).astype(np.float32))


@pytest.mark.parametrize('text', [True, False], ids=['ascii', 'binary'])
def test_ply_with_colours_and_normals(tmp_path, text):
    points, colors, normals = cloud()
    path = write_ply(tmp_path / 'scan.ply', points, colors, normals, text=text,
                     faces=[[0, 1, 2]])
    got = read_points(path)
    np.testing.assert_allclose(got['points'], points, rtol=1e-6)
    np.testing.assert_allclose(got['colors'], colors / 255.0, rtol=1e-6)
    np.testing.assert_allclose(got['normals'], normals, rtol=1e-6)


def test_ply_without_colours_or_normals(tmp_path):
    points, _, _ = cloud()
    got = read_points(write_ply(tmp_path / 'bare.ply', points))
    assert got['colors'] is None and got['normals'] is None
    assert got['points'].dtype == np.float32 and got['points'].shape == (50, 3)


def test_npy_and_npz_layouts(tmp_path):
    points, colors, normals = cloud()
    np.save(tmp_path / 'a.npy', points)
    np.save(tmp_path / 'b.npy', np.concatenate([points, colors], 1))
    np.save(tmp_path / 'c.npy', np.concatenate([points, colors / 255.0, normals], 1))
    np.savez(tmp_path / 'd.npz', coord=points, color=colors, normal=normals)
    a, b, c, d = (read_points(str(tmp_path / n)) for n in ('a.npy', 'b.npy', 'c.npy', 'd.npz'))
    assert a['colors'] is None and a['normals'] is None
    for got in (b, c, d):
        np.testing.assert_allclose(got['points'], points, rtol=1e-6)
        np.testing.assert_allclose(got['colors'], colors / 255.0, atol=1e-6)
    for got in (c, d):
        np.testing.assert_allclose(got['normals'], normals, rtol=1e-6)
    (tmp_path / 'notes.txt').write_text('not a cloud')
    (tmp_path / 'sub').mkdir()
    assert list_inputs([str(tmp_path)]) == [str(tmp_path / n) for n in
                                            ('a.npy', 'b.npy', 'c.npy', 'd.npz')]


def _bad_files(tmp_path):
    points, colors, _ = cloud(200)
    empty = tmp_path / 'empty.ply'
    empty.write_bytes(b'')
    no_vertices = write_ply(tmp_path / 'zero.ply', points[:0], colors[:0])
    good = write_ply(tmp_path / 'full.ply', points, colors)
    data = open(good, 'rb').read()
    truncated = tmp_path / 'truncated.ply'
    truncated.write_bytes(data[:len(data) - 1000])
    nan = points.copy()
    nan[[3, 7]] = np.nan
    nan_ply = write_ply(tmp_path / 'nan.ply', nan, colors)
    text = tmp_path / 'readme.ply'
    text.write_text('these are my notes, not a scan\n')
    faces_only = tmp_path / 'faces.ply'
    face = np.empty(1, [('vertex_indices', 'i4', (3,))])
    PlyData([PlyElement.describe(face, 'face')]).write(str(faces_only))
    matrix = tmp_path / 'matrix.npy'
    np.save(matrix, np.zeros((10, 2)))
    return {str(empty): 'the file is empty \\(0 bytes\\)',
            no_vertices: 'the point cloud is empty \\(0 points\\)',
            str(truncated): 'truncated or corrupt PLY',
            nan_ply: '2 of 200 points have NaN or infinite coordinates \\(first: point 3\\)',
            str(text): 'not a PLY point cloud',
            str(faces_only): 'not a point cloud \\(the PLY has no vertex element\\)',
            str(matrix): 'not a point cloud \\(array of shape \\(10, 2\\)',
            str(tmp_path / 'missing.ply'): 'no such file'}


def test_each_bad_file_gets_its_own_clear_error(tmp_path):
    for path, message in _bad_files(tmp_path).items():
        with pytest.raises(PointFileError, match=message) as info:
            read_points(path)
        assert str(info.value).startswith(path)


def test_estimated_normals_are_the_planes_facing_the_room():
    rng = np.random.default_rng(0)
    n = 3000
    pts = rng.random((n, 3)) * [4.0, 3.0, 2.5]
    face = rng.integers(0, 3, n)
    pts[face == 0, 2] = 0.0    # floor: normal up, towards the room
    pts[face == 1, 0] = 0.0    # wall at x = 0: normal +x
    pts[face == 2, 1] = 3.0    # wall at y = 3: normal -y
    normals = estimate_normals(pts, k=12)
    np.testing.assert_allclose(np.linalg.norm(normals, axis=1), 1, atol=1e-5)
    # points away from the edges (where two planes meet) have the plane's normal
    away = {0: (pts[:, 0] > 0.3) & (pts[:, 1] < 2.7), 1: (pts[:, 2] > 0.3) & (pts[:, 1] < 2.7),
            2: (pts[:, 0] > 0.3) & (pts[:, 2] > 0.3)}
    for f, axis, sign in ((0, 2, 1), (1, 0, 1), (2, 1, -1)):
        sel = (face == f) & away[f]
        assert (normals[sel, axis] * sign > 0.99).mean() > 0.98, f
