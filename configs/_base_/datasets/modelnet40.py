# ModelNet40 classification (official 9,843 / 2,468 split, modelnet40_normal_resampled).
# Shapes are normalised as O-CNN does (bounding-box sphere of radius 0.8) and turned
# z-up like d3l's scenes; colours are a constant grey so that the 6-channel
# ('colors', 'normals') input of scene pre-training transfers unchanged.
# Data-efficient configs set train_dataloader.dataset.subset_file.
dataset_type = 'ModelNet40Dataset'
data_root = 'data/modelnet40_normal_resampled'
feat_keys = ('colors', 'normals')

train_pipeline = [
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(0.0, 0.0)),  # about the up axis, as PointNet++ / O-CNN
    dict(type='RandomScale', scale_range=(0.8, 1.25), anisotropic=True),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
test_pipeline = [dict(type='PackPointInputs', feat_keys=feat_keys)]
# tools/test.py --tta: vote over 8 turns of 45 degrees about the up axis
tta_pipeline = [
    dict(type='mmcv.TestTimeAug', transforms=[
        [dict(type='RandomRotate', angle_range=(a * 0.7853981633974483,) * 2,
              tilt_range=(0.0, 0.0)) for a in range(8)],
        [dict(type='PackPointInputs', feat_keys=feat_keys)],
    ]),
]
tta_model = dict(type='VotingModel')

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='ClsAccuracy')
test_evaluator = val_evaluator
