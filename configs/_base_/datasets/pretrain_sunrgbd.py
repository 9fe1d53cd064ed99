# Pre-training source: SUN RGB-D perspective frames (upright z-up frame through Rtilt),
# lifted to point clouds, with the teacher's soft labels stored by
#   python tools/generate_pseudo_labels.py CONFIG
# Labels are generated for every frame; the toolbox split (allsplit.mat) selects the
# training and validation frames.
source_type = 'SUNRGBDDataset'
source_root = 'data/sunrgbd/SUNRGBD'
split_file = 'data/sunrgbd/SUNRGBDtoolbox/traintestsplit/allsplit.mat'
pseudo_label_dir = 'data/pseudo_labels/dpt-ade20k_sunrgbd'
grid_size = 0.02  # metres
feat_keys = ('colors', 'normals')
# elastic distortion as in the authors' pre-training (datasets/matterport3d.py of their
# code): ((0.2, 0.4), (0.8, 1.6)) applied to coordinates divided by 5.12, two smoothing
# passes; here in metres
elastic_distortion = dict(type='ElasticDistortion', params=((1.024, 2.048), (4.096, 8.192)),
                          smoothing_passes=2, prob=0.95)

pseudo_label_cfg = dict(
    source=dict(type=source_type, data_root=source_root, pipeline=[dict(type='LoadRGBD')]),
    out_dir=pseudo_label_dir,
    codec=dict(topk=3, prob_dtype='float16'),
    # one label per 2x2 pixels (~1 cm at 2 m for a 530-row frame): 0.9 MB per frame
    stride=2,
    shard_size=64,
    # per-pixel normals stored beside the labels (PCA 5x5 after FilterDepthEdges(), as
    # train_pipeline), read by StoredNormals instead of estimated per sample: 25-50 ms
    # less per sample
    # (docs/data_path_speed.md); ~4 bytes per pixel
    normals=dict(method='pca', window=5, depth_edges=dict()))

# Order (issue 16): lift, grid-sample, then normals and the augmentations on the kept
# points (~60k of ~300k per frame), so that the plane fits, the turns and the elastic
# distortion run on 20 % of the points: 315 -> 82 ms CPU per sample, with the faster
# transforms of the same commit (docs/data_path_speed.md). Pointcept and the authors
# augment first and grid-sample last; here the 2 cm voxels are taken in the
# upright room frame before the random turn and scale (the backbone voxelises the
# augmented points again), a different but equally random augmentation: the
# distortion's field is smooth at 1-8 m, far above the 2 cm grid (docs/data_path_speed.md).
train_pipeline = [
    dict(type='FilterDepthEdges'),
    dict(type='LiftPerspective', with_normals=False, max_depth=8.0),
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    # the kept points' normals, stored at labelling time (pseudo_label_cfg.normals): those
    # DepthNormals gives within 0.005 deg; a store without them: DepthNormals (logged)
    dict(type='StoredNormals', depth_edges=dict(), missing='compute'),
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    elastic_distortion,
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    # inside the 10.24 m O-CNN cube (the authors dropped the points outside it)
    dict(type='FitToCube', size=10.0),
    dict(type='LoadSoftLabels', decode=False),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
# normals after grid sampling: the same outputs as lifting with normals, for less
val_pipeline = [
    dict(type='FilterDepthEdges'),
    dict(type='LiftPerspective', with_normals=False, max_depth=8.0),
    dict(type='GridSample', grid_size=grid_size, mode='test'),
    dict(type='StoredNormals', depth_edges=dict(), missing='compute'),
    dict(type='LoadSoftLabels', decode=False, with_hard_labels=True),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]

train_dataloader = dict(
    batch_size=8, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='PretrainRGBDDataset', label_dir=pseudo_label_dir,
                 source=dict(type=source_type, data_root=source_root, split_file=split_file,
                             split='train', skip_bad_frames=True,
                             pipeline=[dict(type='LoadRGBD')]),
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='PretrainRGBDDataset', label_dir=pseudo_label_dir, test_mode=True,
                 source=dict(type=source_type, data_root=source_root, split_file=split_file,
                             split='val', pipeline=[dict(type='LoadRGBD')]),
                 pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
