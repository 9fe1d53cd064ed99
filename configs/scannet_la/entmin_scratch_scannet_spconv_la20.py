# Entropy minimisation (weight 0.5) on the unlabelled data =
# the points outside the 20 annotated points of every scene, added to
# segmentor_scratch_scannet_spconv_la20.py (see docs/semi_supervised.md).
_base_ = ['./segmentor_scratch_scannet_spconv_la20.py', '../_base_/semi/entmin.py']
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             entropy_loss=_base_.entmin_loss)
