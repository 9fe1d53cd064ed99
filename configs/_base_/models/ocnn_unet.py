# O-CNN U-Net for scene segmentation (the paper's O-CNN setting).
# depth 9 over a 10.24 m cube (scale 5.12 m per unit) = 512^3 leaves of 2 cm.
# Widths / blocks are ocnn.models.UNet's; input = ('colors', 'normals') = 6 channels.
model = dict(
    type='Segmentor',
    data_preprocessor=dict(type='PointDataPreprocessor'),
    backbone=dict(
        type='OCNNUNet',
        in_channels=6,
        depth=9,
        full_depth=2,
        normalize='scene',
        scale=5.12,
        octree_feature='F',
        nempty=True,
        interp='nearest',
        stem_channels=32,
        enc_channels=[32, 64, 128, 256],
        enc_blocks=[2, 3, 4, 6],
        dec_channels=[256, 128, 96, 96],
        dec_blocks=[2, 2, 2, 2]),
    # linear + softmax, section 3.1 of the paper
    decode_head=dict(type='SegHead', num_classes=20),
    loss=dict(type='CrossEntropyLoss', ignore_index=255),
    # sliding windows (docs/inference.md): window_size None = the authors' 10 m, or the
    # backbone's extent when smaller; stride None = half the window (their 5 m). Scenes larger
    # than a window are cut into windows whose probabilities are merged, weighted towards
    # window centres; scenes that fit run in one pass; mode='whole' disables it.
    test_cfg=dict(mode='slide', window_size=None, stride=None))
