"""The stage functions of d3l.apis, called directly on tiny fixtures:
soft-label generation and verification, scoring against ground truth,
backbone export, training and testing through the Runner."""
import copy
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image
from pseudo_label_data import make_rgbd_folder

from d3l.apis import (
    export_backbone,
    generate_soft_labels,
    score_soft_labels,
    train,
    verify_soft_labels,
)
from d3l.apis import test as run_test
from d3l.engine.cli import CLIError
from d3l.registry import MODELS

NUM_CLASSES = 5
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DEBUG_CONFIG = osp.join(REPO_ROOT, 'configs/debug/segmentor_scratch_shapes_pointmlp.py')
SMALL = {'train_cfg.max_epochs': 1, 'train_dataloader.dataset.num_samples': 8,
         'val_dataloader.dataset.num_samples': 4, 'default_hooks.logger.interval': 1}


def label_config(data_root):
    """A generation config as a plain dict: the frames' own 2D labels as
    the teacher (PrecomputedTeacher), so the stored top-1 is known."""
    return dict(
        default_scope='d3l',
        teacher=dict(type='PrecomputedTeacher', num_classes=NUM_CLASSES),
        pseudo_label_cfg=dict(
            source=dict(type='RGBDFolderDataset', data_root=data_root,
                        pipeline=[dict(type='LoadRGBD')]),
            codec=dict(topk=2), stride=1, shard_size=2))


@pytest.fixture(scope='module')
def frames(tmp_path_factory):
    """Two RGB-D folders with the same frame ids and different labels
    (seeds 0 and 1), and the soft labels generated from the first."""
    root = tmp_path_factory.mktemp('stages')
    first, second = str(root / 'a'), str(root / 'b')
    for folder, seed in ((first, 0), (second, 1)):
        make_rgbd_folder(folder, num_frames=3, height=30, width=40, seed=seed,
                         with_labels=True, num_label_classes=NUM_CLASSES)
    config = label_config(str(root / 'not-there'))
    original = copy.deepcopy(config)
    out = str(root / 'labels')
    manifest = generate_soft_labels(
        config, out_dir=out, cfg_options={'pseudo_label_cfg.source.data_root': first})
    assert config == original  # the caller's dict is not changed
    return dict(root=root, first=first, second=second, out=out, manifest=manifest,
                config=config)


def label_pngs(folder):
    return [np.asarray(Image.open(osp.join(folder, 'scene0', 'label', f'{i:04d}.png')))
            for i in range(3)]


def test_generate_soft_labels_stores_the_teachers_labels(frames):
    from d3l.soft_labels import SoftLabelStore

    manifest = frames['manifest']
    with open(osp.join(frames['out'], 'manifest.json'), encoding='utf-8') as f:
        on_disk = json.load(f)
    assert manifest['counts'] == on_disk['counts'] == {'frames': 3, 'labelled': 3, 'failed': 0}
    assert manifest['complete'] and manifest['num_shards'] == 2
    store = SoftLabelStore(frames['out'])
    for index, labels in enumerate(label_pngs(frames['first'])):
        grid = store.get(f'scene0/{index:04d}').decode_grid()
        labelled = labels != 255
        assert np.array_equal(grid.argmax(-1)[labelled], labels[labelled])
        assert (grid[~labelled] == 0).all()  # "no label" is stored as no label


def test_generate_soft_labels_resume_and_errors(frames):
    config, out = frames['config'], frames['out']
    options = {'pseudo_label_cfg.source.data_root': frames['first']}
    with pytest.raises(CLIError, match='--resume'):
        generate_soft_labels(config, out_dir=out, cfg_options=options)
    again = generate_soft_labels(config, out_dir=out, resume=True, cfg_options=options)
    assert again['shards'] == frames['manifest']['shards']  # kept, byte for byte
    with pytest.raises(CLIError, match='did you mean pseudo_label_cfg.stride'):
        generate_soft_labels(config, out_dir=out, cfg_options={'pseudo_label_cfg.strid': 2})
    with pytest.raises(CLIError, match='has no "teacher"'):
        generate_soft_labels(dict(pseudo_label_cfg=config['pseudo_label_cfg']), out_dir=out)


def test_verify_soft_labels_reports_every_shard(frames, capsys):
    report = verify_soft_labels(frames['out'])
    assert len(report['good']) == 2 and not report['bad'] and not report['missing']
    assert 'OK' in capsys.readouterr().out


def reference_scores(pred_labels, truth_labels):
    """Pixel accuracy and mIoU (percent) counted with numpy: unlabelled
    teacher pixels predict class 0 (an all-zero row), 255 truth is left out."""
    pred = np.concatenate([np.where(p == 255, 0, p).ravel() for p in pred_labels])
    truth = np.concatenate([t.ravel() for t in truth_labels])
    keep = truth != 255
    pred, truth = pred[keep], truth[keep]
    ious = []
    for c in range(NUM_CLASSES):
        union = np.sum((pred == c) | (truth == c))
        if union:
            ious.append(np.sum((pred == c) & (truth == c)) / union)
    return 100.0 * np.mean(pred == truth), 100.0 * np.mean(ious)


def test_score_soft_labels_against_ground_truth(frames):
    own = score_soft_labels(frames['out'], frames['first'])
    assert own['pixel_acc'] == pytest.approx(100.0) and own['miou'] == pytest.approx(100.0)
    other = score_soft_labels(frames['out'], frames['second'])
    acc, miou = reference_scores(label_pngs(frames['first']), label_pngs(frames['second']))
    assert acc < 90  # the two folders' labels differ: a real test of the counting
    assert other['pixel_acc'] == pytest.approx(acc) and other['miou'] == pytest.approx(miou)
    assert other['perspective']['pixel_acc'] == pytest.approx(acc)
    from d3l.soft_labels import SoftLabelStore
    assert list(other['iou']) == list(SoftLabelStore(frames['out']).class_names)
    present = [v for v in other['iou'].values() if v is not None]
    assert np.mean(present) == pytest.approx(miou, abs=0.01)  # rounded to 0.01 each
    # a dataset config, or the built dataset, give the same as a folder
    from d3l.datasets.rgbd import RGBDFolderDataset
    source = dict(type='RGBDFolderDataset', data_root=frames['second'])
    assert score_soft_labels(frames['out'], source) == other
    built = RGBDFolderDataset(frames['second'], pipeline=[dict(type='LoadRGBD')])
    assert score_soft_labels(SoftLabelStore(frames['out']), built) == other
    # no frame with ground truth: nothing to score
    make_rgbd_folder(str(frames['root'] / 'c'), num_frames=3, height=30, width=40)
    assert score_soft_labels(frames['out'], str(frames['root'] / 'c')) == {}


def test_export_backbone_keeps_exactly_the_backbone(tmp_path):
    from mmengine.runner.checkpoint import save_checkpoint

    torch.manual_seed(0)
    model = MODELS.build(dict(type='Pretrainer',
                              backbone=dict(type='PointMLP', in_channels=6, channels=(8, 8)),
                              decode_head=dict(type='SegHead', num_classes=150)))
    source = str(tmp_path / 'pretrain.pth')
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {'iter': 7},
                     'optimizer': {'state': {}}}, source)
    out = str(tmp_path / 'sub' / 'backbone.pth')
    result = export_backbone(source, out)
    expected = {k: v for k, v in model.state_dict().items() if not k.startswith('decode_head.')}
    assert result['kept'] == sorted(expected)
    assert result['dropped'] == sorted(set(model.state_dict()) - set(expected))
    saved = torch.load(out, weights_only=True)
    assert saved['meta']['iter'] == 7 and saved['meta']['dropped_heads'] == ['decode_head']
    for key, value in expected.items():
        assert torch.equal(saved['state_dict'][key], value), key
    with pytest.raises(CLIError, match='refusing to overwrite'):
        export_backbone(source, source)


def test_train_then_test_match_a_hand_evaluation(tmp_path):
    from d3l.apis import init_model
    from d3l.datasets import point_collate
    from d3l.registry import DATASETS

    cfg = Config.fromfile(DEBUG_CONFIG)
    cfg.experiment_name = 'stages_train'  # another test's Runner of this config: own logger
    result = train(cfg, work_dir=str(tmp_path / 'work'), cfg_options=SMALL)
    assert 'work_dir' not in cfg  # the caller's Config is not changed
    assert result['checkpoint'] == osp.join(str(tmp_path / 'work'), 'epoch_1.pth')
    assert osp.isfile(result['checkpoint']) and 'loss' in result['scalars']

    out = tmp_path / 'eval'
    options = {'test_dataloader.dataset.num_samples': 4, '+experiment_name': 'stages_test'}
    metrics = run_test(DEBUG_CONFIG, result['checkpoint'], out=str(out),
                       work_dir=str(tmp_path / 'test'), cfg_options=options)
    assert json.loads((out / 'metrics.json').read_text())['mIoU'] == pytest.approx(
        metrics['mIoU'])
    assert json.loads((out / 'run.json').read_text())['checkpoint'] == result['checkpoint']

    # the same checkpoint evaluated by hand over the same 4 test scenes
    model = init_model(DEBUG_CONFIG, result['checkpoint'])
    test_set = Config.fromfile(DEBUG_CONFIG).test_dataloader.dataset
    dataset = DATASETS.build(dict(test_set, num_samples=4))
    confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    with torch.no_grad():
        for index in range(len(dataset)):
            sample = model.test_step(point_collate([dataset[index]]))[0]
            gt, pred = sample['gt'].numpy(), sample['pred'].numpy()
            np.add.at(confusion, (gt[gt != 255], pred[gt != 255]), 1)
    union = confusion.sum(0) + confusion.sum(1) - np.diag(confusion)
    ious = np.diag(confusion)[union > 0] / union[union > 0]
    assert metrics['mIoU'] == pytest.approx(100.0 * ious.mean(), abs=1e-4)


def test_confident_pseudo_labels_keep_the_top_ratio_per_class(tmp_path):
    from mmengine.registry import DefaultScope

    from d3l.apis import make_confident_pseudo_labels
    from d3l.datasets import point_collate
    from d3l.registry import DATASETS

    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('d3l'):
        model = MODELS.build(Config.fromfile(DEBUG_CONFIG).model).eval()
    checkpoint = tmp_path / 'supervised.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, checkpoint)
    config = osp.join(REPO_ROOT, 'configs/debug/pseudolabel-entmin_scratch_shapes_pointmlp.py')
    out = tmp_path / 'pseudo'
    meta = make_confident_pseudo_labels(config, str(checkpoint), out_dir=str(out), ratio=0.5,
                                        cfg_options={'pseudo_label.dataset.num_samples': 2})
    assert (meta['scenes'], meta['written'], meta['skipped'], meta['ratio']) == (2, 2, 0, 0.5)
    assert json.loads((out / 'meta.json').read_text())['kept_points'] == meta['kept_points']

    scenes_cfg = Config.fromfile(config).pseudo_label.dataset
    with DefaultScope.overwrite_default_scope('d3l'):
        scenes = DATASETS.build(dict(scenes_cfg, num_samples=2))
    kept = 0
    for index in range(2):
        written = np.load(out / f'sample_{index:06d}' / 'segment20.npy')
        with torch.no_grad():
            data = model.data_preprocessor(point_collate([scenes[index]]))
            confidence, pred = model(data['inputs'], mode='tensor').softmax(1).max(1)
        confidence, pred = confidence.numpy(), pred.numpy()
        expected = np.full(len(pred), -1)
        for c in np.unique(pred):  # the rule by hand: top max(1, floor(0.5 n)) of each class
            members = np.flatnonzero(pred == c)
            top = members[np.argsort(-confidence[members])][:max(1, len(members) // 2)]
            expected[top] = c
        assert np.array_equal(written, expected)
        kept += int((expected >= 0).sum())
    assert meta['kept_points'] == kept


def test_format_config_false_skips_yapf_and_keeps_the_config(tmp_path, monkeypatch):
    import mmengine.config.config as mm_config

    formatted = mm_config.FormatCode
    calls = []

    def counting_yapf(*args, **kwargs):
        calls.append(1)
        return formatted(*args, **kwargs)

    monkeypatch.setattr(mm_config, 'FormatCode', counting_yapf)
    cfg = Config.fromfile(DEBUG_CONFIG)
    cfg.experiment_name = 'stages_unformatted'
    work = tmp_path / 'work'
    result = train(cfg, work_dir=str(work), cfg_options=SMALL, format_config=False)
    assert calls == []  # neither the log, the dump, the visualizer nor the checkpoint ran yapf
    # the dumped config is still the run's config, loadable as Python
    dumped = Config.fromfile(str(work / osp.basename(DEBUG_CONFIG)))
    assert dumped.train_cfg.max_epochs == 1 and dumped.work_dir == str(work)
    assert dumped.train_dataloader.dataset.num_samples == 8
    meta_cfg = torch.load(result['checkpoint'], weights_only=False)['meta']['cfg']
    assert Config.fromstring(meta_cfg, '.py').to_dict() == dumped.to_dict()

    # the default (the tools) still formats
    options = {'test_dataloader.dataset.num_samples': 2, '+experiment_name': 'stages_formatted'}
    run_test(DEBUG_CONFIG, result['checkpoint'], work_dir=str(tmp_path / 'test'),
             cfg_options=options)
    assert calls
