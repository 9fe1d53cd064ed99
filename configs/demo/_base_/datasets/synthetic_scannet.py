# The synthetic world's 3D scenes (d3l.benchmark.world.build_world writes them under
# <world>/scannet in ScanNet's Pointcept layout, the same 20 class ids), read by the real
# ScanNet dataset config, CPU-sized: training sees whole rooms (~15k points) without
# voxel subsampling, since the networks of configs/demo average the points of each voxel
# (10 cm) or octree leaf anyway and subsampling would drop most of the 20 annotated points
# of a Limited Annotations scene. Evaluation scores every point of the val scenes
# (GridSample keeps the inverse map). LA / LR configs set la_file / lr_file.
_base_ = ['../../../_base_/datasets/scannet.py']
data_root = 'data/synthetic/scannet'
grid_size = 0.04  # test-time subsampling only, finer than the networks' voxels
max_train_points = 40000
feat_keys = ('colors', 'normals')

train_pipeline = [
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    dict(type='LimitPoints', max_points=max_train_points, mode='sphere'),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
test_pipeline = [
    dict(type='GridSample', grid_size=grid_size, mode='test', return_inverse=True),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
tta_pipeline = [
    dict(type='mmcv.TestTimeAug', transforms=[
        [dict(type='RandomRotate', angle_range=(a * 1.5707963267948966,) * 2,
              tilt_range=(0.0, 0.0)) for a in range(4)],
        [dict(type='GridSample', grid_size=grid_size, mode='test', return_inverse=True)],
        [dict(type='PackPointInputs', feat_keys=feat_keys)],
    ]),
]
# a few small scenes: loading in the main process is cheaper than starting workers.
# InfiniteSampler: the demo's schedules count iterations, and MMEngine pauses 2 s each
# time it restarts a finite sampler's data loader (every iteration for a 2-scene LR split)
train_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
# 8 val rooms per forward: a third less CPU than one (spconv's per-layer Python overhead is
# shared; the rooms stay separate clouds, so their predictions are the same)
val_dataloader = dict(
    batch_size=8, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
