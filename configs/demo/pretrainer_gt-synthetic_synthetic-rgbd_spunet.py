# Ablation ("oracle" teacher) of the embedded benchmark: pre-train on the synthetic RGB-D
# frames' ground-truth 2D labels (the teacher's 30 classes, one-hot with label smoothing)
# instead of a DPT's predictions, as configs/pretrain/gt_sunrgbd_ocnn.py does on
# SUN RGB-D. It separates what the 2D teacher's quality costs from what the method can
# give: python tools/demo.py --teacher oracle runs it in place of the DPT stages.
_base_ = [
    './_base_/recipes/pretrainer_gt-synthetic_synthetic-rgbd.py',
    './_base_/models/spunet_small.py',
]
# the 30 classes of the teacher (num_teacher_classes of the recipe)
model = dict(
    type='Pretrainer',
    decode_head=dict(num_classes=30),  # dropped after pre-training
    loss=dict(_delete_=True, type='SoftCrossEntropyLoss'))
