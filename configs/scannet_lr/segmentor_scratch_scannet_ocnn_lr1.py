# ScanNet Limited Reconstructions (1% of the training scenes), O-CNN U-Net trained from scratch.
# The paper's O-CNN schedule: SGD momentum 0.9, poly decay (power 0.9), lr 0.05,
# 500 epochs, batch size 4. Evaluation on every vertex of the 312 val scenes.
# Input: 6 channels per octree leaf (colour, normal: the averages of its points); the
# authors' 7 (normal, displacement, colour): configs/_base_/models/ocnn_unet_7ch.py.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/datasets/scannet.py',
    '../_base_/models/ocnn_unet.py',
]
train_dataloader = dict(batch_size=4, dataset=dict(lr_file='data/scannet/tasks/scenes/1.txt'))
# weight decay 0, as configs/LA_scannet.yaml and LR_scannet.yaml of the authors' code
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=0.0))
train_cfg = dict(max_epochs=500, val_interval=50)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=50))
