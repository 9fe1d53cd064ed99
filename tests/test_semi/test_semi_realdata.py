"""Confident pseudo-labels on real ScanNet scenes (scene0000_00/01/02, all
mesh vertices): files align with the real vertex count and read back through
ScanNetDataset + PseudoLabelDataset; ground truth stays untouched."""
import hashlib
import os
import os.path as osp
import textwrap

import numpy as np
import torch
from conftest import tool_module
from mmengine.registry import DefaultScope

from d3l.datasets.scannet import ScanNetDataset, nyu40_to_scannet20
from d3l.datasets.semi import PseudoLabelDataset, num_kept
from d3l.registry import MODELS

SCENES = ('scene0000_00', 'scene0000_01', 'scene0000_02')
MODEL = dict(type='Segmentor',
             backbone=dict(type='PointMLP', in_channels=6, channels=(16, 32)),
             decode_head=dict(type='SegHead', num_classes=20), return_probs=True)
TEST_PIPELINE = [dict(type='GridSample', grid_size=0.05, mode='test', return_inverse=True),
                 dict(type='PackPointInputs', feat_keys=('colors', 'normals'))]


def _pointcept_root(source, root):
    """The real vertices in Pointcept's layout (normals are not part of the
    sample; zeros keep the 6-channel input)."""
    for scene in SCENES:
        vert = np.load(osp.join(source, f'{scene}_vert_all.npy'))
        nyu40 = np.load(osp.join(source, f'{scene}_sem_label_all.npy'))
        folder = osp.join(root, 'train', scene)
        os.makedirs(folder)
        np.save(osp.join(folder, 'coord.npy'), vert[:, :3].astype(np.float32))
        np.save(osp.join(folder, 'color.npy'), vert[:, 3:6].astype(np.uint8))
        np.save(osp.join(folder, 'normal.npy'), np.zeros((len(vert), 3), np.float32))
        labels = nyu40_to_scannet20(nyu40, scene)
        np.save(osp.join(folder, 'segment20.npy'),
                np.where(labels == 255, -1, labels).astype(np.int16))
    return root


def _digest(root):
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(root)):
        for name in sorted(files):
            with open(osp.join(folder, name), 'rb') as f:
                digest.update(name.encode() + f.read())
    return digest.hexdigest()


def test_real_scenes_get_aligned_confident_pseudo_labels(realdata, tmp_path, monkeypatch):
    source = realdata('scannet_scene0000', 'scannet_train_instance_data')
    root = _pointcept_root(source, str(tmp_path / 'scannet'))
    lr_file = tmp_path / 'lr.txt'
    lr_file.write_text('scene0000_00\n')
    unlabeled = dict(type='ScanNetDataset', data_root=root, split='train', lr_file=str(lr_file),
                     subset='unlabeled', test_mode=True, pipeline=TEST_PIPELINE)
    out_dir = tmp_path / 'pseudo'
    config = tmp_path / 'lr_pseudo.py'
    config.write_text(textwrap.dedent(f'''
        default_scope = 'd3l'
        model = {MODEL!r}
        pseudo_label = dict(dataset={unlabeled!r}, out_dir='{out_dir}', ratio=0.2)
    '''))
    with DefaultScope.overwrite_default_scope('d3l'):
        torch.manual_seed(0)
        model = MODELS.build(MODEL).eval()
    checkpoint = tmp_path / 'model.pth'
    torch.save({'state_dict': model.state_dict()}, checkpoint)
    before = _digest(root)

    tool = tool_module('make_confident_pseudo_labels')
    meta = tool.main([str(config), str(checkpoint)])
    assert (meta['written'], meta['skipped']) == (2, 0)
    assert _digest(root) == before  # ground truth untouched

    with DefaultScope.overwrite_default_scope('d3l'):
        scenes = ScanNetDataset(root, split='train', lr_file=str(lr_file), subset='unlabeled',
                                test_mode=True, pipeline=TEST_PIPELINE)
    from d3l.datasets import point_collate
    for i, (scene, count) in enumerate((('scene0000_01', 80583), ('scene0000_02', 86001))):
        written = np.load(out_dir / scene / 'segment20.npy')
        assert written.shape == (count,) and written.dtype == np.int16  # every real vertex
        # independent prediction over all vertices through the inverse map
        with torch.no_grad():
            result = model.test_step(point_collate([scenes[i]]))[0]
        assert result['metainfo']['scene_id'] == scene
        pred = result['probs'].argmax(1).numpy()
        assert pred.shape == (count,)
        for c in np.unique(pred):
            kept = written == c
            assert kept.sum() == num_kept(int((pred == c).sum()), 0.2), c
            assert (pred[kept] == c).all()
        assert ((written == -1) | np.isin(written, np.unique(pred))).all()

    # resuming skips the finished scenes without loading them
    monkeypatch.setattr(ScanNetDataset, 'load_scene',
                        lambda *a, **k: (_ for _ in ()).throw(AssertionError('loaded')))
    meta = tool.main([str(config), str(checkpoint)])
    assert (meta['written'], meta['skipped']) == (0, 2)
    monkeypatch.undo()

    train = dict(unlabeled, test_mode=False,
                 pipeline=[dict(type='PackPointInputs', feat_keys=('colors', 'normals'))])
    with DefaultScope.overwrite_default_scope('d3l'):
        pseudo = PseudoLabelDataset(train, label_root=str(out_dir))
    sample = pseudo[1]['data_samples']
    expected = np.load(out_dir / 'scene0000_02' / 'segment20.npy').astype(np.int64)
    expected[expected < 0] = 255
    assert np.array_equal(sample['labels'].numpy(), expected)
