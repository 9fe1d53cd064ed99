# ModelNet40 with 5% of the training shapes, SparseConv encoder fine-tuned from the DPT (ADE20K)
# pre-training, with the paper's combined semi-supervised recipe ("semi",
# configs/_base_/semi/combined.py): cross-entropy on the 5% shapes + mean-teacher consistency and
# entropy minimisation (0.5) on the other training shapes (one drawn with every labelled shape).
_base_ = ['./classifier_dpt-ade20k_modelnet40_spconv_5pct.py', '../_base_/semi/combined.py']
model = dict(_base_.semi_model, model=_base_.model)
custom_hooks = _base_.custom_hooks + _base_.semi_hooks
train_dataloader = dict(sampler=_base_.semi_sampler, dataset=dict(
    _base_.semi_dataset_shapes, labeled=_base_.train_dataloader.dataset))
