# The O-CNN U-Net with the authors' 7 input channels per octree leaf (MODEL.channel: 7 with
# node_dis: True in their configs): colour (3) and normal (3), the averages of the leaf's
# points (the normals are not renormalised; ocnn renormalises them), and the displacement
# (1) of the leaf's mean point along its normal. The points carry the usual 6 features
# ('colors', 'normals'); only the octree input differs. Use it in pre-training and
# fine-tuning alike (the stem's weights have 7 input channels), in place of ocnn_unet.py,
# or with --cfg-options model.backbone.octree_feature=FD 'model.backbone.normal_channels=[3,4,5]'.
_base_ = ['./ocnn_unet.py']
model = dict(backbone=dict(octree_feature='FD', normal_channels=(3, 4, 5)))
