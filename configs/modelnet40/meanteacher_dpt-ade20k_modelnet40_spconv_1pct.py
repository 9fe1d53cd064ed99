# Mean teacher (EMA 0.999, consistency ramped to 10 over 30 epochs) with the
# unlabelled data = the training shapes outside the 1% subset, added to
# classifier_dpt-ade20k_modelnet40_spconv_1pct.py (see docs/semi_supervised.md).
_base_ = ['./classifier_dpt-ade20k_modelnet40_spconv_1pct.py', '../_base_/semi/mean_teacher.py']
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             consistency_loss=_base_.mt_consistency_loss, test_with='student',
             **_base_.mt_two_views)
custom_hooks = _base_.custom_hooks + _base_.mt_hooks
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SemiSampler', num_unlabeled=1),
    dataset=dict(_delete_=True, type='SemiDataset', num_views=2,
                 labeled=_base_.train_dataloader.dataset,
                 unlabeled=dict(_base_.train_dataloader.dataset, subset='unlabeled')))
