# The synthetic world's 2D teacher images (d3l.benchmark.world.build_world writes
# them under <world>/seg2d) in mmsegmentation's folder format. An mmseg-scoped piece:
# inherit it from configs with default_scope = 'mmseg'.
# The 30 classes are d3l.benchmark.world.CLASSES_2D (a test keeps them in sync).
dataset_type = 'BaseSegDataset'
data_root = 'data/synthetic/seg2d'
metainfo = dict(
    classes=(
        'wall', 'floor', 'ceiling', 'rug', 'bed', 'pillow', 'sofa', 'cushion',
        'chair', 'leg', 'table', 'desk', 'cabinet', 'shelf', 'book', 'door',
        'window', 'curtain', 'picture', 'mirror', 'lamp', 'countertop', 'refrigerator', 'sink',
        'toilet', 'bathtub', 'tv', 'stool', 'bin', 'box'),
    palette=[
        (199, 83, 83), (62, 94, 174), (143, 225, 29), (249, 54, 225), (76, 184, 166),
        (222, 148, 61), (85, 50, 192), (96, 232, 90), (230, 36, 101), (75, 144, 185),
        (226, 240, 70), (189, 55, 224), (63, 227, 145), (239, 90, 51), (32, 46, 204),
        (98, 233, 16), (244, 82, 190), (33, 169, 175), (242, 191, 41), (128, 67, 201),
        (94, 209, 113), (179, 11, 32), (75, 139, 228), (154, 192, 62), (243, 23, 243),
        (41, 190, 146), (216, 122, 56), (49, 28, 201), (118, 220, 97), (183, 31, 101)])

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackSegInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='img_dir/train', seg_map_path='ann_dir/train'),
                 img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(img_path='img_dir/val', seg_map_path='ann_dir/val'),
                 img_suffix='.png', seg_map_suffix='.png', reduce_zero_label=False,
                 pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator
