"""MeanTeacherEntMin around a Segmentor and a Classifier: which points each loss
sees, the teacher, checkpoints of the plain model, evaluation network."""
import copy

import pytest
import torch
import torch.nn.functional as F
from mmengine.registry import DefaultScope

from d3l.datasets import point_collate
from d3l.datasets.semi import SemiDataset
from d3l.models.losses import entropy_from_logits
from d3l.registry import MODELS
from d3l.structures import PointBatch

IGNORE = 255
PACK = [dict(type='PackPointInputs', feat_keys=('colors', 'normals'))]
SEGMENTOR = dict(type='Segmentor', backbone=dict(type='PointMLP', in_channels=6,
                                                  channels=(16, 16)),
                 decode_head=dict(type='SegHead', num_classes=5))
CLASSIFIER = dict(type='Classifier', backbone=dict(type='PointMLP', in_channels=6,
                                                    channels=(16, 16), global_pool=True),
                  cls_head=dict(type='ClsHead', num_classes=5, dropout=0.0))
#: d3l's own mean-teacher variant (the defaults follow the paper's code)
TWO_VIEWS = dict(teacher_input='second_view', consistency_on='all')


@pytest.fixture(autouse=True)
def d3l_scope():
    with DefaultScope.overwrite_default_scope('d3l'):
        yield


def _model(model=SEGMENTOR, **kwargs):
    torch.manual_seed(0)
    semi = MODELS.build(dict(type='MeanTeacherEntMin', model=model, **kwargs))
    semi.init_weights()
    return semi


def _batch(model, task='seg', num_views=2, hide_some=True):
    data = dict(type='SyntheticShapesDataset', task=task, num_points=64, pipeline=PACK)
    dataset = SemiDataset(labeled=dict(data, num_samples=4, seed=0),
                          unlabeled=dict(data, num_samples=4, seed=1), num_views=num_views)
    items = [dataset[(0, (1,))], dataset[(2, (3,))]]
    if hide_some and task == 'seg':  # LA-like: part of a labelled cloud is unannotated
        sample = items[0][0]['data_samples']
        for view in sample.get('views', [sample]):
            view['labels'][::3] = IGNORE
    return model.data_preprocessor(point_collate(items), True)


def test_each_loss_sees_the_right_points():
    model = _model(entropy_loss=dict(type='EntropyLoss', loss_weight=0.5),
                   consistency_loss=dict(type='ConsistencyLoss', loss_weight=1.0),
                   **TWO_VIEWS).eval()
    data = _batch(model)
    views, samples = data['inputs'], data['data_samples']
    losses = model.loss(views, samples)
    assert set(losses) == {'loss_seg', 'acc_seg', 'loss_entropy', 'loss_consistency',
                           'cons_matched'}

    logits = model.student(views[0], mode='tensor')
    labels = torch.cat([s['labels'] for s in samples])
    streams = [s['metainfo']['stream'] for s in samples]
    assert streams == ['labeled', 'unlabeled', 'labeled', 'unlabeled']
    labeled = labels != IGNORE
    assert 0 < labeled.sum() < labels.numel() - 128  # unlabelled clouds + hidden points
    assert losses['loss_seg'].item() == pytest.approx(
        F.cross_entropy(logits[labeled], labels[labeled]).item(), rel=1e-5)
    assert losses['loss_entropy'].item() == pytest.approx(
        0.5 * entropy_from_logits(logits[~labeled]).mean().item(), rel=1e-5)
    # identical views and teacher == student: nothing to be consistent about
    assert losses['loss_consistency'].item() == pytest.approx(0.0, abs=1e-10)
    assert losses['cons_matched'].item() == 1.0


def test_consistency_matches_points_through_point_index():
    model = _model(consistency_loss=dict(type='ConsistencyLoss', loss_weight=1.0),
                   **TWO_VIEWS).eval()
    data = _batch(model)
    views, samples = data['inputs'], data['data_samples']
    # the teacher's view lists the points of every cloud in another order
    teacher_view = views[1]
    generator = torch.Generator().manual_seed(0)
    order = torch.cat([start + torch.randperm(n, generator=generator) for start, n in
                       zip(teacher_view.offsets[:-1].tolist(), teacher_view.counts.tolist())])
    permuted = PointBatch(teacher_view.coord[order], teacher_view.feat[order],
                          teacher_view.batch[order], teacher_view.batch_size)
    samples = copy.deepcopy(samples)
    offset = 0
    for sample, count in zip(samples, teacher_view.counts.tolist()):
        local = order[offset:offset + count] - offset
        sample['views'][1]['point_index'] = sample['views'][1]['point_index'][local]
        offset += count
    assert model.loss([views[0], permuted], samples)['loss_consistency'].item() == \
        pytest.approx(0.0, abs=1e-10)

    with torch.no_grad():  # a teacher that disagrees: the manual softmax MSE
        for p in model.teacher.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator))
    loss = model.loss([views[0], permuted], samples)['loss_consistency']
    student = model.student(views[0], mode='tensor').softmax(1)
    teacher = model.teacher(views[1], mode='tensor').softmax(1)  # unpermuted = row-aligned
    assert loss.item() == pytest.approx(((student - teacher) ** 2).mean().item(), rel=1e-5)
    assert loss.item() > 1e-4


def test_consistency_on_unlabeled_points_only_and_gradients_reach_only_the_student():
    model = _model(consistency_loss=dict(type='ConsistencyLoss', loss_weight=1.0),
                   teacher_input='second_view', consistency_on='unlabeled')
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.mul_(0.5)
    data = _batch(model)
    model.train()
    losses = model.loss(data['inputs'], data['data_samples'])
    assert model.teacher.training is False
    (losses['loss_seg'] + losses['loss_consistency']).backward()
    assert all(p.grad is None for p in model.teacher.parameters())
    assert all(p.grad is not None for p in model.student.parameters())

    model.eval()
    views, samples = data['inputs'], data['data_samples']
    labels = torch.cat([s['labels'] for s in samples])
    unlabeled = labels == IGNORE
    student = model.student(views[0], mode='tensor').softmax(1)
    teacher = model.teacher(views[1], mode='tensor').softmax(1)
    expected = ((student - teacher)[unlabeled] ** 2).mean()
    assert model.loss(views, samples)['loss_consistency'].item() == pytest.approx(
        expected.item(), rel=1e-5)


def test_classifier_shapes_with_hidden_labels_are_unlabeled():
    model = _model(CLASSIFIER, entropy_loss=dict(type='EntropyLoss', loss_weight=1.0),
                   consistency_loss=dict(type='ConsistencyLoss', loss_weight=1.0),
                   **TWO_VIEWS).eval()
    data = _batch(model, task='cls')
    views, samples = data['inputs'], data['data_samples']
    assert [s['label'] for s in samples][1::2] == [IGNORE, IGNORE]
    losses = model.loss(views, samples)
    assert 'loss_cls' in losses and 'acc_cls' in losses and 'cons_matched' not in losses
    logits = model.student(views[0], mode='tensor')
    labels = torch.tensor([int(s['label']) for s in samples])
    assert losses['loss_cls'].item() == pytest.approx(
        F.cross_entropy(logits[0::2], labels[0::2]).item(), rel=1e-5)
    assert losses['loss_entropy'].item() == pytest.approx(
        entropy_from_logits(logits[1::2]).mean().item(), rel=1e-5)
    assert losses['loss_consistency'].item() == pytest.approx(0.0, abs=1e-10)


def test_plain_checkpoint_loads_into_student_and_teacher():
    torch.manual_seed(3)
    plain = MODELS.build(SEGMENTOR)
    state = plain.state_dict()
    model = _model(consistency_loss=dict(type='ConsistencyLoss'))
    result = model.load_state_dict(state, strict=False)
    assert result.missing_keys == ['ema_steps'] and not result.unexpected_keys
    for key, value in state.items():
        assert torch.equal(model.student.state_dict()[key], value), key
        assert torch.equal(model.teacher.state_dict()[key], value), key
    # the wrapper's own checkpoints load key for key (teacher kept apart)
    with torch.no_grad():
        model.teacher.decode_head.classifier.bias.fill_(7.0)
    other = _model(consistency_loss=dict(type='ConsistencyLoss'))
    other.load_state_dict(model.state_dict(), strict=True)
    assert torch.equal(other.teacher.decode_head.classifier.bias, torch.full((5,), 7.0))
    assert not torch.equal(other.student.decode_head.classifier.bias, torch.full((5,), 7.0))
    # a checkpoint of an entropy-only run evaluated with test_with='teacher': the
    # teacher gets the trained student, not its random initial weights
    entropy_only = _model(entropy_loss=dict(type='EntropyLoss'))
    with torch.no_grad():
        entropy_only.student.decode_head.classifier.bias.fill_(3.0)
    teacher_eval = _model(test_with='teacher')
    result = teacher_eval.load_state_dict(entropy_only.state_dict(), strict=False)
    assert result.missing_keys == ['ema_steps']
    assert torch.equal(teacher_eval.teacher.decode_head.classifier.bias, torch.full((5,), 3.0))


def test_evaluation_uses_the_configured_network():
    model = _model(test_with='teacher').eval()
    assert model.teacher is not None and model.loss_consistency is None
    with torch.no_grad():
        model.teacher.decode_head.classifier.bias.copy_(torch.tensor([0, 0, 50.0, 0, 0]))
    data = _batch(model, num_views=1)
    predictions = model.predict(data['inputs'], data['data_samples'])
    assert all((p['pred'] == 2).all() for p in predictions)
    assert torch.equal(model(data['inputs'], mode='tensor'),
                       model.teacher(data['inputs'], mode='tensor'))
    model.test_with = 'student'
    student = model.student.predict(data['inputs'], data['data_samples'])
    assert all(torch.equal(a['pred'], b['pred']) for a, b in
               zip(model.predict(data['inputs'], data['data_samples']), student))


def test_entropy_only_model_has_no_teacher_and_needs_no_views():
    model = _model(entropy_loss=dict(type='EntropyLoss'))
    assert model.teacher is None and 'ema_steps' not in model.state_dict()
    data = _batch(model, num_views=1)
    losses = model.loss(data['inputs'], data['data_samples'])
    assert set(losses) == {'loss_seg', 'acc_seg', 'loss_entropy'}


def test_clear_errors():
    model = _model(consistency_loss=dict(type='ConsistencyLoss'), **TWO_VIEWS)
    data = _batch(model, num_views=1)
    with pytest.raises(ValueError, match=r'SemiDataset", num_views=2'):
        model.loss(data['inputs'], data['data_samples'])
    data = _batch(model)
    samples = copy.deepcopy(data['data_samples'])
    samples[0]['views'][1]['point_index'] = samples[0]['views'][1]['point_index'][:10]
    with pytest.raises(ValueError, match='select_points'):
        model.loss(data['inputs'], samples)
    with pytest.raises(ValueError, match='test_with'):
        _model(test_with='ema')
    with pytest.raises(ValueError, match='entropy_on'):
        _model(entropy_on='labeled')
    with pytest.raises(ValueError, match='teacher_input'):
        _model(teacher_input='other')


def test_deprecated_name_builds_the_same_model_with_a_warning():
    kwargs = dict(model=SEGMENTOR, consistency_loss=dict(type='ConsistencyLoss'))
    torch.manual_seed(0)
    new = MODELS.build(dict(type='MeanTeacherEntMin', **kwargs))
    torch.manual_seed(0)
    with pytest.warns(FutureWarning, match="type='MeanTeacherEntMin'"):
        old = MODELS.build(dict(type='SemiSupervised', **kwargs))
    assert isinstance(old, type(new))
    state, old_state = new.state_dict(), old.state_dict()
    assert list(old_state) == list(state)  # old checkpoints load key for key
    assert all(torch.equal(old_state[k], v) for k, v in state.items())
    for name in ('MeanTeacherEntMin', 'SemiSupervised'):
        with pytest.raises(ValueError, match='cannot wrap'):
            MODELS.build(dict(type='MeanTeacherEntMin', model=dict(type=name, model=SEGMENTOR)))


@pytest.mark.parametrize('task', ['seg', 'cls'])
def test_default_teacher_sees_the_student_batch_and_only_unlabeled_rows_count(task):
    # the paper's code: one batch for both networks, consistency on the unlabelled rows
    model = _model(SEGMENTOR if task == 'seg' else CLASSIFIER,
                   consistency_loss=dict(type='ConsistencyLoss', loss_weight=2.0))
    assert (model.teacher_input, model.consistency_on) == ('same', 'unlabeled')
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in model.teacher.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=generator))
    data = _batch(model, task=task, num_views=1)
    batch, samples = data['inputs'], data['data_samples']
    model.train()
    losses = model.loss(batch, samples)
    assert 'cons_matched' not in losses
    with torch.no_grad():
        student = model.student(batch, mode='tensor').softmax(1)  # train-mode BN, as in loss
        teacher = model.teacher(batch, mode='tensor').softmax(1)
    if task == 'seg':
        labels = torch.cat([s['labels'] for s in samples])
    else:
        labels = torch.tensor([int(s['label']) for s in samples])
    unlabeled = labels == IGNORE
    assert 0 < unlabeled.sum() < unlabeled.numel()
    expected = 2.0 * ((student - teacher)[unlabeled] ** 2).mean()
    assert losses['loss_consistency'].item() == pytest.approx(expected.item(), rel=1e-5)
    every_row = 2.0 * ((student - teacher) ** 2).mean()
    assert abs(every_row.item() - expected.item()) > 1e-6
    # a second view, when the dataset makes one, is not what the teacher sees
    two = _batch(model, task=task, num_views=2)
    assert model.loss(two['inputs'], two['data_samples'])['loss_consistency'].item() == \
        pytest.approx(model.loss(two['inputs'][0], two['data_samples'])['loss_consistency']
                      .item(), rel=1e-6)


def test_train_mode_teacher_uses_batch_statistics_and_keeps_its_own():
    model = _model(consistency_loss=dict(type='ConsistencyLoss', loss_weight=1.0),
                   teacher_bn='train')
    data = _batch(model, num_views=1)
    batch, samples = data['inputs'], data['data_samples']
    running = {k: v.clone() for k, v in model.teacher.named_buffers() if 'running' in k}
    assert running
    model.train()
    loss = model.loss(batch, samples)['loss_consistency']
    assert model.teacher.training is False  # back in eval mode after its forward
    moved = [k for k, v in model.teacher.named_buffers() if k in running and
             not torch.equal(v, running[k])]
    assert len(moved) == len(running)
    # teacher == student and both normalise with the batch's statistics: no disagreement
    assert loss.item() == pytest.approx(0.0, abs=1e-10)
    eval_mode = _model(consistency_loss=dict(type='ConsistencyLoss', loss_weight=1.0))
    eval_mode.train()
    assert eval_mode.loss(batch, samples)['loss_consistency'].item() > 1e-8
    with pytest.raises(ValueError, match='teacher_bn'):
        _model(teacher_bn='frozen')
