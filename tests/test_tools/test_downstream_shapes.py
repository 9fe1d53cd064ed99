"""ModelNet40 and ShapeNet part end to end with per-category subsets:
tools/train.py -> tools/test.py -> tools/summarize.py on tiny generated
shapes in the official layouts, with a per-point MLP."""
import csv
import json
import os.path as osp
import sys
import textwrap

import pytest
from downstream_data import MODELNET_SHAPES, make_modelnet_root, make_shapenet_root

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
from make_data_efficient_splits import main as make_splits  # noqa: E402

COMMON = '''
    train_cfg = dict(max_epochs=2, val_interval=2)
    param_scheduler = [dict(type='PolyLR', power=0.9, by_epoch=True, begin=0, end=None,
                            convert_to_iter_based=True)]
    default_hooks = dict(logger=dict(interval=1))
'''


def _write(tmp_path, name, text):
    path = tmp_path / f'{name}.py'
    path.write_text(textwrap.dedent(text) + textwrap.dedent(COMMON))
    return str(path)


def test_modelnet40_subset_train_test(tmp_path, tool):
    root = make_modelnet_root(str(tmp_path / 'modelnet'), counts={'train': 10, 'test': 3},
                              num_points=64)
    make_splits(['modelnet40', '--data-root', root, '--percent', '20'])
    subset = f'{root}/data_efficient/modelnet40_train_20pct.txt'
    cfg = _write(tmp_path, 'classifier_scratch_modelnet40_pointmlp_20pct', f'''
        _base_ = ['{REPO}/configs/_base_/default_runtime.py',
                  '{REPO}/configs/_base_/schedules/sgd_poly.py',
                  '{REPO}/configs/_base_/datasets/modelnet40.py']
        model = dict(type='Classifier',
                     backbone=dict(type='PointMLP', in_channels=6, channels=(16, 32),
                                   global_pool=True),
                     cls_head=dict(type='ClsHead', num_classes={len(MODELNET_SHAPES)}))
        train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root='{root}', subset_file='{subset}'))
        val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                              dataset=dict(data_root='{root}'))
        test_dataloader = val_dataloader
    ''')
    work, out, preds = tmp_path / 'work', tmp_path / 'eval', tmp_path / 'preds'
    tool('train.py', cfg, '--work-dir', work)
    log = next(work.glob('*/*.log')).read_text()
    assert 'per-class accuracy' in log  # the validation table at the end of training
    tool('test.py', cfg, work / 'epoch_2.pth', '--work-dir', tmp_path / 'tw', '--out', out,
         '--save-preds', preds)
    metrics = json.loads((out / 'metrics.json').read_text())
    per_class = [metrics[f'Acc.{c}'] for c in MODELNET_SHAPES]
    assert metrics['mAcc'] == pytest.approx(sum(per_class) / len(per_class))
    with open(preds / 'predictions.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 3 * len(MODELNET_SHAPES)
    assert {r['gt'] for r in rows} == set(MODELNET_SHAPES)
    correct = sum(r['pred'] == r['gt'] for r in rows)
    assert metrics['OA'] == pytest.approx(100 * correct / len(rows))
    text = tool('summarize.py', out).stdout
    assert '### modelnet40 (OA)' in text and '| 20% |' in text


def test_shapenet_part_subset_train_test(tmp_path, tool):
    root = make_shapenet_root(str(tmp_path / 'shapenet'), counts={'train': 5, 'val': 1,
                                                                  'test': 2}, num_points=64)
    make_splits(['shapenet-part', '--data-root', root, '--percent', '50'])
    subset = f'{root}/data_efficient/shapenet_part_trainval_50pct.txt'
    cfg = _write(tmp_path, 'segmentor_scratch_shapenet-part_pointmlp_50pct', f'''
        _base_ = ['{REPO}/configs/_base_/default_runtime.py',
                  '{REPO}/configs/_base_/schedules/sgd_poly.py',
                  '{REPO}/configs/_base_/datasets/shapenet_part.py']
        model = dict(type='Segmentor', return_probs=True,
                     backbone=dict(type='PointMLP', in_channels=6, channels=(16, 32)),
                     decode_head=dict(type='SegHead', num_classes=50))
        train_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root='{root}', subset_file='{subset}'))
        val_dataloader = dict(batch_size=4, num_workers=0, persistent_workers=False,
                              dataset=dict(data_root='{root}'))
        test_dataloader = val_dataloader
    ''')
    work, out, show = tmp_path / 'work', tmp_path / 'eval', tmp_path / 'show'
    tool('train.py', cfg, '--work-dir', work)
    tool('test.py', cfg, work / 'epoch_2.pth', '--work-dir', tmp_path / 'tw', '--out', out,
         '--show-dir', show, '--max-show', '2')
    metrics = json.loads((out / 'metrics.json').read_text())
    assert set(metrics) == {'ins_mIoU', 'cat_mIoU', 'IoU.Bag', 'IoU.Mug'}
    # two test shapes per category: instance and category means coincide
    assert metrics['ins_mIoU'] == pytest.approx(metrics['cat_mIoU'])
    assert metrics['cat_mIoU'] == pytest.approx((metrics['IoU.Bag'] + metrics['IoU.Mug']) / 2)
    assert len(list(show.glob('*_pred.ply'))) == 2
    assert 'Bag' in (out / 'per_class.txt').read_text()
    text = tool('summarize.py', out, '--metric', 'cat_mIoU').stdout
    assert '### shapenet-part (cat_mIoU)' in text
