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
    './_base_/recipes/pretrainer_dpt-synthetic_synthetic-rgbd.py',
    './_base_/models/spunet_small.py',
]
# the 30 classes of the teacher (num_teacher_classes of the recipe)
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=30),  # dropped after pre-training
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
