# A small DPT (mmsegmentation's DPT: ViT backbone + DPTHead) with the structure of
# the ADE20K DPT ViT-B/16 of the paper, sized to train from scratch in minutes on
# a CPU: 16x16 patches (8x6 tokens on 128x96 images), 96-dim tokens, 4 layers.
# An mmseg-scoped piece.
norm_cfg = dict(type='BN', requires_grad=True)  # SyncBN needs GPUs; BN works everywhere
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size_divisor=16)
embed_dims = 96
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='VisionTransformer', img_size=(96, 128), patch_size=16, embed_dims=embed_dims,
        num_layers=4, num_heads=3, mlp_ratio=2, out_indices=(0, 1, 2, 3), final_norm=False,
        with_cls_token=True, output_cls_token=True, drop_path_rate=0.0),
    decode_head=dict(
        type='DPTHead', in_channels=(embed_dims, ) * 4, channels=32, embed_dims=embed_dims,
        post_process_channels=[16, 32, 96, 96], patch_size=16, num_classes=30,
        readout_type='project', input_transform='multiple_select', in_index=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0)),
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
