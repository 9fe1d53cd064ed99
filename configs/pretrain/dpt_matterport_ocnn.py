# Pre-train the O-CNN U-Net on DPT (ADE20K, 150 classes) soft labels of Matterport3D
# panoramas, as the authors did (configs/seg_mp3d.yaml of bryanyu1997/Data-Efficient-3D-Learner):
# SGD (momentum 0.9), lr 0.05, poly decay over 200 epochs, weight decay 1e-4, batch size 6,
# elastic distortion (configs/_base_/datasets/pretrain_matterport_pano.py). Their fine-tuning
# configs load the epoch-80 checkpoint of this run (pretrain_file: ckpt/mp3d_00080.model.pth
# in LA_scannet.yaml / LR_scannet.yaml), not the last one:
#   1. python tools/generate_pseudo_labels.py configs/pretrain/dpt_matterport_ocnn.py
#   2. python tools/train.py configs/pretrain/dpt_matterport_ocnn.py
#   3. python tools/export_backbone.py work_dirs/dpt_matterport_ocnn/epoch_80.pth \
#          checkpoints/d3l_dpt-ade20k_ocnn.pth        (load_from of the fine-tuning configs)
# The teacher sees every panorama whole (DPT resizes it), as the authors' code; the
# 90-degree perspective crops are the variant dpt-crops_matterport_ocnn.py.
# Input: 6 channels per point (colour, normal); the authors' 7 (normal, displacement,
# colour) with --cfg-options model.backbone.octree_feature=FD
# 'model.backbone.normal_channels=[3,4,5]' here and in fine-tuning (docs/reproduce.md).
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/models/ocnn_unet.py',
    '../_base_/datasets/pretrain_matterport_pano.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
teacher = dict(panorama=dict(mode='whole'))
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=150),  # the teacher's classes; dropped after pre-training
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
max_epochs = 200
train_dataloader = dict(batch_size=6)
optim_wrapper = dict(optimizer=dict(type='SGD', lr=0.05, momentum=0.9, weight_decay=1e-4))
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
# every 20 epochs, all kept: epoch_80.pth is the one the authors fine-tuned from
default_hooks = dict(checkpoint=dict(interval=20, max_keep_ckpts=-1))
# the epoch whose weights the fine-tuning configs load (tools/export_backbone.py)
finetune_from_epoch = 80
