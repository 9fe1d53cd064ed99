# ShapeNet part segmentation (16 categories, 50 parts; official split: train+val for
# training, test for evaluation). Shapes are normalised as O-CNN does and turned z-up;
# colours are a constant grey (6-channel input convention). Part mIoU is computed over
# each shape's own category parts, with the prediction restricted to them (the model
# needs return_probs=True). Data-efficient configs set train_dataloader.dataset.subset_file.
dataset_type = 'ShapeNetPartDataset'
data_root = 'data/shapenetcore_partanno_segmentation_benchmark_v0_normal'
feat_keys = ('colors', 'normals')

train_pipeline = [
    dict(type='RandomRotate', angle_range=(-0.2617993877991494, 0.2617993877991494),
         tilt_range=(0.0, 0.0)),  # +-15 degrees about the up axis
    dict(type='RandomScale', scale_range=(0.8, 1.25), anisotropic=True),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
test_pipeline = [dict(type='PackPointInputs', feat_keys=feat_keys)]
# tools/test.py --tta: vote over turns of -15, 0 and +15 degrees about the up axis
tta_pipeline = [
    dict(type='mmcv.TestTimeAug', transforms=[
        [dict(type='RandomRotate', angle_range=(a * 0.2617993877991494,) * 2,
              tilt_range=(0.0, 0.0)) for a in (-1, 0, 1)],
        [dict(type='PackPointInputs', feat_keys=feat_keys)],
    ]),
]
tta_model = dict(type='VotingModel')

train_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='trainval',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=32, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='test',
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='PartSegMetric')
test_evaluator = val_evaluator
