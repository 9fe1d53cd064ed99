# The 2D teacher shipped with d3l (d3l/model_zoo, docs/model_zoo.md): a small DPT-Hybrid
# trained once, from scratch, on the teacher corpus (photos and panorama crops of
# synthetic rooms from world seeds >= 1000, which no demo or evaluation uses), as the
# paper's DPT is trained once on ADE20K. Reproduce (docs/model_zoo.md has the timings):
#   python tools/make_teacher_corpus.py --out data/teacher_corpus --workers 2
#   python tools/train.py configs/demo/dpt-hybrid_scratch_synthetic-corpus_seg2d.py
#   python tools/export_zoo_teacher.py work_dirs/<this config>/iter_N.pth OUT.pth
_base_ = [
    # the model lives in the package, next to the checkpoint (an installed d3l has no configs/)
    '../../d3l/model_zoo/dpt-hybrid_synthetic-corpus.py',
    './_base_/datasets/synthetic_seg2d.py',
]
default_scope = 'mmseg'
data_root = 'data/teacher_corpus'

# scale jitter around the photos' size (panorama crops are ~64 x 64 and fed unresized)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', reduce_zero_label=False),
    dict(type='RandomResize', scale=(128, 96), ratio_range=(0.6, 1.4), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 128), cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    # mild: the demo's frames come from the same renderer
    dict(type='PhotoMetricDistortion', brightness_delta=16, contrast_range=(0.8, 1.2),
         saturation_range=(0.8, 1.2), hue_delta=6),
    dict(type='PackSegInputs'),
]
train_dataloader = dict(
    batch_size=8,
    dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(batch_size=8, dataset=dict(data_root=data_root))
test_dataloader = val_dataloader

# ~25 min at one thread of the shared 2-core machine (1.2-2.7 s per iteration)
max_iters = 700
val_interval = 350
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=val_interval)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
# (no type: MMEngine's default OptimWrapper, which takes paramwise_cfg through its constructor)
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=5e-4, betas=(0.9, 0.999), weight_decay=0.01),
    clip_grad=dict(max_norm=5.0),
    # the thin DPT head learns 4x faster than the ViT (from scratch it lags behind otherwise)
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=4.0)}))
# end=None: until train_cfg.max_iters (tools/train.py fills it in)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=30),
    dict(type='PolyLR', power=1.0, eta_min=1e-5, by_epoch=False, begin=30, end=None),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    # frequent checkpoints: a partial run is a usable teacher
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=100, max_keep_ckpts=3,
                    save_last=True),
    sampler_seed=dict(type='DistSamplerSeedHook'),
    visualization=dict(type='SegVisualizationHook'))
env_cfg = dict(cudnn_benchmark=False, mp_cfg=dict(mp_start_method='fork', opencv_num_threads=0),
               dist_cfg=dict(backend='nccl'))
vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(type='SegLocalVisualizer', vis_backends=vis_backends, name='visualizer')
log_processor = dict(by_epoch=False)
log_level = 'INFO'
load_from = None
resume = False
randomness = dict(seed=0)
