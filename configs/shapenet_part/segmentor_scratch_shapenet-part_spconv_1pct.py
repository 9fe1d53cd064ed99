# ShapeNet part with 1% of the training shapes of every category, SparseConv U-Net from
# scratch. The paper's SparseConv schedule (Adam, lr 1e-3, 200 epochs) with the shape
# batch size (32); 0.025 voxels = 64 cells across a shape.
# Input: 6 channels per point (colour, normal), averaged per voxel.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/datasets/shapenet_part.py',
    '../_base_/models/spconv_unet.py',
]
model = dict(
    return_probs=True,  # PartSegMetric restricts the argmax to the category's parts
    backbone=dict(voxel_size=0.025),
    decode_head=dict(num_classes=50))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(subset_file='data/shapenetcore_partanno_segmentation_benchmark_v0_normal/data_efficient/'
                             'shapenet_part_trainval_1pct.txt'))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
train_cfg = dict(max_epochs=200, val_interval=20)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=20))
