# ScanNet Limited Reconstructions (20% of the training scenes), SparseConv U-Net trained from
# scratch, with the paper's combined semi-supervised recipe ("semi" in the paper's tables;
# configs/_base_/semi/combined.py): cross-entropy on the 20% scenes and on the confident pseudo-
# labels (top 20% per class) of the other scenes + mean-teacher consistency and entropy
# minimisation (0.25) on the points of those scenes without a pseudo-label.
#   1. python tools/train.py configs/scannet_lr/segmentor_scratch_scannet_spconv_lr20.py
#   2. python tools/make_confident_pseudo_labels.py THIS_CONFIG <checkpoint of step 1>
#      (writes work_dirs/pseudo_labels/<this config's name>/<scene>/segment20.npy)
#   3. python tools/train.py THIS_CONFIG
_base_ = ['./segmentor_scratch_scannet_spconv_lr20.py', '../_base_/semi/combined.py']
model = dict(_base_.semi_model_lr, model=_base_.model)
custom_hooks = _base_.custom_hooks + _base_.semi_hooks
train_dataloader = dict(dataset=dict(
    _base_.semi_dataset_lr, labeled=_base_.train_dataloader.dataset,
    pseudo_labeled=dict(label_root='work_dirs/pseudo_labels/{{fileBasenameNoExtension}}')))
