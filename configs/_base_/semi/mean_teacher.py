# Mean teacher as in the paper's reference: EMA decay 0.999, MSE consistency
# between student and teacher softmax on two augmented views, weight ramped
# up with exp(-5 (1 - t/T)^2) to 10 over 30 epochs. A task config adds it with
#   _base_ = ['./<task config>.py', '../_base_/semi/mean_teacher.py']
#   model = dict(_delete_=True, type='SemiSupervised', model=_base_.model,
#                consistency_loss=_base_.mt_consistency_loss, test_with='student')
#   custom_hooks = _base_.custom_hooks + _base_.mt_hooks
# and a SemiDataset with num_views=2 (see docs/semi_supervised.md).
mt_consistency_loss = dict(type='ConsistencyLoss', loss_weight=10.0)
mt_hooks = [
    dict(type='MeanTeacherHook', alpha=0.999, warmup=True, buffers='ema'),
    dict(type='RampUpHook', target='loss_consistency.loss_weight', end=10.0, length=30,
         shape='sigmoid', by_epoch=True),
]
