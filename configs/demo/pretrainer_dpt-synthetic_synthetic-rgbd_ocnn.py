# Pre-train the small O-CNN U-Net on the synthetic 2D teacher's soft labels (30 classes)
# of the synthetic world's RGB-D frames and panoramas, as configs/pretrain/ does with DPT
# on ADE20K and Matterport3D / SUN RGB-D (demo version 2; tools/demo.py now runs
# pretrainer_dpt-synthetic_synthetic-rgbd_spunet.py). By hand (WORLD = the world folder,
# TEACHER = the teacher checkpoint):
#   1. python tools/generate_pseudo_labels.py THIS_CONFIG --cfg-options \
#          teacher.checkpoint=TEACHER pseudo_label_cfg.source.data_root=WORLD/rgbd
#   2. python tools/train.py THIS_CONFIG --cfg-options \
#          train_dataloader.dataset.source.data_root=WORLD/rgbd
#   3. python tools/export_backbone.py work_dirs/<this config>/iter_N.pth \
#          checkpoints/d3l_dpt-synthetic_ocnn.pth    (load_from of the dpt-synthetic configs)
_base_ = [
    './_base_/recipes/pretrainer_dpt-synthetic_synthetic-rgbd.py',
    './_base_/models/ocnn_unet_small.py',
]
# the teacher of configs/demo/dpt_scratch_synthetic-seg2d_vit-tiny.py, trained on the
# world's labelled photos; panoramas go to it as perspective crops (it saw photos only)
teacher = dict(
    config='configs/demo/dpt_scratch_synthetic-seg2d_vit-tiny.py',
    checkpoint='work_dirs/dpt_scratch_synthetic-seg2d_vit-tiny/iter_1200.pth',
)
# the 30 classes of the teacher (num_teacher_classes of the recipe)
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=30),  # dropped after pre-training
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
