# Pre-train the O-CNN U-Net on DPT (ADE20K, 150 classes) soft labels fused onto the ScanNet
# training reconstructions from their own RGB-D frames (beyond the paper, docs/fusion.md).
# The schedule is dpt_matterport_ocnn.py's (SGD lr 0.05, poly, batch 6), over 1201 scenes
# instead of ~10.8k panoramas per epoch. Steps (THIS_CONFIG = this file, WORK_DIR = its
# work_dirs folder):
#   1. python tools/generate_pseudo_labels.py THIS_CONFIG
#   2. python tools/fuse_soft_labels.py THIS_CONFIG
#   3. python tools/train.py THIS_CONFIG
#   4. python tools/export_backbone.py WORK_DIR/epoch_200.pth \
#          checkpoints/d3l_dpt-ade20k-fused_ocnn.pth
# then fine-tune any segmentor_dpt-ade20k_scannet_ocnn_* config with
#   --cfg-options load_from=checkpoints/d3l_dpt-ade20k-fused_ocnn.pth
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/sgd_poly.py',
    '../_base_/models/ocnn_unet.py',
    '../_base_/datasets/fused_scannet.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
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
default_hooks = dict(checkpoint=dict(interval=20, max_keep_ckpts=-1))
