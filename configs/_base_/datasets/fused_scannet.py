# Pre-training on the ScanNet training reconstructions with the 2D teacher's soft labels
# fused from each scene's own RGB-D frames (docs/fusion.md). Three steps, one config:
#   1. python tools/generate_pseudo_labels.py CONFIG   (the teacher on every 10th frame)
#   2. python tools/fuse_soft_labels.py CONFIG         (frame labels -> scene vertices)
#   3. python tools/train.py CONFIG                    (FusedSceneDataset)
# No 3D label is read: FusedSceneDataset drops the scenes' segment20.
# Limited Reconstructions: only the listed scenes' reconstructions may be used; fuse onto
# them alone (+fusion.scenes.lr_file=... and the same for train_dataloader.dataset.scenes)
# and keep the other scenes' RGB-D frames as single-view pre-training data (docs/fusion.md).
custom_imports = dict(imports=['d3l.fusion', 'd3l.datasets.fused_scene'],
                      allow_failed_imports=False)
scannet_root = 'data/scannet'                  # Pointcept scenes: {train,val}/<scene>/coord.npy
frames_root = 'data/scannet'                   # SensReader exports: scans/<scene>/{color,...}
train_scene_list = 'data/scannet/meta/scannetv2_train.txt'
frame_label_dir = 'data/pseudo_labels/dpt-ade20k_scannet-frames'
fused_label_dir = 'data/pseudo_labels/dpt-ade20k_scannet-fused'
grid_size = 0.02
feat_keys = ('colors', 'normals')
elastic_distortion = dict(type='ElasticDistortion', params=((1.024, 2.048), (4.096, 8.192)),
                          smoothing_passes=2, prob=0.95)
# every 10th frame (3 per second of the 30 fps video), in the aligned scene coordinates
frames = dict(type='ScanNetFramesDataset', data_root=frames_root, split_file=train_scene_list,
              frame_skip=10, axis_align=True, pipeline=[dict(type='LoadRGBD')])
scenes = dict(type='ScanNetDataset', data_root=scannet_root, split='train')

pseudo_label_cfg = dict(
    source=frames, out_dir=frame_label_dir,
    codec=dict(topk=3, prob_dtype='float16'),
    stride=1,                                  # 640 x 480 depth grid: one label per pixel
    shard_size=64)
fusion = dict(
    type='SoftLabelFuser', scenes=scenes, frames=frames, frame_label_dir=frame_label_dir,
    codec=dict(topk=3, prob_dtype='float16'),
    abs_tolerance=0.05, rel_tolerance=0.02,    # the depth test (docs/fusion.md)
    max_depth=6.0)                             # beyond, ScanNet's depth is too noisy
fused_label_cfg = dict(out_dir=fused_label_dir, shard_size=4)

train_pipeline = [
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    elastic_distortion,
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    dict(type='RandomChunkCrop', chunk_size=10.0, mode='random', min_points=1),
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    dict(type='LimitPoints', max_points=120000, mode='sphere'),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='FusedSceneDataset', scenes=scenes, label_dir=fused_label_dir,
                 min_views=1, pipeline=train_pipeline))
val_pipeline = [
    dict(type='GridSample', grid_size=grid_size, mode='test'),
    dict(type='LimitPoints', max_points=200000, mode='center'),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
# agreement with the fused teacher top-1 on the first 12 training scenes, unaugmented: it
# follows the fit; the val scenes are the fine-tuning benchmark's and are not fused
val_dataloader = dict(
    batch_size=1, num_workers=2, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type='FusedSceneDataset', scenes=scenes, label_dir=fused_label_dir,
                 indices=12, with_hard_labels=True, test_mode=True, pipeline=val_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
