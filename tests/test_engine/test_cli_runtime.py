"""d3l.engine.cli_runtime: what tools/train.py adjusts in a loaded config."""
import pytest
import torch
from mmengine.config import Config

from d3l.engine.cli_errors import CLIError
from d3l.engine.cli_runtime import adapt_to_device, enable_amp, fill_scheduler_ends


def test_scheduler_end_none_runs_until_the_end_of_training():
    cfg = Config(dict(train_cfg=dict(max_epochs=7, max_iters=900), param_scheduler=[
        dict(type='LinearLR', by_epoch=False, end=None), dict(type='PolyLR', end=None),
        dict(type='ConstantLR', end=3)]))
    fill_scheduler_ends(cfg)
    assert [s['end'] for s in cfg.param_scheduler] == [900, 7, 3]


def test_scheduler_end_none_without_a_length_is_an_error():
    cfg = Config(dict(train_cfg=dict(max_epochs=7),
                      param_scheduler=dict(type='PolyLR', by_epoch=False, end=None)))
    with pytest.raises(CLIError, match='PolyLR has end=None but train_cfg has no max_iters'):
        fill_scheduler_ends(cfg)


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU fallback')
def test_cpu_fallback_uses_gloo_and_ddp_without_device_ids():
    cfg = Config(dict(env_cfg=dict(dist_cfg=dict(backend='nccl'))))
    adapt_to_device(cfg, launcher='pytorch')
    assert cfg.env_cfg.dist_cfg.backend == 'gloo'
    assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
    assert cfg.model_wrapper_cfg.device_ids is None


@pytest.mark.skipif(torch.cuda.is_available(), reason='the CPU fallback')
def test_amp_on_the_cpu_warns_and_keeps_fp32(capsys):
    cfg = Config(dict(optim_wrapper=dict(type='OptimWrapper', optimizer=dict(type='SGD'))))
    enable_amp(cfg)
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert '--amp needs a CUDA device' in capsys.readouterr().err
