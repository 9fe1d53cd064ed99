# The model of the shipped teacher d3l.model_zoo.SYNTHETIC_DPT (docs/model_zoo.md), a
# small DPT-Hybrid (mmseg's DPT: ViT + DPTHead, as the paper's teacher) for 128 x 96
# photos on a CPU: a residual conv stem at stride 8 (d3l.teachers.backbones) embeds the
# image into 16 x 12 tokens, then 4 transformer layers of 128 dims; the DPT head fuses
# 4 of them at 24 channels. 1.3M parameters, 0.9 GFLOP per 128 x 96 image. Shipped in
# the package (an installed d3l has no configs/); configs/demo/dpt-hybrid_scratch_
# synthetic-corpus_seg2d.py trains it. An mmseg-scoped config.
default_scope = 'mmseg'
custom_imports = dict(imports=['d3l.teachers.backbones'], allow_failed_imports=False)
# SyncBN needs GPUs; BN works everywhere (trainable: mmcv's default requires_grad=True)
norm_cfg = dict(type='BN')
stride = 8
data_preprocessor = dict(
    type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53], std=[58.395, 57.12, 57.375],
    bgr_to_rgb=True, pad_val=0, seg_pad_val=255, size=(96, 128),
    test_cfg=dict(size_divisor=stride))
embed_dims = 128
model = dict(
    type='EncoderDecoder',
    data_preprocessor=data_preprocessor,
    pretrained=None,
    backbone=dict(
        type='HybridVisionTransformer', stem_channels=(16, 32, 64), stem_blocks=1,
        stem_norm_cfg=norm_cfg, img_size=(96, 128), patch_size=stride, embed_dims=embed_dims,
        num_layers=4, num_heads=4, mlp_ratio=3, out_indices=(0, 1, 2, 3), final_norm=False,
        with_cls_token=True, output_cls_token=True, drop_path_rate=0.05),
    decode_head=dict(
        type='DPTHead', in_channels=(embed_dims, ) * 4, channels=24, embed_dims=embed_dims,
        post_process_channels=[24, 48, 96, 128], patch_size=stride, num_classes=30,
        readout_type='project', input_transform='multiple_select', in_index=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        loss_decode=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0,
                         avg_non_ignore=True),
        # mmseg's std 0.01 leaves the logits of a 24-channel head near zero for hundreds of
        # iterations (training sat at the class prior); 0.1 starts learning at once
        init_cfg=dict(type='Normal', std=0.1, override=dict(name='conv_seg'))),
    auxiliary_head=None,
    train_cfg=dict(),
    test_cfg=dict(mode='whole'))
