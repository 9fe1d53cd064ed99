# Pre-train the small sparse U-Net on the soft labels (30 classes) of the 2D teacher shipped
# with d3l (d3l.model_zoo.SYNTHETIC_DPT, docs/model_zoo.md) on the synthetic world's RGB-D
# frames and panoramas, as configs/pretrain/ does with DPT on ADE20K and Matterport3D /
# SUN RGB-D. tools/demo.py runs the three steps with the world's paths; by hand (WORLD =
# the world folder):
#   1. python tools/generate_pseudo_labels.py THIS_CONFIG --cfg-options \
#          pseudo_label_cfg.source.data_root=WORLD/rgbd
#   2. python tools/train.py THIS_CONFIG --cfg-options \
#          train_dataloader.dataset.source.data_root=WORLD/rgbd
#   3. python tools/export_backbone.py work_dirs/<this config>/iter_N.pth \
#          checkpoints/d3l_dpt-synthetic_spunet.pth    (load_from of the dpt-synthetic configs)
_base_ = [
    '../_base_/default_runtime.py',
    './_base_/schedules/sgd_poly_iters.py',
    './_base_/models/spunet_small.py',
    './_base_/datasets/synthetic_rgbd_pretrain.py',
    '../_base_/teachers/dpt_vit-b16_ade20k.py',
]
# the shipped teacher (tools/demo.py checks its sha256 with d3l.model_zoo.zoo_checkpoint;
# --teacher train swaps in configs/demo/dpt_scratch_synthetic-seg2d_vit-tiny.py trained
# on the world's photos); panoramas go to it as perspective crops, as in its corpus
teacher = dict(
    config='d3l/model_zoo/dpt-hybrid_synthetic-corpus.py',
    checkpoint='d3l/model_zoo/dpt-hybrid_synthetic-corpus.pth',
    scale=None,
    panorama=dict(mode='crops', fov=90, yaws=8, pitches=(-60, 0, 60)))
num_teacher_classes = 30
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=num_teacher_classes),  # dropped after pre-training
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
max_iters = 1000
optim_wrapper = dict(optimizer=dict(lr=0.05))
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
val_cfg = None
test_cfg = None
default_hooks = dict(logger=dict(interval=50), checkpoint=dict(by_epoch=False, interval=-1,
                                                                save_last=True))
log_processor = dict(by_epoch=False)
