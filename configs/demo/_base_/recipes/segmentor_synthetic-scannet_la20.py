# The demo's fine-tuning recipe without the network (the *_ocnn_la20 / *_spunet_la20
# configs add theirs): the synthetic world's 3D scenes, Limited Annotations (20 annotated
# points per training room), the SGD poly schedule in iterations.
_base_ = [
    '../../../_base_/default_runtime.py',
    '../schedules/sgd_poly_iters.py',
    '../datasets/synthetic_scannet.py',
]
train_dataloader = dict(dataset=dict(la_file='data/synthetic/scannet/tasks/points/points20'))
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(by_epoch=False, interval=-1,
                                                                save_last=True))
log_processor = dict(by_epoch=False)
