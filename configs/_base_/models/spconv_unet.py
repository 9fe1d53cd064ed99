# Sparse-convolution U-Net (SpUNet / MinkUNet family) for scene segmentation.
# 2 cm voxels as for ScanNet; the same widths / blocks as ocnn_unet.py.
model = dict(
    type='Segmentor',
    data_preprocessor=dict(type='PointDataPreprocessor'),
    backbone=dict(
        type='SparseUNet',
        in_channels=6,
        voxel_size=0.02,
        stem_channels=32,
        stem_kernel=3,
        enc_channels=[32, 64, 128, 256],
        enc_blocks=[2, 3, 4, 6],
        dec_channels=[256, 128, 96, 96],
        dec_blocks=[2, 2, 2, 2]),
    decode_head=dict(type='SegHead', num_classes=20),
    loss=dict(type='CrossEntropyLoss', ignore_index=255),
    # sliding windows (docs/inference.md): window_size None = the authors' 10 m, or the
    # backbone's extent when smaller; stride None = half the window (their 5 m). Scenes larger
    # than a window are cut into windows whose probabilities are merged, weighted towards
    # window centres; scenes that fit run in one pass; mode='whole' disables it.
    test_cfg=dict(mode='slide', window_size=None, stride=None))
