"""Weight transfer: pre-training checkpoint -> fine-tuning model through
MMEngine's ``load_from`` / ``resume`` / test, the guard and the hook."""
import copy
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.runner.checkpoint import save_checkpoint
from model_test_utils import TINY, captured_log
from torch import nn

from d3l.engine.hooks import WeightTransferHook
from d3l.models.utils import (
    WeightTransferError,
    install_transfer_guard,
    is_head_key,
    load_pretrained,
    plan_transfer,
)
from d3l.registry import MODELS

BACKBONE = dict(type='SparseUNet', in_channels=6, voxel_size=0.1, **TINY)
OCNN_BACKBONE = dict(type='OCNNUNet', in_channels=6, depth=5, scale=3.2, **TINY)  # the 4.6 m shapes


@pytest.fixture(autouse=True)
def d3l_scope():
    init_default_scope('d3l')


def segmentor(num_classes, backbone=BACKBONE):
    return MODELS.build(dict(type='Segmentor', backbone=copy.deepcopy(backbone),
                             decode_head=dict(type='SegHead', num_classes=num_classes)))


def pretrain_checkpoint(path, num_classes=13, backbone=BACKBONE, seed=1):
    """A Pretrainer-like checkpoint (Segmentor over the teacher's classes)
    with distinctive random weights, saved as MMEngine does."""
    model = segmentor(num_classes, backbone)
    torch.manual_seed(seed)
    with torch.no_grad():
        for tensor in model.state_dict().values():
            if tensor.is_floating_point():
                tensor.copy_(torch.rand_like(tensor) + 0.5)  # > 0: valid BN variances
    state = {k: v.clone() for k, v in model.state_dict().items()}
    save_checkpoint({'state_dict': state, 'meta': {'epoch': 3, 'iter': 30}}, path)
    return state


class Snapshot(Hook):
    """Copies the model's state right after loading (before any step)."""

    def __init__(self):
        self.state = None

    def _take(self, runner):
        self.state = {k: v.clone() for k, v in runner.model.state_dict().items()}

    def before_train(self, runner):
        self._take(runner)

    def before_test(self, runner):
        self._take(runner)


def data_loader():
    return dict(batch_size=2, num_workers=0, sampler=dict(type='DefaultSampler', shuffle=False),
                collate_fn=dict(type='d3l.point_collate'),
                dataset=dict(type='SyntheticShapesDataset', task='seg', num_samples=2,
                             num_points=200, seed=0,
                             pipeline=[dict(type='PackPointInputs',
                                            feat_keys=('colors', 'normals'))]))


def finetune_runner(work_dir, num_classes, load_from, hooks, resume=False, backbone=BACKBONE,
                    test=False):
    cfg = dict(
        model=dict(type='Segmentor', backbone=copy.deepcopy(backbone),
                   decode_head=dict(type='SegHead', num_classes=num_classes)),
        work_dir=str(work_dir), load_from=load_from, resume=resume, custom_hooks=hooks,
        default_scope='d3l', default_hooks=dict(
            logger=dict(type='LoggerHook', interval=1),
            checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False)))
    if test:
        cfg.update(test_dataloader=data_loader(), test_cfg=dict(type='TestLoop'),
                   test_evaluator=dict(type='SegMetric'))
    else:
        cfg.update(train_dataloader=data_loader(),
                   train_cfg=dict(by_epoch=False, max_iters=1),
                   optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)))
    return Runner(**cfg)


def backbone_keys(state):
    return sorted(k for k in state if k.startswith('backbone.'))


# ----------------------------------------------------------------------------
@pytest.mark.parametrize('backbone', [BACKBONE, OCNN_BACKBONE], ids=['spconv', 'ocnn'])
def test_load_from_transfers_backbone_and_drops_pretraining_head(tmp_path, backbone):
    ckpt = str(tmp_path / 'pretrain.pth')
    saved = pretrain_checkpoint(ckpt, num_classes=13, backbone=backbone)
    snapshot = Snapshot()
    runner = finetune_runner(tmp_path / 'ft', 5, ckpt, [WeightTransferHook(), snapshot],
                             backbone=backbone)
    with captured_log() as records:
        runner.train()
    loaded = snapshot.state
    # every backbone tensor (weights, BN statistics) equals the saved one
    assert backbone_keys(loaded) == backbone_keys(saved)
    for key in backbone_keys(saved):
        assert torch.equal(loaded[key], saved[key]), key
    # the task head is new (5 classes), the 13-class head was dropped
    assert loaded['decode_head.classifier.weight'].shape[0] == 5
    report = runner.model.transfer_report
    assert sorted(report.loaded) == backbone_keys(saved)
    assert sorted(report.new) == ['decode_head.classifier.bias', 'decode_head.classifier.weight']
    assert sorted(report.dropped) == ['decode_head.classifier.bias',
                                      'decode_head.classifier.weight']
    assert report.source == ckpt
    text = '\n'.join(r.getMessage() for r in records)
    assert f'weight transfer from {ckpt}: loaded {len(saved) - 2}, new 2, dropped 2' in text
    assert 'backbone.stem.conv.weight' in text and 'decode_head.classifier.weight [' in text

    # resume restores the whole fine-tuned model, head included
    last = osp.join(str(tmp_path / 'ft'), 'iter_1.pth')
    finetuned = torch.load(last, map_location='cpu', weights_only=False)['state_dict']
    snapshot = Snapshot()
    runner = finetune_runner(tmp_path / 'ft', 5, last, [WeightTransferHook(), snapshot],
                             resume=True, backbone=backbone)
    runner._train_loop = runner.build_train_loop(runner._train_loop)
    runner.optim_wrapper = runner.build_optim_wrapper(runner.optim_wrapper)
    runner.load_or_resume()
    resumed = runner.model.state_dict()
    assert resumed.keys() == finetuned.keys()
    for key, value in finetuned.items():
        assert torch.equal(resumed[key], value), key
    assert runner.model.transfer_report.dropped == {}

    # testing the fine-tuned checkpoint keeps its head too, hook or not
    snapshot = Snapshot()
    runner = finetune_runner(tmp_path / 'test', 5, last, [WeightTransferHook(), snapshot],
                             backbone=backbone, test=True)
    runner.test()
    assert torch.equal(snapshot.state['decode_head.classifier.weight'],
                       finetuned['decode_head.classifier.weight'])


def test_head_of_the_same_shape_is_dropped_only_with_the_hook(tmp_path):
    ckpt = str(tmp_path / 'pretrain.pth')
    saved = pretrain_checkpoint(ckpt, num_classes=5)
    with_hook, without_hook = Snapshot(), Snapshot()
    finetune_runner(tmp_path / 'a', 5, ckpt, [WeightTransferHook(), with_hook]).train()
    finetune_runner(tmp_path / 'b', 5, ckpt, [without_hook]).train()
    key = 'decode_head.classifier.weight'
    assert not torch.equal(with_hook.state[key], saved[key])
    assert torch.equal(without_hook.state[key], saved[key])
    for k in backbone_keys(saved):
        assert torch.equal(with_hook.state[k], saved[k])


def test_backbone_shape_mismatch_is_an_error(tmp_path):
    ckpt = str(tmp_path / 'pretrain.pth')
    pretrain_checkpoint(ckpt)
    wider = dict(BACKBONE, stem_channels=12)
    model = segmentor(5, wider)
    with pytest.raises(WeightTransferError, match=r'pretrain\.pth.*backbone\.stem\.conv\.weight'):
        load_pretrained(model, ckpt)
    # through MMEngine's load_from as well (not a silent skip)
    runner = finetune_runner(tmp_path / 'ft', 5, ckpt, [], backbone=wider)
    with pytest.raises(WeightTransferError, match='differ in shape'):
        runner.train()


def test_segmentation_checkpoint_into_classifier_encoder(tmp_path):
    ckpt = str(tmp_path / 'pretrain.pth')
    saved = pretrain_checkpoint(ckpt)
    classifier = MODELS.build(dict(
        type='Classifier', backbone=dict(BACKBONE, global_pool=True),
        cls_head=dict(type='ClsHead', num_classes=4)))
    report = load_pretrained(classifier, ckpt)
    state = classifier.state_dict()
    encoder = [k for k in state if k.startswith(('backbone.stem.', 'backbone.down.',
                                                 'backbone.enc.'))]
    assert sorted(report.loaded) == sorted(encoder)
    for key in encoder:
        assert torch.equal(state[key], saved[key])
    assert all(k.startswith('cls_head.') for k in report.new)
    dropped = set(report.dropped)
    assert {k for k in saved if k.startswith(('backbone.up.', 'backbone.dec.', 'decode_head.'))} \
        == dropped
    assert all(reason == 'not in the model' for reason in report.dropped.values())


def test_guard_inside_a_wrapper_uses_its_prefix(tmp_path):
    class Wrapper(nn.Module):
        def __init__(self):
            super().__init__()
            self.student = segmentor(5)

    ckpt = str(tmp_path / 'pretrain.pth')
    saved = pretrain_checkpoint(ckpt)
    wrapper = Wrapper()
    state = {f'student.{k}': v for k, v in saved.items()}
    wrapper.load_state_dict(state, strict=False)
    report = wrapper.student.transfer_report
    assert sorted(report.dropped) == ['student.decode_head.classifier.bias',
                                      'student.decode_head.classifier.weight']
    assert torch.equal(wrapper.student.backbone.stem.conv.weight,
                       saved['backbone.stem.conv.weight'])
    # deep copies (a mean teacher) keep a working guard
    teacher = copy.deepcopy(wrapper.student)
    teacher.load_state_dict(saved, strict=False)
    assert teacher.transfer_report is not wrapper.student.transfer_report
    assert len(teacher.transfer_report.dropped) == 2


def test_plan_transfer_and_head_matching():
    assert is_head_key('decode_head.classifier.weight', ['decode_head'])
    assert is_head_key('teacher.decode_head.classifier.weight', ['decode_head'])
    assert not is_head_key('backbone.decode_head_like.weight', ['decode_head'])
    model = {'backbone.w': torch.zeros(2, 3), 'decode_head.w': torch.zeros(4, 3)}
    ckpt = {'backbone.w': torch.ones(2, 3), 'decode_head.w': torch.ones(9, 3),
            'extra.w': torch.ones(1)}
    remove, report = plan_transfer(model, ckpt, ['decode_head'])
    assert remove == ['decode_head.w']
    assert report.loaded == ['backbone.w'] and report.new == ['decode_head.w']
    assert report.dropped == {'decode_head.w': 'head shape (9, 3) does not fit (4, 3)',
                              'extra.w': 'not in the model'}
    with pytest.raises(WeightTransferError, match=r'backbone\.w: checkpoint \(2, 4\)'):
        plan_transfer(model, {'backbone.w': torch.ones(2, 4)}, ['decode_head'])


def test_guard_is_installed_once_and_on_every_algorithm():
    model = segmentor(3)
    hooks = len(model._load_state_dict_pre_hooks)
    install_transfer_guard(model)
    assert len(model._load_state_dict_pre_hooks) == hooks
    assert type(model).transfer_head_names == ('decode_head',)


def test_partial_backbone_is_an_error_on_transfer_unless_allowed(tmp_path):
    from d3l.models.utils.weight_transfer import allow_partial_transfer
    ckpt = str(tmp_path / 'pretrain.pth')
    saved = pretrain_checkpoint(ckpt)
    partial = {k: v for k, v in saved.items() if not k.startswith('backbone.dec.')}
    save_checkpoint({'state_dict': partial, 'meta': {}}, ckpt)
    model = segmentor(5)
    decoder = sorted(k for k in model.state_dict() if k.startswith('backbone.dec.'))
    with pytest.raises(WeightTransferError, match=rf'pretrain\.pth fills '
                       rf'{len(backbone_keys(partial))} of the {len(backbone_keys(saved))} '
                       r'backbone tensors .*backbone\.dec\.'):
        load_pretrained(model, ckpt)
    allow_partial_transfer(model, 'decoder trained from scratch on purpose')
    with captured_log() as records:
        report = load_pretrained(model, ckpt)
    assert sorted(k for k in report.new if k.startswith('backbone.')) == decoder
    assert any('partial weight transfer allowed (decoder trained from scratch on purpose)'
               in r.getMessage() for r in records)
    with pytest.raises(WeightTransferError, match='non-empty string'):
        allow_partial_transfer(model, '  ')
    # a plain non-strict load_state_dict (a tool with its own checks) only reports
    plain = segmentor(5)
    plain.load_state_dict(partial, strict=False)
    assert sorted(plain.transfer_report.backbone_new) == decoder
