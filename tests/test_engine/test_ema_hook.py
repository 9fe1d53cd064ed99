"""Mean-teacher EMA hook and ramp-up hook, inside an MMEngine Runner."""
import copy
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmengine.hooks import Hook
from torch import nn

from d3l.engine.cli import adapt_to_device, fill_scheduler_ends, load_config
from d3l.engine.hooks import MeanTeacherHook, RampUpHook, ema_update_, sigmoid_rampup
from d3l.registry import HOOKS
from d3l.utils.compat import safe_torch_load

CONFIG = 'configs/debug/meanteacher-entmin_scratch_shapes_pointmlp.py'
PLAIN = [dict(type='PackPointInputs', feat_keys=('colors', 'normals'))]


def _net():
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(4, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 3))


def _closed_form(history, alphas):
    """theta'_k = prod(alpha) theta_0 + sum_i (1 - alpha_i) prod_{j>i} alpha_j theta_i,
    evaluated in float64 from the recorded student states."""
    k = len(alphas)
    expected = {}
    for name in history[0]:
        total = np.prod(alphas) * history[0][name]
        for i in range(1, k + 1):
            total = total + (1 - alphas[i - 1]) * np.prod(alphas[i:]) * history[i][name]
        expected[name] = total
    return expected


def _state(module):
    return {k: v.detach().double().numpy().copy() for k, v in module.state_dict().items()
            if v.is_floating_point()}


@pytest.mark.parametrize('buffers', ['ema', 'copy'])
def test_ema_update_equals_closed_form(buffers):
    student = _net()
    teacher = copy.deepcopy(student)
    history = [_state(student)]
    alphas = [0.5, 0.9, 0.99, 0.999, 0.7]
    generator = torch.Generator().manual_seed(1)
    for alpha in alphas:
        with torch.no_grad():  # a "training step": new weights and BN statistics
            for p in student.parameters():
                p.add_(torch.randn(p.shape, generator=generator))
            student.train()(torch.randn(16, 4, generator=generator))
        history.append(_state(student))
        ema_update_(teacher, student, alpha, buffers=buffers)
    expected = _closed_form(history, alphas)
    got = _state(teacher)
    for name, value in got.items():
        if buffers == 'copy' and 'running' in name:
            assert np.allclose(value, history[-1][name]), name
        else:
            assert np.allclose(value, expected[name], atol=1e-6), name
    assert teacher[1].num_batches_tracked == student[1].num_batches_tracked
    # not trivially equal to the student
    assert not np.allclose(got['0.weight'], history[-1]['0.weight'])


def test_ema_update_rejects_bad_arguments():
    with pytest.raises(ValueError, match='alpha'):
        ema_update_(_net(), _net(), 1.5)
    with pytest.raises(ValueError, match='buffers'):
        ema_update_(_net(), _net(), 0.9, buffers='mean')
    with pytest.raises(ValueError, match='differ'):
        ema_update_(_net(), nn.Sequential(nn.Linear(4, 8)), 0.9)
    with pytest.raises(ValueError, match='interval'):
        MeanTeacherHook(interval=0)


@HOOKS.register_module(force=True)
class RecordStudentHook(Hook):
    """Records the student after init and after every optimizer step, the
    ramped weight of every iteration, and the modes of both networks."""

    priority = 'LOWEST'

    def __init__(self):
        self.history, self.weights, self.modes = [], [], []

    def before_train(self, runner):
        model = runner.model
        self.history.append(_state(model.student))
        self.start_teacher = _state(model.teacher)
        self.start_iter = runner.iter

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        model = runner.model
        self.weights.append(model.loss_consistency.loss_weight)
        self.modes.append((model.student.training, model.teacher.training))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.history.append(_state(runner.model.student))


def _runner(tmp_path, name, max_epochs=2, resume=None, extra=None):
    from mmengine.runner import Runner
    cfg = load_config(CONFIG)
    data = dict(type='SyntheticShapesDataset', task='seg', num_points=128, pipeline=PLAIN)
    cfg.merge_from_dict({
        'train_dataloader.dataset.labeled': dict(data, num_samples=4, seed=0),
        'train_dataloader.dataset.unlabeled': dict(data, num_samples=6, seed=100),
        'train_cfg.max_epochs': max_epochs, 'train_cfg.val_interval': 100,
        'default_hooks.logger.interval': 1, 'model.consistency_loss.loss_weight': 0.0,
        **(extra or {})})
    cfg.custom_hooks = [dict(type='MeanTeacherHook', alpha=0.9, warmup=True),
                        dict(type='RampUpHook', end=10.0, length=1.5),
                        dict(type='RecordStudentHook')]
    cfg.work_dir = str(tmp_path / name)
    # MMEngine names a Runner's logger and message hub after the config and the second: a
    # unique name keeps two Runners of one second from sharing their iteration state
    cfg.experiment_name = f'ema_{name}_{id(cfg)}'
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg)
    if resume:
        cfg.resume, cfg.load_from = True, str(resume)
    runner = Runner.from_cfg(cfg)
    recorder = next(h for h in runner.hooks if isinstance(h, RecordStudentHook))
    return runner, recorder


def test_hook_keeps_closed_form_ema_and_ramps_weight(tmp_path):
    runner, recorder = _runner(tmp_path, 'run')
    runner.train()
    model = runner.model
    iters = runner.iter
    assert iters == 4  # 2 epochs x 2 batches of (2 labelled + 2 unlabelled) clouds
    assert int(model.ema_steps) == iters
    # the teacher starts as the initialised student
    for key, value in recorder.start_teacher.items():
        assert np.array_equal(value, recorder.history[0][key]), key
    alphas = [min(0.9, 1 - 1 / (t + 1)) for t in range(1, iters + 1)]  # warm-up
    expected = _closed_form(recorder.history, alphas)
    got = _state(model.teacher)
    for key, value in expected.items():
        assert np.allclose(got[key], value, atol=1e-5), key
    assert not np.allclose(got['backbone.mlp.0.weight'],
                           recorder.history[-1]['backbone.mlp.0.weight'])
    # teacher: never trained, never asked for gradients
    assert all(mode == (True, False) for mode in recorder.modes)
    assert not any(p.requires_grad for p in model.teacher.parameters())
    # sigmoid ramp over 1.5 epochs of 2 iterations: t = iter / 2
    ramp = [10.0 * sigmoid_rampup(i / 2, 1.5) for i in range(iters)]
    assert recorder.weights == pytest.approx(ramp)
    assert recorder.weights[-1] == pytest.approx(10.0)
    assert RampUpHook(end=10, length=30).value_at(0) == pytest.approx(10 * math.exp(-5))


def test_resume_restores_teacher_exactly(tmp_path):
    reference, _ = _runner(tmp_path, 'full')
    reference.train()
    full = safe_torch_load(osp.join(tmp_path, 'full', 'epoch_2.pth'))
    first = safe_torch_load(osp.join(tmp_path, 'full', 'epoch_1.pth'))
    teacher_keys = [k for k in full['state_dict'] if k.startswith('teacher.')]
    assert teacher_keys and 'ema_steps' in full['state_dict']
    assert int(first['state_dict']['ema_steps']) == 2

    resumed, recorder = _runner(tmp_path, 'resumed', resume=osp.join(tmp_path, 'full',
                                                                       'epoch_1.pth'))
    resumed.train()
    assert recorder.start_iter == 2
    # right after loading: the teacher is the checkpoint's, not a copy of the student
    for key, value in recorder.start_teacher.items():
        assert np.array_equal(value, first['state_dict'][f'teacher.{key}'].double().numpy())
    assert not all(np.array_equal(recorder.start_teacher[k], recorder.history[0][k])
                   for k in recorder.start_teacher)
    # the continued run ends where the uninterrupted one ended
    again = safe_torch_load(osp.join(tmp_path, 'resumed', 'epoch_2.pth'))
    for key in teacher_keys + ['ema_steps']:
        assert torch.allclose(again['state_dict'][key].double(),
                              full['state_dict'][key].double(), atol=1e-6), key


def test_gradient_accumulation_updates_teacher_once_per_optimizer_step(tmp_path):
    runner, recorder = _runner(tmp_path, 'accumulate',
                               extra={'optim_wrapper.accumulative_counts': 2})
    runner.train()
    assert runner.iter == 4 and int(runner.model.ema_steps) == 2


def test_hook_needs_a_model_with_a_teacher(tmp_path):
    from mmengine.runner import Runner
    cfg = load_config('configs/debug/segmentor_scratch_shapes_pointmlp.py')
    cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'train_dataloader.dataset.num_samples': 2})
    cfg.custom_hooks = [dict(type='MeanTeacherHook')]
    cfg.work_dir = str(tmp_path / 'plain')
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg)
    with pytest.raises(TypeError, match='teacher and a student'):
        Runner.from_cfg(cfg).train()


def test_ema_update_without_buffers_leaves_the_teachers_statistics():
    student, teacher = _net(), _net()
    with torch.no_grad():
        teacher.train()(torch.randn(16, 4) * 5)  # statistics of its own forwards
        student.train()(torch.randn(16, 4))
    before = {k: v.clone() for k, v in teacher.named_buffers()}
    params = {k: v.clone() for k, v in teacher.named_parameters()}
    ema_update_(teacher, student, 0.9, buffers='none')
    for name, value in teacher.named_buffers():
        assert torch.equal(value, before[name]), name
    student_params = dict(student.named_parameters())
    for name, value in teacher.named_parameters():
        torch.testing.assert_close(value, 0.9 * params[name] + 0.1 * student_params[name])


def test_hook_buffers_must_fit_the_teachers_batchnorm_mode(tmp_path):
    from mmengine.runner import Runner
    for teacher_bn, buffers, fits in (('train', 'ema', False), ('eval', 'none', False),
                                      ('train', 'none', True)):
        cfg = load_config(CONFIG)
        cfg.merge_from_dict({'train_cfg.max_epochs': 1, 'model.teacher_bn': teacher_bn,
                             'train_dataloader.dataset.labeled.num_samples': 2,
                             'train_dataloader.dataset.unlabeled.num_samples': 2})
        cfg.custom_hooks = [dict(type='MeanTeacherHook', buffers=buffers)]
        cfg.work_dir = str(tmp_path / f'{teacher_bn}_{buffers}')
        fill_scheduler_ends(cfg)
        adapt_to_device(cfg)
        runner = Runner.from_cfg(cfg)
        if fits:
            running = {k: v.clone() for k, v in runner.model.teacher.named_buffers()
                       if 'running_mean' in k}
            runner.train()
            # its own forwards in train mode moved its statistics; the EMA did not
            moved = [k for k, v in runner.model.teacher.named_buffers()
                     if 'running_mean' in k and not torch.equal(v, running[k])]
            assert running and len(moved) == len(running)
            assert not runner.model.teacher.training
        else:
            with pytest.raises(ValueError, match='does not fit'):
                runner.train()
