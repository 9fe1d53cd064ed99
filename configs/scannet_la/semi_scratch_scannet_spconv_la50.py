# ScanNet Limited Annotations (50 points per scene), SparseConv U-Net trained from scratch, with
# the paper's combined semi-supervised recipe ("semi" in the paper's tables;
# configs/_base_/semi/combined.py): cross-entropy on the 50 annotated points + mean-teacher
# consistency and entropy minimisation (0.5) on the other points of every scene.
_base_ = ['./segmentor_scratch_scannet_spconv_la50.py', '../_base_/semi/combined.py']
model = dict(_base_.semi_model, model=_base_.model)
custom_hooks = _base_.custom_hooks + _base_.semi_hooks
