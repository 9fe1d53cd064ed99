# Sparse-conv encoder + global max pooling + ClsHead for shape classification.
# Shapes come normalised to the unit sphere, so a 0.03 voxel gives ~67 cells
# across. Encoder widths equal spconv_unet.py's, so pre-trained weights transfer.
model = dict(
    type='Classifier',
    data_preprocessor=dict(type='PointDataPreprocessor'),
    backbone=dict(
        type='SparseUNet',
        in_channels=6,
        voxel_size=0.03,
        stem_channels=32,
        stem_kernel=3,
        enc_channels=[32, 64, 128, 256],
        enc_blocks=[2, 3, 4, 6],
        global_pool=True),
    cls_head=dict(type='ClsHead', num_classes=40, dropout=0.5),
    loss=dict(type='CrossEntropyLoss'))
