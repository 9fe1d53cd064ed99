# Pre-train the O-CNN U-Net on DPT (ADE20K, 150 classes) soft labels of Matterport3D
# panoramas: the design card's main command.
#   1. python tools/generate_pseudo_labels.py configs/pretrain/dpt_matterport_ocnn.py
#   2. python tools/train.py configs/pretrain/dpt_matterport_ocnn.py
#   3. python tools/export_backbone.py work_dirs/dpt_matterport_ocnn/epoch_40.pth \
#          checkpoints/d3l_dpt-ade20k_ocnn.pth        (load_from of the fine-tuning configs)
# Panoramas go to DPT as 90-degree perspective crops (8 yaws x 3 pitches) stitched back:
# DPT was trained on perspective photos.
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/models/ocnn_unet.py',
    '../_base_/datasets/pretrain_matterport_pano.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
teacher = dict(panorama=dict(mode='crops', fov=90, yaws=8, pitches=(-60, 0, 60)))
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=150),  # the teacher's classes; dropped after pre-training
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
max_epochs = 40
optim_wrapper = dict(optimizer=dict(lr=0.05, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=5)
default_hooks = dict(checkpoint=dict(interval=5, max_keep_ckpts=2))
