# Entropy minimisation (weight 0.5) on the unlabelled data =
# the training shapes outside the 1% subset, added to
# classifier_scratch_modelnet40_spconv_1pct.py (see docs/semi_supervised.md).
_base_ = ['./classifier_scratch_modelnet40_spconv_1pct.py', '../_base_/semi/entmin.py']
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             entropy_loss=_base_.entmin_loss)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SemiSampler', num_unlabeled=1),
    dataset=dict(_delete_=True, type='SemiDataset',
                 labeled=_base_.train_dataloader.dataset,
                 unlabeled=dict(_base_.train_dataloader.dataset, subset='unlabeled')))
