# Pre-training source: Matterport3D RGB-D panoramas (equirectangular, z up), lifted
# to point clouds, with the teacher's soft labels stored by
#   python tools/generate_pseudo_labels.py CONFIG
# (pseudo_label_cfg below; --out defaults to pseudo_label_dir).
# Labels are generated once for train + val; training reads the train buildings,
# validation the val buildings (agreement with the teacher's top-1, over its classes).
source_type = 'Matterport3DPanoDataset'
source_root = 'data/matterport3d_pano'
pseudo_label_dir = 'data/pseudo_labels/dpt-ade20k_matterport'
grid_size = 0.02  # metres
feat_keys = ('colors', 'normals')
# elastic distortion as in the authors' pre-training (datasets/matterport3d.py of their
# code): ((0.2, 0.4), (0.8, 1.6)) applied to coordinates divided by 5.12, two smoothing
# passes; here in metres
elastic_distortion = dict(type='ElasticDistortion', params=((1.024, 2.048), (4.096, 8.192)),
                          smoothing_passes=2, prob=0.95)

pseudo_label_cfg = dict(
    source=dict(type=source_type, data_root=source_root, split='trainval',
                pipeline=[dict(type='LoadRGBD')]),
    out_dir=pseudo_label_dir,
    # top-3 classes, fp16 probabilities: 9 bytes per label cell
    codec=dict(topk=3, prob_dtype='float16'),
    # one label per 2x2 pixels (~3 cm at 3 m for 1024-wide panoramas, finer than
    # the 2 cm grid needs far away); 1.2 MB per panorama
    stride=2,
    shard_size=64)

train_pipeline = [
    dict(type='LiftEquirect', with_normals=True, max_depth=10.0),
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    elastic_distortion,
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    # inside the 10.24 m O-CNN cube (the authors dropped the points outside it)
    dict(type='FitToCube', size=10.0),
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    dict(type='LimitPoints', max_points=120000, mode='sphere'),
    # decode on the GPU: 9 bytes per point through the data loader instead of 600
    dict(type='LoadSoftLabels', decode=False),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
val_pipeline = [
    dict(type='LiftEquirect', with_normals=True, max_depth=10.0),
    dict(type='GridSample', grid_size=grid_size, mode='test'),
    dict(type='LimitPoints', max_points=200000, mode='center'),
    dict(type='LoadSoftLabels', decode=False, with_hard_labels=True),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]

train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='PretrainRGBDDataset', label_dir=pseudo_label_dir,
                 source=dict(type=source_type, data_root=source_root, split='train',
                             skip_bad_frames=True, pipeline=[dict(type='LoadRGBD')]),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='PretrainRGBDDataset', label_dir=pseudo_label_dir, test_mode=True,
                 source=dict(type=source_type, data_root=source_root, split='val',
                             pipeline=[dict(type='LoadRGBD')]),
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
