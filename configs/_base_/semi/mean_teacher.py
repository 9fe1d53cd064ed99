# Mean teacher as in the paper's reference: EMA decay 0.999, MSE consistency
# between student and teacher softmax on two augmented views, weight ramped
# up with exp(-5 (1 - t/T)^2) to 10 over 30 epochs. A task config adds it with
#   _base_ = ['./<task config>.py', '../_base_/semi/mean_teacher.py']
#   model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
#                consistency_loss=_base_.mt_consistency_loss, test_with='student',
#                **_base_.mt_two_views)
#   custom_hooks = _base_.custom_hooks + _base_.mt_hooks
# and a SemiDataset with num_views=2 (see docs/semi_supervised.md).
# These separate meanteacher_* configs keep d3l's own variant: the teacher sees a second,
# differently augmented view and the consistency covers every point (Tarvainen & Valpola).
# The paper's code gives the teacher the student's batch and the unlabelled points only:
# that is the default of MeanTeacherEntMin and of the combined recipe (./combined.py).
mt_two_views = dict(teacher_input='second_view', consistency_on='all')
mt_consistency_loss = dict(type='ConsistencyLoss', loss_weight=10.0)
mt_hooks = [
    dict(type='MeanTeacherHook', alpha=0.999, warmup=True, buffers='ema'),
    dict(type='RampUpHook', target='loss_consistency.loss_weight', end=10.0, length=30,
         shape='sigmoid', by_epoch=True),
]
