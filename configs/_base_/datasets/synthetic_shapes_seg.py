# Seeded primitive-shape scenes (d3l.datasets.synthetic_shapes): a tiny dataset
# that needs no download, for smoke tests and quick experiments.
dataset_type = 'SyntheticShapesDataset'
train_pipeline = [dict(type='PackPointInputs', feat_keys=('colors', 'normals'))]
test_pipeline = train_pipeline

train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, task='seg', num_samples=16, num_points=512, seed=0,
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, task='seg', num_samples=8, num_points=512, seed=1,
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
