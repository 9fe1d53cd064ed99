"""The shipped downstream configs: every one loads, names only registered
types, follows the naming scheme tools/summarize.py reads, carries the
paper's schedule, and the first config of each family trains one step and
predicts with the real backbone on tiny generated data."""
import glob
import os.path as osp
import sys

import pytest
import torch
from downstream_data import make_modelnet_root, make_scannet_root, make_shapenet_root
from mmengine.config import Config
from mmengine.registry import init_default_scope

from d3l.datasets import point_collate
from d3l.engine.cli import check_config_types
from d3l.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
from summarize import parse_config_name  # noqa: E402

FOLDERS = ('scannet_la', 'scannet_lr', 'modelnet40', 'shapenet_part')
# the fine-tuning configs of this module (the folders also hold semi-supervised variants)
CONFIGS = sorted(p for f in FOLDERS for prefix in ('segmentor_', 'classifier_')
                 for p in glob.glob(osp.join(REPO, 'configs', f, f'{prefix}*.py')))
# (optimizer, lr, epochs, batch size) of the paper per task and backbone
SCHEDULES = {('scannet', 'ocnn'): ('SGD', 0.05, 500, 4),
             ('scannet', 'spconv'): ('Adam', 1e-3, 200, 4),
             ('modelnet40', 'ocnn'): ('SGD', 0.05, 300, 32),
             ('modelnet40', 'spconv'): ('Adam', 1e-3, 200, 32),
             ('shapenet-part', 'ocnn'): ('SGD', 0.025, 600, 32),
             ('shapenet-part', 'spconv'): ('Adam', 1e-3, 200, 32)}


def test_all_settings_present():
    names = {osp.splitext(osp.basename(p))[0] for p in CONFIGS}
    assert len(names) == 2 * 2 * (4 + 4 + 3 + 3)  # init x backbone x settings
    for init in ('scratch', 'dpt-ade20k'):
        for backbone in ('ocnn', 'spconv'):
            for n in (20, 50, 100, 200):
                assert f'segmentor_{init}_scannet_{backbone}_la{n}' in names
            for p in (1, 5, 10, 20):
                assert f'segmentor_{init}_scannet_{backbone}_lr{p}' in names
            for p in (1, 5, 20):
                assert f'classifier_{init}_modelnet40_{backbone}_{p}pct' in names
                assert f'segmentor_{init}_shapenet-part_{backbone}_{p}pct' in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.basename(p))
def test_config_contents(path):
    cfg = Config.fromfile(path)
    info = parse_config_name(osp.splitext(osp.basename(path))[0])
    optimizer, lr, epochs, batch = SCHEDULES[(info['dataset'], info['backbone'])]
    assert cfg.optim_wrapper.optimizer.type == optimizer
    assert cfg.optim_wrapper.optimizer.lr == lr
    if optimizer == 'SGD':
        assert cfg.optim_wrapper.optimizer.momentum == 0.9
    assert cfg.param_scheduler[0].type == 'PolyLR' and cfg.param_scheduler[0].power == 0.9
    assert cfg.train_cfg.max_epochs == epochs and cfg.train_dataloader.batch_size == batch
    backbone = cfg.model.backbone.type
    assert backbone == {'ocnn': 'OCNNUNet', 'spconv': 'SparseUNet'}[info['backbone']]
    assert cfg.model.backbone.in_channels == 6
    assert tuple(cfg.train_dataloader.dataset.pipeline[-1].feat_keys) == ('colors', 'normals')
    dataset = cfg.train_dataloader.dataset
    setting = info['setting']
    if setting.startswith('la'):
        assert dataset.la_file.endswith(f'/points{setting[2:]}')
    elif setting.startswith('lr'):
        assert dataset.lr_file.endswith(f'/{setting[2:]}.txt')
    else:
        assert dataset.subset_file.endswith(f'_{setting}.txt')
    assert (cfg.get('load_from') is not None) == (info['init'] != 'scratch')
    assert cfg.get('tta_pipeline') and cfg.tta_model.type == 'VotingModel'
    if info['dataset'] == 'shapenet-part':
        assert cfg.model.return_probs and cfg.model.decode_head.num_classes == 50
        assert cfg.test_evaluator.type == 'PartSegMetric'
    # the authors' code / the paper where the table above says nothing
    if (info['dataset'], info['backbone']) == ('scannet', 'ocnn'):
        assert cfg.optim_wrapper.optimizer.weight_decay == 0.0  # LA/LR_scannet.yaml
    if info['dataset'] == 'modelnet40':  # 32^3
        if info['backbone'] == 'ocnn':
            assert cfg.model.backbone.depth == 5
        else:
            assert cfg.model.backbone.voxel_size == 0.05
    if info['dataset'] == 'scannet':
        steps = {t['type']: t for t in dataset.pipeline}
        la = setting.startswith('la')  # LA keeps every annotated point
        assert all(steps[k].get('keep_labeled', False) == la
                   for k in ('FitToCube', 'GridSample', 'LimitPoints'))
        assert steps['FitToCube']['size'] <= 2 * 5.12  # inside the O-CNN cube
        elastic = steps['ElasticDistortion']
        assert elastic['smoothing_passes'] == 2 and elastic['params'][0] == (1.024, 2.048)


FIRSTS = ['scannet_la/segmentor_scratch_scannet_ocnn_la20.py',
          'scannet_lr/segmentor_scratch_scannet_spconv_lr1.py',
          'modelnet40/classifier_scratch_modelnet40_ocnn_1pct.py',
          'modelnet40/classifier_scratch_modelnet40_spconv_1pct.py',
          'shapenet_part/segmentor_scratch_shapenet-part_ocnn_1pct.py',
          'shapenet_part/segmentor_scratch_shapenet-part_spconv_1pct.py']


@pytest.fixture(scope='module')
def roots(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('downstream_configs')
    return {
        'scannet': make_scannet_root(str(tmp / 'scannet'), {'train': ['scene0000_00',
                                     'scene0001_00'], 'val': ['scene0002_00']}, 300),
        'modelnet40': make_modelnet_root(str(tmp / 'modelnet'), {'train': 1, 'test': 1}, 64),
        'shapenet-part': make_shapenet_root(str(tmp / 'shapenet'),
                                            {'train': 1, 'val': 1, 'test': 1}, 64)}


@pytest.mark.parametrize('name', FIRSTS, ids=lambda p: osp.basename(p))
def test_real_backbone_step(name, roots):
    init_default_scope('d3l')
    torch.manual_seed(0)
    cfg = Config.fromfile(osp.join(REPO, 'configs', name))
    # the other configs of a family change split files / load_from only
    check_config_types(cfg, name)
    dataset_name = parse_config_name(osp.splitext(osp.basename(name))[0])['dataset']
    train_cfg = cfg.train_dataloader.dataset.copy()
    for key in ('la_file', 'lr_file', 'subset_file'):
        train_cfg.pop(key, None)
    train_cfg.data_root = roots[dataset_name]
    train_set = DATASETS.build(train_cfg)
    model = MODELS.build(cfg.model)
    model.train()
    batch = model.data_preprocessor(point_collate([train_set[0], train_set[1]]), True)
    losses = model(**batch, mode='loss')
    loss = sum(v for k, v in losses.items() if k.startswith('loss'))
    assert torch.isfinite(loss)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0
               for p in model.backbone.parameters())

    val_cfg = cfg.test_dataloader.dataset.copy()
    val_cfg.data_root = roots[dataset_name]
    sample = DATASETS.build(val_cfg)[0]
    model.eval()
    with torch.no_grad():
        out = model.test_step(point_collate([sample]))[0]
    if 'pred_label' in out:
        assert 0 <= out['pred_label'] < model.num_classes
    else:  # every original point / vertex gets a prediction
        assert out['pred'].shape == out['gt'].shape
        assert len(out['pred']) == len(DATASETS.build(val_cfg).get_data_info(0)['points'])
