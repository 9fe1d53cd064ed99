# The embedded benchmark's 2D teacher: a small mmseg DPT trained from scratch on the
# synthetic world's labelled images (30 ADE20K-like classes), as DPT is trained on
# ADE20K in the paper. Train and evaluate it like any config:
#   python tools/train.py configs/demo/dpt_scratch_synthetic-seg2d_vit-tiny.py \
#       --cfg-options train_dataloader.dataset.data_root=WORLD/seg2d \
#       val_dataloader.dataset.data_root=WORLD/seg2d test_dataloader.dataset.data_root=WORLD/seg2d
# then use work_dirs/.../iter_N.pth as MMSegTeacher's checkpoint with this config.
_base_ = ['./_base_/models/dpt_vit-tiny.py', './_base_/datasets/synthetic_seg2d.py']
default_scope = 'mmseg'

max_iters = 1200
train_cfg = dict(type='IterBasedTrainLoop', max_iters=max_iters, val_interval=max_iters)
val_cfg = dict(type='ValLoop')
test_cfg = dict(type='TestLoop')
optim_wrapper = dict(
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.01),
    paramwise_cfg=dict(custom_keys=dict(pos_embed=dict(decay_mult=0.0),
                                        cls_token=dict(decay_mult=0.0),
                                        norm=dict(decay_mult=0.0))))
# end=None: until train_cfg.max_iters (tools/train.py fills it in)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.05, by_epoch=False, begin=0, end=20),
    dict(type='PolyLR', power=1.0, eta_min=1e-5, by_epoch=False, begin=20, end=None),
]

default_hooks = dict(
    timer=dict(type='IterTimerHook'),
    logger=dict(type='LoggerHook', interval=50, log_metric_by_epoch=False),
    param_scheduler=dict(type='ParamSchedulerHook'),
    checkpoint=dict(type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1,
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
