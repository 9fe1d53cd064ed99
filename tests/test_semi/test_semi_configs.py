"""The semi-supervised task configs: what they inherit and that they train
with both backbones (tiny widths, generated data in the real layouts)."""
import glob
import os.path as osp

import numpy as np
import pytest
import torch
from downstream_data import make_modelnet_root, make_scannet_root
from mmengine.config import Config
from mmengine.hooks import Hook

from d3l.engine.cli import adapt_to_device, check_config_types, fill_scheduler_ends, load_config
from d3l.registry import HOOKS, MODELS

TASKS = ('scannet_la', 'scannet_lr', 'modelnet40', 'shapenet_part')
SEMI = sorted(c for task in TASKS for prefix in ('entmin', 'meanteacher', 'pseudolabel-entmin')
              for c in glob.glob(f'configs/{task}/{prefix}_*.py'))
TINY = dict(stem_channels=8, enc_channels=[8, 16, 16], enc_blocks=[1, 1, 1],
            dec_channels=[16, 16, 8], dec_blocks=[1, 1, 1])


@pytest.mark.parametrize('path', SEMI, ids=[osp.basename(p) for p in SEMI])
def test_semi_config_adds_its_technique_to_the_task_config(path):
    cfg = load_config(path)
    check_config_types(cfg, path)
    name = osp.basename(path)
    technique, rest = name.split('_', 1)
    algorithm = 'classifier' if 'modelnet40' in path else 'segmentor'
    base = load_config(osp.join(osp.dirname(path), f'{algorithm}_{rest}'))
    assert cfg.model.type == 'MeanTeacherEntMin'
    assert cfg.model.model == base.model  # the task's model, untouched
    assert cfg.get('load_from') == base.get('load_from')
    assert cfg.optim_wrapper == base.optim_wrapper and cfg.train_cfg == base.train_cfg
    assert cfg.val_dataloader == base.val_dataloader
    dataset = cfg.train_dataloader.dataset
    if 'entmin' in technique:
        assert cfg.model.entropy_loss == dict(type='EntropyLoss', loss_weight=0.5)
    if technique == 'meanteacher':
        assert cfg.model.consistency_loss == dict(type='ConsistencyLoss', loss_weight=10.0)
        hooks = {h['type']: h for h in cfg.custom_hooks}
        assert hooks['MeanTeacherHook']['alpha'] == 0.999
        assert (hooks['RampUpHook']['end'], hooks['RampUpHook']['length']) == (10.0, 30)
        assert dataset.type == 'SemiDataset' and dataset.num_views == 2
    if technique == 'pseudolabel-entmin':
        assert dataset.labeled[0] == base.train_dataloader.dataset
        pseudo = dataset.labeled[1]
        assert pseudo.type == 'PseudoLabelDataset'
        assert pseudo.label_root == cfg.pseudo_label.out_dir
        assert pseudo.dataset == dict(base.train_dataloader.dataset, subset='unlabeled')
        assert cfg.pseudo_label.dataset.pipeline == base.test_pipeline
        assert cfg.pseudo_label.ratio == 0.2
        return
    if 'scannet_la' in path:
        # LA: the unannotated points of the same scenes are the unlabelled data,
        # so there is no second stream (entropy: the task's dataset as it is)
        if technique == 'entmin':
            assert dataset == base.train_dataloader.dataset
        else:
            assert dataset.labeled == base.train_dataloader.dataset and 'unlabeled' not in dataset
    else:
        assert dataset.type == 'SemiDataset'
        assert dataset.labeled == base.train_dataloader.dataset
        assert dataset.unlabeled == dict(base.train_dataloader.dataset, subset='unlabeled')
        assert cfg.train_dataloader.sampler.type == 'SemiSampler'


def test_every_task_config_has_semi_variants():
    for task in TASKS:
        names = [osp.basename(p) for p in SEMI if f'/{task}/' in p]
        for init in ('scratch', 'dpt-ade20k'):
            for backbone in ('ocnn', 'spconv'):
                for technique in ('entmin', 'meanteacher'):
                    assert any(n.startswith(f'{technique}_{init}_') and f'_{backbone}_' in n
                               for n in names), (task, init, backbone, technique)


@HOOKS.register_module(force=True)
class RecordStartHook(Hook):
    priority = 'LOWEST'

    def before_train(self, runner):
        self.student = {k: v.clone() for k, v in runner.model.student.state_dict().items()}
        self.teacher = {k: v.clone() for k, v in runner.model.teacher.state_dict().items()}


def _run(cfg, work_dir):
    from mmengine.runner import Runner
    cfg.work_dir = str(work_dir)
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                         'default_hooks.logger.interval': 1})
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
    cfg.custom_hooks = cfg.custom_hooks + [dict(type='RecordStartHook')]
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


@pytest.mark.parametrize('backbone', ['ocnn', 'spconv'])
def test_mean_teacher_scannet_lr_trains_from_a_pretraining_checkpoint(tmp_path, backbone):
    root = make_scannet_root(str(tmp_path / 'scannet'), {
        'train': ['scene0000_00', 'scene0001_00', 'scene0002_00'], 'val': ['scene0100_00']},
        num_points=300)
    lr_file = tmp_path / 'lr.txt'
    lr_file.write_text('scene0001_00\n')
    cfg = load_config(f'configs/scannet_lr/meanteacher_dpt-ade20k_scannet_{backbone}_lr1.py')
    # the 10.24 m cube of the configs: their chunk crop keeps a distorted room inside it
    tiny = dict(TINY, **({'scale': 5.12} if backbone == 'ocnn' else {'voxel_size': 0.1}))
    cfg.model.model.backbone.update(tiny)
    if backbone == 'ocnn':
        cfg.model.model.backbone.depth = 7
    # a pre-training checkpoint: same backbone, a 150-class head
    pretrain = Config(dict(model=dict(cfg.model.model.to_dict(),
                                      decode_head=dict(type='SegHead', num_classes=150))))
    torch.manual_seed(1)
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope('d3l'):
        pretrained = MODELS.build(pretrain.model).state_dict()
    checkpoint = tmp_path / 'pretrain.pth'
    torch.save({'state_dict': pretrained, 'meta': {}}, checkpoint)
    cfg.load_from = str(checkpoint)
    for stream in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[stream].update(data_root=root, lr_file=str(lr_file))
    cfg.train_dataloader.batch_size = 1
    cfg.val_dataloader.dataset.data_root = root
    cfg.test_dataloader = cfg.val_dataloader

    runner = _run(cfg, tmp_path / 'work')
    recorder = next(h for h in runner.hooks if isinstance(h, RecordStartHook))
    for key, value in pretrained.items():
        if key.startswith('backbone.'):  # loaded into both networks
            assert torch.equal(recorder.student[key], value), key
            assert torch.equal(recorder.teacher[key], value), key
    head = recorder.student['decode_head.classifier.weight']
    assert head.shape == (20, 8) and torch.equal(recorder.teacher['decode_head.classifier.weight'],
                                                 head)
    assert int(runner.model.ema_steps) == 1
    log = open(glob.glob(str(tmp_path / 'work' / '*' / '*.log'))[0]).read()
    assert 'loss_consistency: ' in log and 'cons_matched: ' in log and 'mIoU: ' in log


def test_mean_teacher_modelnet_trains_a_classifier(tmp_path):
    root = make_modelnet_root(str(tmp_path / 'modelnet'), {'train': 3, 'test': 1})
    subset = tmp_path / 'subset.txt'
    subset.write_text('bathtub_0001\nbowl_0004\ncone_0007\nnight_stand_0010\n')
    cfg = load_config('configs/modelnet40/meanteacher_scratch_modelnet40_ocnn_1pct.py')
    cfg.model.model.backbone.update(stem_channels=8, enc_channels=[8, 16, 16],
                                    enc_blocks=[1, 1, 1], depth=5)
    cfg.model.model.cls_head.num_classes = 4
    for stream in ('labeled', 'unlabeled'):
        cfg.train_dataloader.dataset[stream].update(data_root=root, subset_file=str(subset))
    cfg.train_dataloader.batch_size = 2
    cfg.val_dataloader.dataset.data_root = root
    cfg.val_dataloader.batch_size = 2
    cfg.test_dataloader = cfg.val_dataloader
    runner = _run(cfg, tmp_path / 'work')
    log = open(glob.glob(str(tmp_path / 'work' / '*' / '*.log'))[0]).read()
    assert 'loss_cls: ' in log and 'loss_consistency: ' in log and 'cons_matched' not in log
    assert int(runner.model.ema_steps) == 2
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').current())
