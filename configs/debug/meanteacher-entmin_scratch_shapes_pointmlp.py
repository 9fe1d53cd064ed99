# Mean teacher + entropy minimisation on the smallest end-to-end run. The two
# views differ by rotation, scaling, colour jitter and a random point subset,
# so the consistency loss matches them through point_index.
_base_ = ['./segmentor_scratch_shapes_pointmlp.py', '../_base_/semi/mean_teacher.py',
          '../_base_/semi/entmin.py']
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             consistency_loss=_base_.mt_consistency_loss, entropy_loss=_base_.entmin_loss,
             test_with='student',  # or 'teacher': evaluate the EMA network
             **_base_.mt_two_views)
custom_hooks = _base_.custom_hooks + [
    dict(type='MeanTeacherHook', alpha=0.99),
    dict(type='RampUpHook', target='loss_consistency.loss_weight', end=10.0, length=1),
]
semi_pipeline = [
    dict(type='RandomRotate', angle_range=(-0.5, 0.5)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='ChromaticJitter', std=0.02),
    dict(type='LimitPoints', max_points=448, mode='random'),
    dict(type='PackPointInputs', feat_keys=('colors', 'normals')),
]
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SemiSampler', num_unlabeled=1),
    dataset=dict(_delete_=True, type='SemiDataset', num_views=2,
                 labeled=dict(_base_.train_dataloader.dataset, pipeline=semi_pipeline),
                 unlabeled=dict(_base_.train_dataloader.dataset, seed=100,
                                pipeline=semi_pipeline)))
