# Pre-train the SparseConv U-Net on DPT (ADE20K) soft labels of Matterport3D panoramas.
# Same labels as dpt_matterport_ocnn.py (generate them once for either config). The
# authors only pre-trained O-CNN: this run keeps their epochs, batch size and epoch-80
# export (dpt_matterport_ocnn.py) with the paper's SparseConv optimiser (Adam, lr 1e-3).
#   python tools/export_backbone.py work_dirs/dpt_matterport_spconv/epoch_80.pth \
#       checkpoints/d3l_dpt-ade20k_spconv.pth
_base_ = [
    '../_base_/default_runtime.py',
    '../_base_/schedules/adam.py',
    '../_base_/models/spconv_unet.py',
    '../_base_/datasets/pretrain_matterport_pano.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
teacher = dict(panorama=dict(mode='whole'))
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
finetune_from_epoch = 80
