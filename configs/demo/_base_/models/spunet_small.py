# A small sparse-convolution U-Net for the embedded benchmark (configs/demo/): the
# structure of configs/_base_/models/spconv_unet.py (same type, input features, head) at a
# size that trains in minutes on a 2-core CPU: 10 cm voxels, one residual block per stage,
# 16-96 channels (4 stages: 20 cm - 1.6 m). SparseUNet is ~3x faster per step than the
# O-CNN U-Net on this CPU (benchmarks/bench_backbones.py). Measured on a default world
# (full labels, 200 rooms): 5 cm voxels reached 21 mIoU in 250 iterations at 0.33 s each;
# 10 cm voxels 45 mIoU in 750 at 0.19 s each: the step budget matters more than the grid.
_base_ = ['../../../_base_/models/spconv_unet.py']
model = dict(
    backbone=dict(
        voxel_size=0.1,
        stem_channels=16,
        enc_channels=[16, 32, 64, 96],
        enc_blocks=[1, 1, 1, 1],
        dec_channels=[96, 64, 32, 32],
        dec_blocks=[1, 1, 1, 1]))
