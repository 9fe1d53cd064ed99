# Pre-train the SparseConv U-Net on DPT (ADE20K) soft labels of SUN RGB-D frames.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/models/spconv_unet.py',
    '../_base_/datasets/pretrain_sunrgbd.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=150),
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
max_epochs = 60
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))
