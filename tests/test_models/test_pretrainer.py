"""SoftCrossEntropyLoss, the pre-training dataset / LoadSoftLabels and the
Pretrainer on generated RGB-D frames with stored labels."""
import copy
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import REPO_ROOT, tool_module
from mmengine.registry import init_default_scope
from pseudo_label_data import make_rgbd_folder

from d3l.models.losses import SoftCrossEntropyLoss
from d3l.registry import DATASETS, MODELS
from d3l.soft_labels import SoftLabelCodec
from d3l.teachers import PrecomputedTeacher

NUM_CLASSES = 5


@pytest.fixture(autouse=True)
def d3l_scope():
    init_default_scope('d3l')


# ----------------------------------------------------------------------------
# loss
# ----------------------------------------------------------------------------
def test_soft_ce_equals_cross_entropy_for_one_hot():
    torch.manual_seed(0)
    logits = torch.randn(50, 7, requires_grad=True)
    labels = torch.randint(0, 7, (50,))
    loss = SoftCrossEntropyLoss()(logits, F.one_hot(labels, 7).float())
    reference = F.cross_entropy(logits, labels)
    torch.testing.assert_close(loss, reference)
    grad, = torch.autograd.grad(loss, logits)
    ref_grad, = torch.autograd.grad(reference, logits)
    torch.testing.assert_close(grad, ref_grad)


def test_soft_ce_hand_computed_and_unlabelled_rows():
    logits = torch.tensor([[0.0, 0.0, 0.0], [np.log(2.0), 0.0, 0.0], [5.0, 1.0, 2.0]])
    target = torch.tensor([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5], [0.0, 0.0, 0.0]])
    # row 0: log softmax = log(1/3) everywhere -> -(0.5 + 0.5) log(1/3) = log 3
    # row 1: softmax = (1/2, 1/4, 1/4) -> -(0.2 log 1/2 + 0.8 log 1/4) = 1.8 log 2
    # row 2 has no label: N = 2
    expected = (np.log(3.0) + 1.8 * np.log(2.0)) / 2
    loss = SoftCrossEntropyLoss(loss_weight=2.0)(logits, target)
    assert abs(loss.item() - 2.0 * expected) < 1e-6
    # nothing labelled: zero with a graph
    logits = torch.randn(3, 3, requires_grad=True)
    empty = SoftCrossEntropyLoss()(logits, torch.zeros(3, 3))
    assert empty.item() == 0 and empty.requires_grad


def test_soft_ce_encoded_targets_match_dense():
    torch.manual_seed(1)
    probs = torch.distributions.Dirichlet(torch.full((12,), 0.3)).sample((40,))
    probs[5] = 0  # one unlabelled point
    encoded = SoftLabelCodec(3).encode(probs)
    logits = torch.randn(40, 12)
    loss = SoftCrossEntropyLoss()
    torch.testing.assert_close(loss(logits, encoded),
                               loss(logits, SoftLabelCodec.decode(encoded, 12)))
    with pytest.raises(ValueError, match='differ'):
        loss(torch.randn(40, 11), probs)


# ----------------------------------------------------------------------------
# data: frames + labels stored by the generation tool (ground-truth teacher)
# ----------------------------------------------------------------------------
def run_generation(config, out):
    tool_module('generate_pseudo_labels').main([config, '--out', out])


@pytest.fixture(scope='module')
def labelled_frames(tmp_path_factory):
    root = tmp_path_factory.mktemp('pretrain')
    data = str(root / 'data')
    make_rgbd_folder(data, num_frames=6, with_labels=True, num_label_classes=NUM_CLASSES,
                     height=30, width=40)
    config = root / 'gen.py'
    config.write_text(
        "default_scope = 'd3l'\n"
        f"teacher = dict(type='PrecomputedTeacher', num_classes={NUM_CLASSES}, "
        "label_smoothing=0.2)\n"
        f"pseudo_label_cfg = dict(source=dict(type='RGBDFolderDataset', data_root={data!r}, "
        "pipeline=[dict(type='LoadRGBD')]), codec=dict(topk=2, prob_dtype='uint8'), stride=2, "
        "shard_size=4)\n")
    run_generation(str(config), str(root / 'labels'))
    return data, str(root / 'labels')


def dataset_cfg(data, labels, decode=True, frames=None, with_hard_labels=False):
    source = dict(type='RGBDFolderDataset', data_root=data, pipeline=[dict(type='LoadRGBD')])
    if frames is not None:
        source['indices'] = frames
    return dict(type='PretrainRGBDDataset', source=source, label_dir=labels, pipeline=[
        dict(type='LiftPerspective', with_normals=True),
        dict(type='GridSample', grid_size=0.05, mode='train', seed=0),
        dict(type='LoadSoftLabels', decode=decode, with_hard_labels=with_hard_labels),
        dict(type='PackPointInputs', feat_keys=('colors', 'normals'))])


def test_points_get_the_labels_of_their_pixels(labelled_frames):
    data, labels = labelled_frames
    dataset = DATASETS.build(dataset_cfg(data, labels))
    assert len(dataset) == 6 and dataset.metainfo['classes'] == tuple(
        f'class_{i}' for i in range(NUM_CLASSES))
    # reference: recompute on the raw frame what the stored labels must be
    from d3l.datasets.rgbd import RGBDFolderDataset
    from d3l.datasets.transforms import GridSample, LiftPerspective
    source = RGBDFolderDataset(data_root=data, pipeline=[dict(type='LoadRGBD')])
    teacher = PrecomputedTeacher(num_classes=NUM_CLASSES, label_smoothing=0.2)
    sample = dataset[2]
    frame = source.prepare_data(2)
    lifted = GridSample(0.05, mode='train', seed=0)(LiftPerspective()(copy.deepcopy(frame)))
    assert np.allclose(sample['inputs']['coord'].numpy(), lifted['points'])
    grid = teacher.label_frame(frame, stride=2).numpy()  # (C, 15, 20)
    rows, cols = np.divmod(lifted['pixel_index'], 40)
    expected = grid[:, rows // 2, cols // 2].T
    soft = sample['data_samples']['soft_labels'].numpy()
    assert soft.shape == (len(rows), NUM_CLASSES)
    assert np.abs(soft - expected).max() < 1 / 255 + 1e-6  # uint8 storage
    labelled = expected.sum(1) > 0
    assert labelled.any() and not labelled.all()  # the ignored bottom rows lifted too
    assert np.array_equal(soft.argmax(1)[labelled], expected.argmax(1)[labelled])
    assert np.all(soft[~labelled] == 0)

    # encoded path: the same labels once decoded
    encoded_ds = DATASETS.build(dataset_cfg(data, labels, decode=False, with_hard_labels=True))
    enc = encoded_ds[2]['data_samples']
    assert set(enc['soft_labels']) == {'indices', 'probs'}
    assert enc['soft_labels']['indices'].shape == (len(rows), 2)
    decoded = SoftLabelCodec.decode(enc['soft_labels'], NUM_CLASSES).numpy()
    np.testing.assert_allclose(decoded, soft, atol=1e-6)
    hard = enc['labels'].numpy()
    assert np.array_equal(hard[labelled], expected.argmax(1)[labelled])
    assert np.all(hard[~labelled] == 255)


def test_frames_without_labels_are_counted(labelled_frames, tmp_path):
    data, labels = labelled_frames
    extra = str(tmp_path / 'more')
    make_rgbd_folder(extra, num_frames=2, scene='other')
    cfg = dataset_cfg(data, labels)
    cfg['source']['data_root'] = extra
    with pytest.raises(ValueError, match='no frame of the source has labels'):
        DATASETS.build(cfg)
    cfg = dataset_cfg(data, labels)
    cfg['missing'] = 'error'
    cfg['label_dir'] = str(tmp_path / 'nowhere')
    with pytest.raises(Exception, match='manifest.json is missing'):
        DATASETS.build(cfg)


# ----------------------------------------------------------------------------
# model
# ----------------------------------------------------------------------------
def pretrainer_cfg(num_classes=NUM_CLASSES):
    return dict(type='Pretrainer',
                backbone=dict(type='PointMLP', in_channels=6, channels=(32, 32)),
                decode_head=dict(type='SegHead', num_classes=num_classes))


@pytest.mark.parametrize('decode', [True, False])
def test_pretraining_iterations_lower_the_loss(labelled_frames, decode):
    from mmengine.optim import OptimWrapper
    from torch.utils.data import DataLoader

    from d3l.datasets import point_collate

    data, labels = labelled_frames
    torch.manual_seed(0)
    dataset = DATASETS.build(dataset_cfg(data, labels, decode=decode))
    loader = DataLoader(dataset, batch_size=3, shuffle=False, collate_fn=point_collate)
    model = MODELS.build(pretrainer_cfg())
    wrapper = OptimWrapper(torch.optim.Adam(model.parameters(), lr=1e-2))
    batches = list(loader)
    first = None
    for step in range(60):
        losses = model.train_step(batches[step % len(batches)], wrapper)
        if step < 2:
            first = losses['loss_soft'].item() if first is None else first
    model.eval()
    with torch.no_grad():
        final = np.mean([model(**model.data_preprocessor(b), mode='loss')['loss_soft'].item()
                         for b in batches])
    # soft CE = H(t) + KL(t || y) >= H(t): the targets' entropy is a floor
    targets = torch.cat([b['data_samples'][i]['soft_labels'] if decode else SoftLabelCodec.decode(
        b['data_samples'][i]['soft_labels'], NUM_CLASSES)
        for b in batches for i in range(len(b['data_samples']))])
    targets = targets[targets.sum(1) > 0]
    floor = -(targets * targets.clamp_min(1e-12).log()).sum(1).mean().item()
    assert floor < final < first - 0.25, (floor, first, final)
    # predict: argmax over the teacher classes, one per point
    with torch.no_grad():
        preds = model.test_step(batches[0])
    assert preds[0]['pred'].max() < NUM_CLASSES
    assert preds[0]['pred'].shape[0] == batches[0]['data_samples'][0]['metainfo']['num_points']


def test_pretrainer_rejects_wrong_class_count(labelled_frames):
    data, labels = labelled_frames
    dataset = DATASETS.build(dataset_cfg(data, labels))
    from d3l.datasets import point_collate
    batch = point_collate([dataset[0]])
    model = MODELS.build(pretrainer_cfg(num_classes=7))
    with pytest.raises(ValueError, match='teacher'):
        model(**model.data_preprocessor(batch), mode='loss')


def test_export_backbone_drops_the_head_and_loads_for_fine_tuning(tmp_path):
    from mmengine.runner import load_checkpoint
    from mmengine.runner.checkpoint import save_checkpoint

    tool = tool_module('export_backbone')

    torch.manual_seed(3)
    pretrainer = MODELS.build(pretrainer_cfg(num_classes=150))
    source = str(tmp_path / 'pretrain.pth')
    save_checkpoint({'state_dict': pretrainer.state_dict(), 'meta': {'epoch': 2},
                     'optimizer': {'state': {}}}, source)
    out = str(tmp_path / 'backbone.pth')
    result = tool.export_backbone(source, out)
    assert result['dropped'] == ['decode_head.classifier.bias', 'decode_head.classifier.weight']
    saved = torch.load(out, weights_only=True)
    assert set(saved) == {'state_dict', 'meta'}
    assert all(k.startswith('backbone.') for k in saved['state_dict'])

    # a fine-tuning Segmentor (20 classes) loads it: backbone copied, head untouched
    torch.manual_seed(4)
    fine = MODELS.build(dict(pretrainer_cfg(num_classes=20), type='Segmentor'))
    head_before = fine.decode_head.classifier.weight.clone()
    load_checkpoint(fine, out, strict=False)
    for key, value in pretrainer.backbone.state_dict().items():
        assert torch.equal(fine.backbone.state_dict()[key], value), key
    assert torch.equal(fine.decode_head.classifier.weight, head_before)

    from d3l.engine.cli import CLIError
    with pytest.raises(CLIError, match='no decode_head weights'):
        tool.export_backbone(out, str(tmp_path / 'again.pth'))


@pytest.mark.parametrize('config', ['dpt_sunrgbd_ocnn', 'dpt_matterport_spconv'])
def test_pretrain_config_runs_on_generated_frames(labelled_frames, tmp_path, config):
    """The shipped configs, pointed at generated frames and a tiny backbone:
    one epoch of training + validation through MMEngine's Runner."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    data, labels = labelled_frames
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', f'{config}.py'))
    assert cfg.model.type == 'Pretrainer' and cfg.model.decode_head.num_classes == 150
    assert cfg.model.backbone.in_channels == 6
    cfg.model.decode_head.num_classes = NUM_CLASSES
    tiny = dict(stem_channels=8, enc_channels=[8, 16], enc_blocks=[1, 1],
                dec_channels=[16, 8], dec_blocks=[1, 1])
    cfg.model.backbone.update(tiny)
    if cfg.model.backbone.type == 'OCNNUNet':
        cfg.model.backbone.update(depth=6, scale=3.2)
    else:
        cfg.model.backbone.update(voxel_size=0.05)
    source = dict(type='RGBDFolderDataset', data_root=data, pipeline=[dict(type='LoadRGBD')])
    for loader in ('train_dataloader', 'val_dataloader'):
        dataset = cfg[loader].dataset
        dataset.source = source
        dataset.label_dir = labels
        # the generated frames are perspective: lift them as such
        dataset.pipeline = [dict(type='LiftPerspective', with_normals=True)
                            if t['type'].startswith('Lift') else t
                            for t in dataset.pipeline if t['type'] != 'FilterDepthEdges']
        assert [t['type'] for t in dataset.pipeline][-2:] == ['LoadSoftLabels',
                                                             'PackPointInputs']
        cfg[loader].update(batch_size=3, num_workers=0, persistent_workers=False)
    cfg.test_dataloader = cfg.val_dataloader
    cfg.train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=1, val_interval=1)
    cfg.param_scheduler = []
    cfg.default_hooks.checkpoint = dict(type='CheckpointHook', interval=1)
    cfg.env_cfg.dist_cfg = dict(backend='gloo')
    cfg.work_dir = str(tmp_path / 'work')
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    assert 'mIoU' in metrics and 0 <= metrics['aAcc'] <= 100
    assert osp.isfile(osp.join(cfg.work_dir, 'epoch_1.pth'))


PRETRAIN_CONFIGS = sorted(osp.splitext(osp.basename(p))[0] for p in __import__('glob').glob(
    osp.join(REPO_ROOT, 'configs', 'pretrain', '*.py')))


@pytest.mark.parametrize('config', PRETRAIN_CONFIGS)
def test_pretrain_configs_carry_the_authors_schedule_and_augmentation(config):
    """configs/seg_mp3d.yaml and datasets/matterport3d.py of the authors' code:
    200-epoch poly at batch 6 (SGD lr 0.05, weight decay 1e-4 for O-CNN), the
    epoch-80 checkpoint kept for fine-tuning, elastic distortion of
    ((0.2, 0.4), (0.8, 1.6)) on coordinates / 5.12 with two smoothing passes;
    the whole panorama to the teacher unless the config is the crops variant."""
    from mmengine.config import Config

    from d3l.engine.cli import check_config_types
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'pretrain', f'{config}.py'))
    check_config_types(cfg, config)
    elastic = [t for t in cfg.train_dataloader.dataset.pipeline
               if t['type'] == 'ElasticDistortion']
    assert len(elastic) == 1 and elastic[0]['smoothing_passes'] == 2
    authors = np.array([[0.2, 0.4], [0.8, 1.6]]) * 5.12
    np.testing.assert_allclose(np.array(elastic[0]['params']), authors)
    assert not any(t['type'] == 'ElasticDistortion' for t in cfg.val_dataloader.dataset.pipeline)
    init_default_scope('d3l')
    cfg.model.backbone.update(stem_channels=8, enc_channels=[8, 16], enc_blocks=[1, 1],
                              dec_channels=[16, 8], dec_blocks=[1, 1])
    model = MODELS.build(cfg.model)  # the config's Pretrainer, at tiny widths
    assert type(model).__name__ == 'Pretrainer'
    assert model.decode_head.num_classes == cfg.model.decode_head.num_classes
    if 'matterport' not in config:
        return
    assert cfg.train_cfg.max_epochs == 200 and cfg.train_dataloader.batch_size == 6
    assert cfg.param_scheduler[0].type == 'PolyLR' and cfg.param_scheduler[0].end is None
    if '_ocnn' in config:
        optimizer = cfg.optim_wrapper.optimizer
        assert (optimizer.type, optimizer.lr, optimizer.momentum, optimizer.weight_decay) == (
            'SGD', 0.05, 0.9, 1e-4)
    checkpoint = cfg.default_hooks.checkpoint
    assert cfg.finetune_from_epoch == 80 and 80 % checkpoint.interval == 0
    assert checkpoint.max_keep_ckpts == -1  # epoch_80.pth survives the run
    panorama = cfg.teacher.panorama
    mode = panorama if isinstance(panorama, str) else panorama['mode']
    assert mode == ('crops' if config.startswith('dpt-crops') else 'whole')
    if config.startswith('dpt-hybrid'):
        assert cfg.teacher.type == 'HFTeacher'
    labels = {cfg.pseudo_label_cfg.out_dir, cfg.train_dataloader.dataset.label_dir,
              cfg.val_dataloader.dataset.label_dir, cfg.test_dataloader.dataset.label_dir}
    assert len(labels) == 1  # each teacher setting writes and reads its own labels


def test_seven_channel_ocnn_input_is_normal_displacement_colour():
    """configs/_base_/models/ocnn_unet_7ch.py: the authors' 7 input channels."""
    from mmengine.config import Config

    from d3l.structures import PointBatch
    init_default_scope('d3l')
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', '_base_', 'models', 'ocnn_unet_7ch.py'))
    cfg.model.backbone.update(stem_channels=8, enc_channels=[8, 16], enc_blocks=[1, 1],
                              dec_channels=[16, 8], dec_blocks=[1, 1], depth=6, scale=1.0)
    model = MODELS.build(cfg.model)
    backbone = model.backbone
    assert backbone.in_channels == 6 and backbone.input_channels == 7
    # two points sharing one leaf: colour and normal average, displacement along it
    coord = torch.tensor([[0.0, 0.0, 0.0], [0.001, 0.0, 0.0], [0.5, 0.5, 0.5]])
    normal = torch.tensor([[0.0, 0.0, 1.0], [0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    colour = torch.tensor([[0.2, 0.4, 0.6], [0.4, 0.6, 0.8], [1.0, 1.0, 1.0]])
    batch = PointBatch(coord, torch.cat([colour, normal], 1), torch.zeros(3, dtype=torch.long), 1)
    tree = backbone.build_octree(batch)
    features = backbone.input_features(batch, tree)
    assert features.shape == (2, 7)
    rows = {tuple(np.round(f[:3].tolist(), 4)) for f in features}
    assert (0.3, 0.5, 0.7) in rows and (1.0, 1.0, 1.0) in rows
    first = features[[tuple(np.round(f[:3].tolist(), 4)) == (0.3, 0.5, 0.7)
                      for f in features].index(True)]
    torch.testing.assert_close(first[3:6], torch.tensor([0.0, 0.0, 1.0]))
    assert abs(float(first[6])) <= 0.5  # a displacement within the leaf
    assert model(batch, mode='tensor').shape == (3, 20)
