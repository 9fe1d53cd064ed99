# Pre-train the O-CNN U-Net on DPT (ADE20K, 150 classes) soft labels of SUN RGB-D frames.
#   python tools/generate_pseudo_labels.py configs/pretrain/dpt_sunrgbd_ocnn.py
#   python tools/train.py configs/pretrain/dpt_sunrgbd_ocnn.py
#   python tools/export_backbone.py work_dirs/dpt_sunrgbd_ocnn/epoch_60.pth OUT.pth
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/models/ocnn_unet.py',
    '../_base_/datasets/pretrain_sunrgbd.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=150),
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
max_epochs = 60
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=10, max_keep_ckpts=2))
