# Synthetic world, the setting of segmentor_scratch_synthetic-scannet_spunet_la20.py, fine-tuned
# from the small sparse U-Net pre-trained on the synthetic 2D teacher's soft labels
# (pretrainer_dpt-synthetic_synthetic-rgbd_spunet.py, then tools/export_backbone.py; or pass
# --cfg-options load_from=PATH). The backbone.* weights load by name, the head starts fresh.
_base_ = ['./segmentor_scratch_synthetic-scannet_spunet_la20.py']
load_from = 'checkpoints/d3l_dpt-synthetic_spunet.pth'
