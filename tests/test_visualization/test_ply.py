"""write_ply: plyfile reads back exactly the fields, dtypes and values written."""
import os

import numpy as np
import pytest
from plyfile import PlyData

from d3l.visualization import default_palette, label_colors, write_ply


def _cloud(n=7, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, 3)).astype(np.float32), rng.integers(0, 4, n)


def test_all_fields_round_trip_through_plyfile(tmp_path):
    points, labels = _cloud()
    normals = np.random.default_rng(1).normal(size=(7, 3)).astype(np.float32)
    colors = label_colors(labels, default_palette(4))
    path = write_ply(str(tmp_path / 'sub' / 'cloud.ply'), points, colors=colors,
                     labels=labels, normals=normals)
    assert os.listdir(tmp_path / 'sub') == ['cloud.ply']  # no temporary left beside it
    ply = PlyData.read(path)
    assert not ply.text and ply.byte_order == '<'
    vertex = ply['vertex'].data
    assert vertex.dtype.names == ('x', 'y', 'z', 'nx', 'ny', 'nz', 'red', 'green', 'blue',
                                  'label')
    assert [vertex.dtype[n].str for n in ('x', 'nx', 'red', 'label')] == ['<f4', '<f4', '|u1',
                                                                          '<i4']
    assert np.array_equal(np.stack([vertex['x'], vertex['y'], vertex['z']], 1), points)
    assert np.array_equal(np.stack([vertex['nx'], vertex['ny'], vertex['nz']], 1), normals)
    assert np.array_equal(np.stack([vertex['red'], vertex['green'], vertex['blue']], 1), colors)
    assert np.array_equal(vertex['label'], labels)


def test_float_colours_become_uint8_and_xyz_only(tmp_path):
    points, _ = _cloud(3)
    colors = np.array([[0.0, 0.5, 1.0], [1.2, -0.1, 0.25], [0.2, 0.4, 0.6]])
    vertex = PlyData.read(write_ply(str(tmp_path / 'c.ply'), points, colors=colors))['vertex']
    got = np.stack([vertex['red'], vertex['green'], vertex['blue']], 1)
    assert np.array_equal(got, (np.clip(colors, 0, 1) * 255).round().astype(np.uint8))
    bare = PlyData.read(write_ply(str(tmp_path / 'b.ply'), points))['vertex']
    assert bare.data.dtype.names == ('x', 'y', 'z') and bare.count == 3


def test_bad_shapes_name_the_file(tmp_path):
    points, labels = _cloud()
    with pytest.raises(ValueError, match=r'bad\.ply.*\(N, 3\)'):
        write_ply(str(tmp_path / 'bad.ply'), points[:, :2])
    with pytest.raises(ValueError, match=r'short\.ply.*label has 6 rows for 7 points'):
        write_ply(str(tmp_path / 'short.ply'), points, labels=labels[:6])
    assert os.listdir(tmp_path) == []


def test_label_colors_ignore_and_palette():
    palette = default_palette(3)
    assert palette.shape == (3, 3) and palette.dtype == np.uint8
    assert len({tuple(c) for c in palette}) == 3
    colors = label_colors(np.array([0, 2, 255, -1]), palette, ignore_color=(9, 9, 9))
    assert np.array_equal(colors, [palette[0], palette[2], [9, 9, 9], [9, 9, 9]])
    with pytest.raises(ValueError, match='label 3 has no colour in a palette of 3'):
        label_colors(np.array([3]), palette)
