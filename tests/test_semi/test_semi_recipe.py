"""The paper's combined semi-supervised recipe (configs/_base_/semi/combined.py):
every semi_* config carries the authors' numbers, builds its model and dataset
on generated data in the real layouts, and the recipe trains with all its
losses logged, each following its own weight."""
import glob
import os.path as osp
import textwrap

import numpy as np
import pytest
import torch
from conftest import tool_module
from downstream_data import make_modelnet_root, make_scannet_root
from mmengine.registry import DefaultScope

from d3l.datasets import point_collate
from d3l.datasets.semi import load_pseudo_labels, pseudo_label_path, save_pseudo_labels
from d3l.engine.cli import adapt_to_device, check_config_types, fill_scheduler_ends, load_config
from d3l.registry import DATASETS, MODELS

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SEMI = sorted(glob.glob(osp.join(REPO, 'configs', '*', 'semi_*.py')))
TRAIN, UNLABELED = ['scene0000_00', 'scene0001_00', 'scene0002_00'], ['scene0000_00',
                                                                        'scene0002_00']
TINY = dict(stem_channels=8, enc_channels=[8, 16, 16], enc_blocks=[1, 1, 1],
            dec_channels=[16, 16, 8], dec_blocks=[1, 1, 1])
_BUILT = {}  # model config text -> built model: the semi configs of a task share one model


@pytest.fixture(autouse=True)
def d3l_scope():
    with DefaultScope.overwrite_default_scope('d3l'):
        yield


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('semi_recipe')
    scannet = make_scannet_root(str(tmp / 'scannet'), {'train': TRAIN, 'val': ['scene0100_00']},
                                num_points=300)
    la_file = str(tmp / 'points20')
    torch.save({s: torch.arange(0, 300, 15) for s in TRAIN}, la_file)  # 20 points a scene
    lr_file = tmp / 'lr.txt'
    lr_file.write_text('scene0001_00\n')
    pseudo = str(tmp / 'pseudo')
    for i, scene in enumerate(UNLABELED):
        labels = np.full(300, 255)
        labels[i::4] = np.arange(len(labels[i::4])) % 4
        save_pseudo_labels(pseudo_label_path(pseudo, scene), labels)
    modelnet = make_modelnet_root(str(tmp / 'modelnet'), {'train': 3, 'test': 1})
    subset = tmp / 'subset.txt'
    subset.write_text('bathtub_0001\nbowl_0004\ncone_0007\nnight_stand_0010\n')
    return dict(scannet=scannet, la_file=la_file, lr_file=str(lr_file), pseudo=pseudo,
                modelnet=modelnet, subset=str(subset), tmp=tmp)


def _point_to(cfg, data):
    """Send the training set of a semi config to the generated data."""
    dataset = cfg.train_dataloader.dataset
    if dataset.type != 'SemiDataset':  # LA: the task's dataset itself
        dataset.update(data_root=data['scannet'], la_file=data['la_file'])
    elif 'pseudo_labeled' in dataset:  # LR
        dataset.labeled.update(data_root=data['scannet'], lr_file=data['lr_file'])
        dataset.pseudo_labeled.label_root = data['pseudo']
    else:  # ModelNet40
        dataset.labeled.update(data_root=data['modelnet'], subset_file=data['subset'])
    return dataset


def test_every_setting_has_the_combined_recipe():
    names = {osp.splitext(osp.basename(p))[0] for p in SEMI}
    for init in ('scratch', 'dpt-ade20k'):
        for backbone in ('ocnn', 'spconv'):
            for n in (20, 50, 100, 200):
                assert f'semi_{init}_scannet_{backbone}_la{n}' in names
            for p in (1, 5, 10, 20):
                assert f'semi_{init}_scannet_{backbone}_lr{p}' in names
            for p in (1, 5, 20):
                assert f'semi_{init}_modelnet40_{backbone}_{p}pct' in names
    assert len(names) == 2 * 2 * (4 + 4 + 3)


@pytest.mark.parametrize('path', SEMI, ids=lambda p: osp.basename(p))
def test_semi_config_is_the_authors_recipe_and_builds(path, data):
    cfg = load_config(path)
    check_config_types(cfg, path)
    name = osp.splitext(osp.basename(path))[0]
    algorithm = 'classifier' if 'modelnet40' in name else 'segmentor'
    base = load_config(osp.join(osp.dirname(path), algorithm + name[len('semi'):] + '.py'))
    model = cfg.model
    assert model.type == 'MeanTeacherEntMin' and model.model == base.model
    assert (model.consistency_on, model.entropy_on, model.teacher_input, model.teacher_bn) == (
        'unlabeled', 'unlabeled', 'same', 'train')
    assert model.consistency_loss == dict(type='ConsistencyLoss', loss_weight=10.0)
    lr = '_lr' in name
    assert model.entropy_loss == dict(type='EntropyLoss', loss_weight=0.25 if lr else 0.5)
    hooks = {h['type']: h for h in cfg.custom_hooks}
    assert hooks['MeanTeacherHook']['alpha'] == 0.999 and hooks['MeanTeacherHook']['warmup']
    assert hooks['MeanTeacherHook']['buffers'] == 'none'  # the teacher keeps its own BN stats
    ramp = hooks['RampUpHook']
    assert (ramp['end'], ramp['length'], ramp['shape'], ramp['by_epoch']) == (
        10.0, 30, 'sigmoid', True)
    for key in ('optim_wrapper', 'train_cfg', 'param_scheduler', 'val_dataloader'):
        assert cfg[key] == base[key], key
    assert cfg.get('load_from') == base.get('load_from')
    assert (cfg.get('load_from') is None) == ('_scratch_' in name)

    dataset = cfg.train_dataloader.dataset
    if '_la' in name:
        assert dataset == base.train_dataloader.dataset  # the unannotated points
    elif lr:
        assert dataset.type == 'SemiDataset' and dataset.num_views == 1
        assert dataset.labeled == base.train_dataloader.dataset
        assert dataset.pseudo_labeled.label_root == f'work_dirs/pseudo_labels/{name}'
        assert cfg.pseudo_label.ratio == 0.2
    else:
        assert dataset.labeled == base.train_dataloader.dataset
        assert dataset.unlabeled == dict(subset='unlabeled')
        assert cfg.train_dataloader.sampler.type == 'SemiSampler'

    # full-size networks are slow to build: once per task model (scratch and
    # pre-trained configs, and LA and LR, share it)
    key = repr(model.model.to_dict())
    if key not in _BUILT:
        _BUILT[key] = MODELS.build(model)
    assert _BUILT[key].teacher is not None and _BUILT[key].loss_entropy is not None

    built = DATASETS.build(_point_to(cfg, data))
    if '_la' in name:  # every training scene, 20 annotated points each
        assert len(built) == len(TRAIN)
        sample = built[0]['data_samples']
        assert 0 < int((sample['labels'] != 255).sum()) <= 20
    elif lr:  # the LR scene, then the other scenes on their pseudo-labels
        assert built.num_labeled == 1 + len(UNLABELED) and built.num_unlabeled == 0
        streams = [built[i]['data_samples']['metainfo']['stream'] for i in range(3)]
        assert streams == ['labeled', 'pseudo', 'pseudo']
    else:  # the subset's shapes, each with one of the other training shapes
        assert built.num_labeled == 4 and built.num_unlabeled == 4 * 3 - 4
        labeled, unlabeled = built[(0, (0,))]
        assert unlabeled['data_samples']['label'] == 255


def _tiny(cfg, backbone):
    cfg.model.model.backbone.update(TINY)
    if backbone == 'ocnn':
        # the configs' 10.24 m cube: their chunk crop keeps a distorted room inside it
        cfg.model.model.backbone.update(depth=7, scale=5.12)
    else:
        cfg.model.model.backbone.voxel_size = 0.1
    cfg.load_from = None
    return cfg


@pytest.mark.parametrize('config', ['scannet_la/semi_scratch_scannet_ocnn_la20.py',
                                    'scannet_lr/semi_scratch_scannet_spconv_lr1.py'])
def test_each_loss_follows_its_weight(config, data):
    backbone = 'ocnn' if '_ocnn_' in config else 'spconv'
    cfg = _tiny(load_config(osp.join(REPO, 'configs', config)), backbone)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    with torch.no_grad():  # a teacher that disagrees with the student
        for p in model.teacher.parameters():
            p.add_(0.2 * torch.randn_like(p))
    dataset = DATASETS.build(_point_to(cfg, data))
    batch = model.data_preprocessor(point_collate([dataset[i] for i in range(2)]), True)
    model.train()

    def losses():
        torch.manual_seed(0)
        return {k: float(v) for k, v in model.loss(batch['inputs'],
                                                   batch['data_samples']).items()}

    base = losses()
    assert {'loss_seg', 'loss_entropy', 'loss_consistency'} <= set(base)
    assert all(base[k] > 0 for k in ('loss_seg', 'loss_entropy', 'loss_consistency'))
    model.loss_entropy.loss_weight *= 3
    tripled = losses()
    assert tripled['loss_entropy'] == pytest.approx(3 * base['loss_entropy'], rel=1e-4)
    assert tripled['loss_consistency'] == pytest.approx(base['loss_consistency'], rel=1e-4)
    model.loss_consistency.loss_weight *= 0.5
    halved = losses()
    assert halved['loss_consistency'] == pytest.approx(0.5 * base['loss_consistency'], rel=1e-4)
    assert halved['loss_seg'] == pytest.approx(base['loss_seg'], rel=1e-4)
    model.student.loss_decode.loss_weight = 2.0
    assert losses()['loss_seg'] == pytest.approx(2 * base['loss_seg'], rel=1e-4)


def _tool_main():
    return tool_module('make_confident_pseudo_labels').main


def _train(cfg, work_dir):
    from mmengine.runner import Runner
    cfg.work_dir = str(work_dir)
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'train_cfg.val_interval': 1,
                         'default_hooks.logger.interval': 1})
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].update(num_workers=0, persistent_workers=False)
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    log = open(glob.glob(osp.join(str(work_dir), '*', '*.log'))[0]).read()
    return runner, log


def test_lr_recipe_labels_the_other_scenes_then_trains(data, tmp_path):
    """The three steps of an LR semi config: a supervised checkpoint, the
    pseudo-label tool on the derived scenes, the combined training."""
    name = 'semi_scratch_scannet_ocnn_lr1'
    out_dir = str(tmp_path / 'labels')
    config = tmp_path / f'{name}.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{osp.join(REPO, 'configs', 'scannet_lr', name + '.py')}']
        model = dict(model=dict(backbone=dict(depth=7, scale=5.12, **{TINY!r})))
        load_from = None
        train_dataloader = dict(batch_size=1, dataset=dict(
            labeled=dict(data_root='{data['scannet']}', lr_file='{data['lr_file']}'),
            pseudo_labeled=dict(label_root='{out_dir}')))
        val_dataloader = dict(dataset=dict(data_root='{data['scannet']}'))
        test_dataloader = val_dataloader
    '''))
    cfg = load_config(str(config))
    torch.manual_seed(0)
    supervised = MODELS.build(cfg.model.model)
    checkpoint = tmp_path / 'supervised.pth'
    torch.save({'state_dict': supervised.state_dict(), 'meta': {}}, checkpoint)

    meta = _tool_main()([str(config), str(checkpoint)])
    assert meta['scenes'] == len(UNLABELED) and meta['written'] == len(UNLABELED)
    for scene in UNLABELED:
        labels = load_pseudo_labels(pseudo_label_path(out_dir, scene))
        kept = labels != 255
        assert labels.shape == (300,) and 0 < kept.sum() < 300 * 0.5  # the confident 20 %
    assert not osp.exists(pseudo_label_path(out_dir, 'scene0001_00'))  # the labelled scene

    runner, log = _train(load_config(str(config)), tmp_path / 'work')
    for term in ('loss_seg', 'loss_entropy', 'loss_consistency', 'w_consistency', 'ema_alpha'):
        assert f'{term}: ' in log, term
    assert 'cons_matched' not in log  # the teacher saw the student's own batch
    assert int(runner.model.ema_steps) == 1 + len(UNLABELED)  # one iteration per scene
    streams = {runner.train_dataloader.dataset[i]['data_samples']['metainfo']['stream']
               for i in range(3)}
    assert streams == {'labeled', 'pseudo'}


@pytest.mark.parametrize('config', ['scannet_la/semi_dpt-ade20k_scannet_spconv_la20.py',
                                    'modelnet40/semi_scratch_modelnet40_ocnn_5pct.py'])
def test_combined_recipe_trains_and_logs_every_loss(config, data, tmp_path):
    backbone = 'ocnn' if '_ocnn_' in config else 'spconv'
    cfg = _tiny(load_config(osp.join(REPO, 'configs', config)), backbone)
    _point_to(cfg, data)
    if 'modelnet40' in config:
        cfg.model.model.backbone.depth = 5
        cfg.model.model.cls_head.num_classes = 4
        for key in ('dec_channels', 'dec_blocks'):
            cfg.model.model.backbone.pop(key)
        cfg.train_dataloader.batch_size = 2
        cfg.val_dataloader.batch_size = 2
        cfg.val_dataloader.dataset.data_root = data['modelnet']
        terms, iterations = ('loss_cls', 'loss_entropy', 'loss_consistency'), 2
    else:
        cfg.train_dataloader.batch_size = 1
        cfg.val_dataloader.dataset.data_root = data['scannet']
        terms, iterations = ('loss_seg', 'loss_entropy', 'loss_consistency'), 3
    cfg.test_dataloader = cfg.val_dataloader
    runner, log = _train(cfg, tmp_path / 'work')
    for term in (*terms, 'w_consistency', 'ema_alpha'):
        assert f'{term}: ' in log, term
    assert int(runner.model.ema_steps) == iterations
    assert np.isfinite(runner.message_hub.get_scalar('train/loss').current())
