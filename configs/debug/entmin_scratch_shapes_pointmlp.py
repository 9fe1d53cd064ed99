# Entropy minimisation on the smallest end-to-end run: labelled primitive
# scenes plus an unlabelled stream of other scenes (labels hidden).
_base_ = ['./segmentor_scratch_shapes_pointmlp.py', '../_base_/semi/entmin.py']
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             entropy_loss=_base_.entmin_loss)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SemiSampler', num_unlabeled=1),
    dataset=dict(_delete_=True, type='SemiDataset', labeled=_base_.train_dataloader.dataset,
                 unlabeled=dict(_base_.train_dataloader.dataset, seed=100)))
