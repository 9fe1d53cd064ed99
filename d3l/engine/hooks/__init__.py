"""Registered hooks: mean-teacher EMA, loss-weight ramp-ups, weight transfer
from pre-training, skipped-frame accounting."""
from d3l.datasets.rgbd.hooks import SkippedFramesHook  # noqa: F401  (lives with the datasets)

from .ema_hook import MeanTeacherHook, ema_update_
from .ramp_up import RampUpHook, linear_rampup, sigmoid_rampup
from .weight_transfer_hook import WeightTransferHook

__all__ = ['MeanTeacherHook', 'ema_update_', 'RampUpHook', 'sigmoid_rampup', 'linear_rampup',
           'WeightTransferHook']
