# ScanNet v2 semantic segmentation, 20 benchmark classes, full training set.
# Data: Pointcept's preprocessed layout ({data_root}/{train,val,test}/{scene}/coord.npy ...),
# written by tools/data_converters/scannet.py (see docs/data_preparation.md).
# Evaluation covers every vertex of the val scenes (GridSample keeps the inverse map).
# LA / LR configs set train_dataloader.dataset.la_file / lr_file (LA: and la_train_pipeline).
# Elastic distortion as in the authors' code (datasets/scannet.py): ((0.2, 0.4), (0.8, 1.6))
# applied to coordinates divided by 5.12 with two smoothing passes, here in metres. The
# metric values of Pointcept / MinkowskiEngine (5.12x smaller, 3 passes) are
# elastic_distortion_metric.
elastic_distortion = dict(type='ElasticDistortion', params=((1.024, 2.048), (4.096, 8.192)),
                          smoothing_passes=2, prob=0.95)
elastic_distortion_metric = dict(type='ElasticDistortion', params=((0.2, 0.4), (0.8, 1.6)),
                                 smoothing_passes=3, prob=0.95)
dataset_type = 'ScanNetDataset'
data_root = 'data/scannet'
grid_size = 0.02  # metres, the paper's 2 cm voxels / octree leaves
feat_keys = ('colors', 'normals')
cube_crop = 10.0  # metres, inside the 10.24 m octree cube of ocnn_unet.py

train_pipeline = [
    dict(type='RandomRotate', angle_range=(-3.141592653589793, 3.141592653589793),
         tilt_range=(-0.04908738521234052, 0.04908738521234052)),  # any yaw, tilt <= pi/64
    dict(type='RandomScale', scale_range=(0.9, 1.1)),
    dict(type='RandomFlip', axes=('x', 'y'), flip_prob=0.5),
    elastic_distortion,
    dict(type='ChromaticAutoContrast', prob=0.2),
    dict(type='ChromaticJitter', std=0.05, prob=0.95),
    # a turned, scaled, distorted room may outgrow the O-CNN cube (10.24 m, ocnn_unet.py);
    # the authors dropped the points outside it, here a 10 m box is kept
    dict(type='FitToCube', size=cube_crop),
    dict(type='GridSample', grid_size=grid_size, mode='train'),
    dict(type='LimitPoints', max_points=120000, mode='sphere'),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
# Limited Annotations: the voxel sampling and the crop keep every annotated point (an
# annotated vertex would otherwise be dropped whenever another vertex of its 2 cm voxel is
# drawn), as the authors' O-CNN, which predicts every vertex; LA configs use this one.
la_train_pipeline = [
    dict(t, keep_labeled=True) if t['type'] in ('FitToCube', 'GridSample', 'LimitPoints')
    else t for t in train_pipeline]
test_pipeline = [
    dict(type='GridSample', grid_size=grid_size, mode='test', return_inverse=True),
    dict(type='PackPointInputs', feat_keys=feat_keys),
]
# tools/test.py --tta: average the class probabilities of the scene turned by 0, 90, 180
# and 270 degrees about the up axis (each copy voxelised anew and mapped back to every vertex)
tta_pipeline = [
    dict(type='mmcv.TestTimeAug', transforms=[
        [dict(type='RandomRotate', angle_range=(a * 1.5707963267948966,) * 2,
              tilt_range=(0.0, 0.0)) for a in range(4)],
        [dict(type='GridSample', grid_size=grid_size, mode='test', return_inverse=True)],
        [dict(type='PackPointInputs', feat_keys=feat_keys)],
    ]),
]
tta_model = dict(type='VotingModel')

train_dataloader = dict(
    batch_size=4, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=True),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='train',
                 pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=1, num_workers=4, persistent_workers=True,
    sampler=dict(type='DefaultSampler', shuffle=False),
    collate_fn=dict(type='d3l.point_collate'),
    dataset=dict(type=dataset_type, data_root=data_root, split='val',
                 pipeline=test_pipeline, test_mode=True))
test_dataloader = val_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
