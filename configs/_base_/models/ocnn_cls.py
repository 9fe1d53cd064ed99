# O-CNN encoder + global max pooling + ClsHead for shape classification.
# Each shape is fitted into the octree cube (normalize='bbox'); depth 5 = 32^3
# leaves, the paper's ModelNet40 resolution. The encoder widths equal ocnn_unet.py's,
# so pre-trained encoder weights transfer (the decoder and the pre-training head are
# dropped).
model = dict(
    type='Classifier',
    data_preprocessor=dict(type='PointDataPreprocessor'),
    backbone=dict(
        type='OCNNUNet',
        in_channels=6,
        depth=5,
        full_depth=2,
        normalize='bbox',
        margin=0.01,
        octree_feature='F',
        nempty=True,
        stem_channels=32,
        enc_channels=[32, 64, 128, 256],
        enc_blocks=[2, 3, 4, 6],
        global_pool=True),
    cls_head=dict(type='ClsHead', num_classes=40, dropout=0.5),
    loss=dict(type='CrossEntropyLoss'))
