# The oracle ablation of the demo's pre-training recipe (without the network): the
# synthetic RGB-D frames' ground-truth 2D labels (the teacher's 30 classes, one-hot with
# label smoothing) instead of a DPT's predictions, as configs/pretrain/gt_sunrgbd_ocnn.py
# does on SUN RGB-D.
_base_ = ['./pretrainer_dpt-synthetic_synthetic-rgbd.py']
# d3l.benchmark.world.CLASSES_2D (tests/test_benchmark/test_demo.py keeps them in sync)
synthetic_2d_classes = (
    'wall', 'floor', 'ceiling', 'rug', 'bed', 'pillow', 'sofa', 'cushion', 'chair', 'leg',
    'table', 'desk', 'cabinet', 'shelf', 'book', 'door', 'window', 'curtain', 'picture',
    'mirror', 'lamp', 'countertop', 'refrigerator', 'sink', 'toilet', 'bathtub', 'tv',
    'stool', 'bin', 'box')
teacher = dict(_delete_=True, type='PrecomputedTeacher', class_names=synthetic_2d_classes,
               source='sample', label_key='pixel_labels', kind='labels', label_smoothing=0.1)
pseudo_label_dir = 'data/pseudo_labels/gt-synthetic_synthetic-rgbd'
# the frames' label/ images are read for the teacher only; training reads the stored labels
pseudo_label_cfg = dict(
    source=dict(pipeline=[dict(type='LoadRGBD', with_labels=True)]),
    out_dir=pseudo_label_dir,
    codec=dict(topk=1, prob_dtype='float16'))
train_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
