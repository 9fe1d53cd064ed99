# A small O-CNN U-Net for the embedded benchmark (configs/demo/): the structure of
# configs/_base_/models/ocnn_unet.py (same type, input features, head) at a size that
# trains in minutes on a 2-core CPU: octree depth 6 over a 9 m cube (scale 4.5 m per
# unit: the synthetic rooms, at most 6.5 x 5.7 m, still fit when turned by 45 degrees
# and scaled by 1.1) = 14 cm leaves, one residual block per stage, 16-96 channels.
# The cost of a step grows with the number of octree leaves, not of points: a whole
# room is ~3k leaves here, ~50k at the real config's 2 cm.
_base_ = ['../../../_base_/models/ocnn_unet.py']
model = dict(
    backbone=dict(
        depth=6,
        scale=4.5,
        stem_channels=16,
        enc_channels=[16, 32, 64, 96],
        enc_blocks=[1, 1, 1, 1],
        dec_channels=[96, 64, 32, 32],
        dec_blocks=[1, 1, 1, 1]))
