# ScanNet Limited Reconstructions (1% of the training scenes), SparseConv U-Net from scratch.
# The paper's SparseConv schedule: Adam, lr 1e-3, 200 epochs, batch size 4.
# Input: 6 channels per point (colour, normal), averaged per voxel.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/datasets/scannet.py',
    '../_base_/models/spconv_unet.py',
]
train_dataloader = dict(batch_size=4, dataset=dict(lr_file='data/scannet/tasks/scenes/1.txt'))
optim_wrapper = dict(optimizer=dict(type='Adam', lr=1e-3, weight_decay=0.0))
train_cfg = dict(max_epochs=200, val_interval=20)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=20))
