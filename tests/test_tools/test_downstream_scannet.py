"""ScanNet LA / LR end to end: splits -> tools/train.py -> tools/test.py
(per-class tables, PLY export, benchmark files, voting) -> tools/summarize.py,
on tiny generated scenes with a per-point MLP (fast on two CPU cores)."""
import json
import os.path as osp
import sys
import textwrap

import numpy as np
import pytest
from conftest import tool_module
from downstream_data import make_scannet_root

from d3l.datasets.scannet import SCANNET20_CLASSES, SCANNET20_NYU40_IDS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
from make_data_efficient_splits import main as make_splits  # noqa: E402

TRAIN = [f'scene{i:04d}_00' for i in range(4)]
VAL = ['scene0100_00', 'scene0101_00']


def _config(tmp_path, name, root, dataset_options):
    path = tmp_path / f'{name}.py'
    path.write_text(textwrap.dedent(f'''
        _base_ = ['{REPO}/configs/_base_/default_runtime.py',
                  '{REPO}/configs/_base_/schedules/adam.py',
                  '{REPO}/configs/_base_/datasets/scannet.py']
        model = dict(type='Segmentor',
                     backbone=dict(type='PointMLP', in_channels=6, channels=(16, 16)),
                     decode_head=dict(type='SegHead', num_classes=20))
        train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root='{root}', {dataset_options}))
        val_dataloader = dict(num_workers=0, persistent_workers=False,
                              dataset=dict(data_root='{root}'))
        test_dataloader = val_dataloader
        train_cfg = dict(max_epochs=2, val_interval=2)
        param_scheduler = [dict(type='PolyLR', power=0.9, by_epoch=True, begin=0, end=None,
                                convert_to_iter_based=True)]
        default_hooks = dict(logger=dict(interval=1))
    '''))
    return str(path)


@pytest.fixture(scope='module')
def scannet(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp('scannet_e2e')
    root = make_scannet_root(str(tmp_path / 'scannet'),
                             {'train': TRAIN, 'val': VAL, 'test': ['scene0707_00']},
                             num_points=300)
    return tmp_path, root


def test_lr_and_la_train_test_summarize(scannet, tool):
    tmp_path, root = scannet
    # the split tool runs in-process (its CLI is tested in test_datasets/test_scannet.py)
    make_splits(['scannet-lr', '--data-root', root, '--percent', '50'])
    make_splits(['scannet-la', '--data-root', root, '--points', '20'])
    lr_cfg = _config(tmp_path, 'segmentor_scratch_scannet_pointmlp_lr50', root,
                     f"lr_file='{root}/tasks/scenes/50.txt'")
    la_cfg = _config(tmp_path, 'segmentor_scratch_scannet_pointmlp_la20', root,
                     f"la_file='{root}/tasks/points/points20'")
    work = {}
    for name, cfg in (('lr50', lr_cfg), ('la20', la_cfg)):
        work[name] = tmp_path / 'work' / name
        tool('train.py', cfg, '--work-dir', work[name])
        assert (work[name] / 'epoch_2.pth').is_file()

    out, show, preds = tmp_path / 'eval', tmp_path / 'show', tmp_path / 'preds'
    tool('test.py', lr_cfg, work['lr50'] / 'epoch_2.pth', '--work-dir', tmp_path / 'tw',
         '--out', out, '--show-dir', show, '--save-preds', preds)
    metrics = json.loads((out / 'metrics.json').read_text())
    assert set(metrics) >= {'mIoU', 'mAcc', 'aAcc', 'IoU.wall', 'IoU.otherfurniture'}
    present = [metrics[f'IoU.{c}'] for c in SCANNET20_CLASSES if metrics[f'IoU.{c}'] is not None]
    assert metrics['mIoU'] == pytest.approx(np.mean(present))
    table = (out / 'per_class.txt').read_text()
    assert 'shower curtain' in table and 'mIoU' in table
    assert json.loads((out / 'run.json').read_text())['config_name'] == \
        'segmentor_scratch_scannet_pointmlp_lr50'
    # full-resolution coloured PLYs of every val scene, prediction and ground truth
    for scene in VAL:
        header = (show / f'{scene}_pred.ply').read_bytes()[:400].decode('latin-1')
        assert 'element vertex 300' in header and 'property int label' in header
        assert (show / f'{scene}_gt.ply').is_file()
        ids = np.loadtxt(preds / f'{scene}.txt', dtype=int)  # benchmark submission format
        pred = np.load(preds / f'{scene}.npy')
        assert ids.shape == (300,) and np.array_equal(ids, np.asarray(SCANNET20_NYU40_IDS)[pred])

    # voting on the hidden test split (no labels): benchmark files, predictions counted
    tta_out, submit = tmp_path / 'eval_tta', tmp_path / 'submit'
    tool('test.py', lr_cfg, work['lr50'] / 'epoch_2.pth', '--work-dir', tmp_path / 'tw2',
         '--tta', '--predict-only', '--save-preds', submit, '--out', tta_out,
         '--cfg-options', 'test_dataloader.dataset.split=test')
    assert json.loads((tta_out / 'metrics.json').read_text()) == {'samples': 1, 'points': 300}
    assert json.loads((tta_out / 'run.json').read_text())['tta']
    ids = np.loadtxt(submit / 'scene0707_00.txt', dtype=int)
    assert ids.shape == (300,) and set(ids.tolist()) <= set(SCANNET20_NYU40_IDS)

    # LA work dir: metrics from its validation log; LR: from the test tool's metrics.json
    table_md = tmp_path / 'table.md'
    proc = tool('summarize.py', work['la20'], out, '--out', table_md)
    text = table_md.read_text()
    assert text == proc.stdout.rstrip('\n') + '\n' or text.strip() in proc.stdout
    assert '### scannet LA (mIoU)' in text and '### scannet LR (mIoU)' in text
    assert '| segmentor (scratch), pointmlp | ' + f'{metrics["mIoU"]:.1f} |' in text
    assert '| 20 pts |' in text and '| 50% |' in text


def test_test_tool_errors(scannet, tmp_path):
    from d3l.engine.cli import CLIError
    test_tool = tool_module('test')
    _, root = scannet
    cfg = _config(tmp_path, 'segmentor_scratch_scannet_pointmlp_la20', root, "split='train'")
    plain = tmp_path / 'no_tta.py'
    plain.write_text(f"_base_ = ['{cfg}']\ntta_pipeline = None\n")
    with pytest.raises(CLIError, match='defines no tta_pipeline'):
        test_tool.main([str(plain), str(tmp_path / 'fake.pth'), '--tta'])
    with pytest.raises(CLIError, match='writes nothing without --save-preds'):
        test_tool.main([cfg, str(tmp_path / 'fake.pth'), '--predict-only'])
