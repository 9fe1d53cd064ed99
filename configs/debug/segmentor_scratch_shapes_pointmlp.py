# Smallest end-to-end run: a per-point MLP on generated primitive scenes.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/datasets/synthetic_shapes_seg.py',
]
model = dict(
    type='Segmentor',
    backbone=dict(type='PointMLP', in_channels=6, channels=(32, 64)),
    decode_head=dict(type='SegHead', num_classes=5),
    loss=dict(type='CrossEntropyLoss'))
max_epochs = 2
train_cfg = dict(max_epochs=max_epochs, val_interval=1)
param_scheduler = [dict(type='PolyLR', power=0.9, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
default_hooks = dict(logger=dict(interval=2))
