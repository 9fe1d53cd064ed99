# ModelNet40 with 1% of the training shapes of every category, O-CNN encoder from scratch.
# The paper's O-CNN classification schedule: SGD momentum 0.9, poly decay, lr 0.05,
# 300 epochs, batch size 32. Subsets: tools/make_data_efficient_splits.py modelnet40.
# Input: 6 channels per octree leaf (colour, normal: the averages of its points); the
# authors' 7 (normal, displacement, colour): configs/_base_/models/ocnn_unet_7ch.py.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/datasets/modelnet40.py',
    '../_base_/models/ocnn_cls.py',
]
model = dict(cls_head=dict(num_classes=40))
train_dataloader = dict(
    batch_size=32,
    dataset=dict(subset_file='data/modelnet40_normal_resampled/data_efficient/'
                             'modelnet40_train_1pct.txt'))
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
train_cfg = dict(max_epochs=300, val_interval=30)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(checkpoint=dict(interval=30))
