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
    shard_size=64,
    # per-pixel normals stored beside the labels (PCA 5x5, no depth-edge filter, as
    # train_pipeline), read by StoredNormals instead of estimated per sample: 25-50 ms
    # less per sample
    # (docs/data_path_speed.md); ~4 bytes per pixel
    normals=dict(method='pca', window=5, depth_edges=None))

# Order (issue 16): lift, grid-sample and cap the points, then normals and the
# augmentations on the kept points (120k of ~450k per panorama), so that the plane fits,
# the turns and the elastic distortion run on 25 % of the points: 815 -> 196 ms CPU per
# sample, with the faster transforms of the same commit (docs/data_path_speed.md).
# Pointcept and the authors augment first and grid-sample last; here the 2 cm voxels are
# taken in the panorama's frame before the random turn and scale (the backbone voxelises
# the augmented points again), and the 120k-point sphere before the 10 m cube: a
# different but equally random augmentation, the distortion's field being smooth at
# 1-8 m, far above the 2 cm grid.
train_pipeline = [
    dict(type='LiftEquirect', with_normals=False, max_depth=10.0),
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    dict(type='LimitPoints', max_points=120000, mode='sphere'),
    # the kept points' normals, stored at labelling time (pseudo_label_cfg.normals): those
    # DepthNormals gives within 0.005 deg; a store without them: DepthNormals (logged)
    dict(type='StoredNormals', depth_edges=None, missing='compute'),
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    elastic_distortion,
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    # inside the 10.24 m O-CNN cube (the authors dropped the points outside it)
    dict(type='FitToCube', size=10.0),
    # decode on the GPU: 9 bytes per point through the data loader instead of 600
    dict(type='LoadSoftLabels', decode=False),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
# normals after grid sampling: the same outputs as lifting with normals, for less
val_pipeline = [
    dict(type='LiftEquirect', with_normals=False, max_depth=10.0),
    dict(type='GridSample', grid_size=grid_size, mode='test'),
    dict(type='LimitPoints', max_points=200000, mode='center'),
    dict(type='StoredNormals', depth_edges=None, missing='compute'),
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
