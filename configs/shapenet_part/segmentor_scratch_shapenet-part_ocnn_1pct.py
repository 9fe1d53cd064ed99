# ShapeNet part with 1% of the training shapes of every category, O-CNN U-Net from scratch.
# The paper's O-CNN part schedule: SGD momentum 0.9, poly decay, lr 0.025, weight decay
# 1e-4, 600 epochs, batch size 32. Each shape is fitted into the octree (depth 6, 64^3
# leaves); per-point features are interpolated trilinearly from the leaves.
# Input: 6 channels per octree leaf (colour, normal: the averages of its points); the
# authors' 7 (normal, displacement, colour): configs/_base_/models/ocnn_unet_7ch.py.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/datasets/shapenet_part.py',
    '../_base_/models/ocnn_unet.py',
]
model = dict(
    return_probs=True,  # PartSegMetric restricts the argmax to the category's parts
    backbone=dict(depth=6, full_depth=2, normalize='bbox', interp='linear'),
    decode_head=dict(num_classes=50))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(subset_file='data/shapenetcore_partanno_segmentation_benchmark_v0_normal/data_efficient/'
                             'shapenet_part_trainval_1pct.txt'))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.025, momentum=0.9, weight_decay=1e-4))
train_cfg = dict(max_epochs=600, val_interval=50)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=50))
