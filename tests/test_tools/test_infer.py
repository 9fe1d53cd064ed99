"""tools/infer.py: the real ScanNet scan in, a labelled PLY out; a batch with
bad files goes on and fails at the end."""
import os.path as osp
import sys
import textwrap

import numpy as np
import pytest
import torch
from conftest import realdata_path
from plyfile import PlyData, PlyElement

from d3l.apis import inference_segmentor, init_model
from d3l.datasets.scannet import SCANNET20_PALETTE

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
from infer import main as infer_main  # noqa: E402

CONFIG = '''
_base_ = ['{repo}/configs/_base_/datasets/scannet.py', '{repo}/configs/_base_/models/ocnn_unet.py']
default_scope = 'd3l'
model = dict(backbone=dict(depth=7, stem_channels=4, enc_channels=[4, 8], enc_blocks=[1, 1],
                           dec_channels=[8, 4], dec_blocks=[1, 1]))
'''


@pytest.fixture(scope='module')
def model_files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('infer')
    config = tmp / 'segmentor_tiny_scannet_ocnn.py'
    config.write_text(textwrap.dedent(CONFIG.format(repo=REPO)))
    torch.manual_seed(0)
    model = init_model(str(config))
    for module in model.modules():
        if isinstance(module, torch.nn.BatchNorm1d):
            module.running_mean.uniform_(-0.2, 0.2)
    torch.save({'state_dict': model.state_dict()}, tmp / 'tiny.pth')
    return str(config), str(tmp / 'tiny.pth')


def write_scannet_ply(path, vertices, faces):
    """A PLY laid out as ScanNet's *_vh_clean_2.ply: binary, x y z float,
    red green blue alpha uchar, and a face list."""
    vertex = np.empty(len(vertices), [('x', 'f4'), ('y', 'f4'), ('z', 'f4'), ('red', 'u1'),
                                      ('green', 'u1'), ('blue', 'u1'), ('alpha', 'u1')])
    for i, name in enumerate(('x', 'y', 'z')):
        vertex[name] = vertices[:, i]
    for i, name in enumerate(('red', 'green', 'blue')):
        vertex[name] = vertices[:, 3 + i].round().astype(np.uint8)
    vertex['alpha'] = 255
    face = np.empty(len(faces), [('vertex_indices', 'i4', (3,))])
    face['vertex_indices'] = faces
    PlyData([PlyElement.describe(vertex, 'vertex'), PlyElement.describe(face, 'face')],
            text=False).write(str(path))


def test_real_scannet_scan_gets_one_label_per_vertex(model_files, tmp_path, capsys):
    config, checkpoint = model_files
    vertices = np.load(realdata_path('scannet_scene0000', 'scannet_train_instance_data',
                                     'scene0000_00_vert_all.npy'))
    scan = tmp_path / 'scene0000_00_vh_clean_2.ply'
    write_scannet_ply(scan, vertices, np.arange(300).reshape(100, 3))
    out = tmp_path / 'out'
    code = infer_main([config, checkpoint, str(scan), '--out', str(out), '--save-probs',
                       '--no-progress'])
    assert code == 0
    text = capsys.readouterr().out
    assert f'scene0000_00_vh_clean_2.ply: {len(vertices)} points' in text
    assert 'done: 1 of 1 files segmented' in text and '0 failed' in text
    written = PlyData.read(str(out / 'scene0000_00_vh_clean_2_pred.ply'))['vertex'].data
    assert len(written) == len(vertices) == 81369
    labels = np.load(out / 'scene0000_00_vh_clean_2_labels.npy')
    np.testing.assert_array_equal(written['label'], labels)
    np.testing.assert_allclose(np.stack([written[k] for k in 'xyz'], 1), vertices[:, :3])
    colors = np.stack([written[k] for k in ('red', 'green', 'blue')], 1)
    np.testing.assert_array_equal(colors, np.asarray(SCANNET20_PALETTE)[labels])
    # the same labels as the API on the same arrays
    direct = inference_segmentor(init_model(config, checkpoint), vertices[:, :3],
                                 vertices[:, 3:6].round() / 255.0)
    np.testing.assert_array_equal(labels, direct['labels'])
    probs = np.load(out / 'scene0000_00_vh_clean_2_probs.npy')
    assert probs.shape == (81369, 20) and probs.dtype == np.float16
    np.testing.assert_allclose(probs.astype(np.float32), direct['probs'], atol=1e-3)
    # the one-line summary carries a class histogram
    assert '%' in text.split('points, ')[1]


def test_bad_files_are_reported_and_the_batch_goes_on(model_files, tmp_path, capsys):
    config, checkpoint = model_files
    rng = np.random.default_rng(0)
    scans = tmp_path / 'scans'
    scans.mkdir()
    good = rng.random((2000, 6)).astype(np.float32) * [6, 5, 3, 1, 1, 1]
    np.save(scans / 'b_good.npy', good)
    (scans / 'a_empty.ply').write_bytes(b'')
    write_scannet_ply(scans / 'c_full.ply', good * [1, 1, 1, 255, 255, 255], np.zeros((0, 3)))
    data = (scans / 'c_full.ply').read_bytes()
    (scans / 'c_truncated.ply').write_bytes(data[:len(data) // 2])
    nan = good.copy()
    nan[10, 1] = np.nan
    np.save(scans / 'd_nan.npy', nan)
    (scans / 'e_notes.ply').write_text('shopping list: milk, eggs\n')
    out = tmp_path / 'out'
    code = infer_main([config, checkpoint, str(scans), '--out', str(out), '--no-progress'])
    assert code == 1
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    failed = {line.split(':')[0].split('/')[-1]: line for line in lines
              if line.startswith('FAILED')}
    assert set(failed) == {'a_empty.ply', 'c_truncated.ply', 'd_nan.npy', 'e_notes.ply'}
    assert 'empty (0 bytes)' in failed['a_empty.ply']
    assert 'truncated or corrupt PLY' in failed['c_truncated.ply']
    assert 'NaN or infinite coordinates' in failed['d_nan.npy']
    assert 'not a PLY point cloud' in failed['e_notes.ply']
    assert 'done: 2 of 6 files segmented' in captured.out and '4 failed' in captured.out
    assert captured.err.count('failed:') == 4
    for name in ('b_good', 'c_full'):
        assert len(np.load(out / f'{name}_labels.npy')) == 2000
    assert not osp.exists(out / 'a_empty_labels.npy')
