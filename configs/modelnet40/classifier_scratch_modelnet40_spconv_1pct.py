# ModelNet40 with 1% of the training shapes of every category, SparseConv encoder from
# scratch. The paper's SparseConv schedule (Adam, lr 1e-3, 200 epochs) with the shape
# batch size (32). 0.05 voxels: 32 cells across a shape (diameter 1.6), the paper's 32^3
# ModelNet40 resolution (O-CNN: depth 5).
# Input: 6 channels per point (colour, normal), averaged per voxel.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/datasets/modelnet40.py',
    '../_base_/models/spconv_cls.py',
]
model = dict(backbone=dict(voxel_size=0.05), cls_head=dict(num_classes=40))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(subset_file='data/modelnet40_normal_resampled/data_efficient/'
                             'modelnet40_train_1pct.txt'))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
train_cfg = dict(max_epochs=200, val_interval=20)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=20))
