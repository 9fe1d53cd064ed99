# Synthetic world, Limited Annotations (20 annotated points per scene), the small
# O-CNN U-Net trained from scratch (the network of demo version 2; tools/demo.py now runs
# the *_spunet_* configs, these O-CNN ones stay for comparison). By hand:
#   python tools/make_data_efficient_splits.py scannet-la --data-root data/synthetic/scannet
#   python tools/train.py configs/demo/segmentor_scratch_synthetic-scannet_ocnn_la20.py
_base_ = [
    './_base_/recipes/segmentor_synthetic-scannet_la20.py',
    './_base_/models/ocnn_unet_small.py',
]
