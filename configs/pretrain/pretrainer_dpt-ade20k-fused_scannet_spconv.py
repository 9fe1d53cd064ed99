# Pre-train the SparseConv U-Net on DPT (ADE20K) soft labels fused onto the ScanNet
# training reconstructions (docs/fusion.md); the same fused labels as
# pretrainer_dpt-ade20k-fused_scannet_ocnn.py (steps 1-2 once for both), the paper's
# SparseConv optimiser (Adam, lr 1e-3). THIS_CONFIG = this file, WORK_DIR its work_dirs folder.
#   3. python tools/train.py THIS_CONFIG
#   4. python tools/export_backbone.py WORK_DIR/epoch_200.pth \
#          checkpoints/d3l_dpt-ade20k-fused_spconv.pth
# then fine-tune segmentor_dpt-ade20k_scannet_spconv_* with --cfg-options load_from=<that file>
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/models/spconv_unet.py',
    '../_base_/datasets/fused_scannet.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=150),
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
max_epochs = 200
train_dataloader = dict(batch_size=6)
param_scheduler = [dict(type='PolyLR', power=0.9, eta_min=0.0, by_epoch=True, begin=0, end=None,
                        convert_to_iter_based=True)]
train_cfg = dict(max_epochs=max_epochs, val_interval=10)
default_hooks = dict(checkpoint=dict(interval=20, max_keep_ckpts=-1))
