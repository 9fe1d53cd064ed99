# Pre-training source: the synthetic world's RGB-D (d3l.benchmark.world.build_world
# writes <world>/rgbd/{perspective,panorama}/roomNNNN in RGBDFolderDataset's layout:
# perspective frames with z-depth and intrinsics, equirectangular panoramas with the
# distance along the ray, each folder's camera.json says which), lifted to point clouds,
# with the 2D teacher's soft labels stored by
#   python tools/generate_pseudo_labels.py CONFIG
# The frames' label/ images (ground truth) are never read here: LoadRGBD(with_labels=False).
# CPU-sized like the demo's scenes: no voxel subsampling (the 3D networks of configs/demo
# average the points of each voxel or octree leaf).
source_type = 'RGBDFolderDataset'
source_root = 'data/synthetic/rgbd'
pseudo_label_dir = 'data/pseudo_labels/dpt-synthetic_synthetic-rgbd'
max_train_points = 40000
feat_keys = ('colors', 'normals')
load_pipeline = [dict(type='LoadRGBD', with_labels=False)]

pseudo_label_cfg = dict(
    source=dict(type=source_type, data_root=source_root, pipeline=load_pipeline),
    out_dir=pseudo_label_dir,
    # top-3 classes, fp16 probabilities; small images: one label per pixel
    codec=dict(topk=3, prob_dtype='float16'),
    stride=1,
    shard_size=64)

train_pipeline = [
    # LiftRGBD: perspective frames and panoramas in one dataset
    dict(type='LiftRGBD', with_normals=True, max_depth=10.0),
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    dict(type='LimitPoints', max_points=max_train_points, mode='sphere'),
    dict(type='LoadSoftLabels', decode=False),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]

train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    # iteration-based schedule: no 2 s pause of MMEngine at each data loader restart
    sampler=dict(type='InfiniteSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='PretrainRGBDDataset', label_dir=pseudo_label_dir,
                 source=dict(type=source_type, data_root=source_root, skip_bad_frames=True,
                             pipeline=load_pipeline),
                 pipeline=train_pipeline))
# no held-out frames (configs using this piece set val_cfg = test_cfg = None): the demo
# scores the pre-trained network where it matters, after fine-tuning on the 3D task
val_dataloader = None
val_evaluator = None
test_dataloader = None
test_evaluator = None
