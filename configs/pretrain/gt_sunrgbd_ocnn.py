# Ablation ("oracle" teacher): pre-train on SUN RGB-D's ground-truth 2D labels (37
# classes, label smoothing 0.1) instead of DPT's predictions.
# Labels: one PNG per frame, <gt_label_root>/<frame_id>.png, values 1..37 (0 = unlabelled),
# e.g. exported from the toolbox's SUNRGBD2Dseg.mat (seglabel mapped to seg37list).
#   python tools/generate_pseudo_labels.py configs/pretrain/gt_sunrgbd_ocnn.py
#   python tools/train.py configs/pretrain/gt_sunrgbd_ocnn.py
_base_ = ['./dpt_sunrgbd_ocnn.py']
gt_label_root = 'data/sunrgbd/seg37'
sunrgbd37_classes = (
    'wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window',
    'bookshelf', 'picture', 'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser',
    'pillow', 'mirror', 'floor_mat', 'clothes', 'ceiling', 'books', 'fridge', 'tv', 'paper',
    'towel', 'shower_curtain', 'box', 'whiteboard', 'person', 'night_stand', 'toilet', 'sink',
    'lamp', 'bathtub', 'bag')
teacher = dict(
    _delete_=True, type='PrecomputedTeacher', class_names=sunrgbd37_classes, source='files',
    root=gt_label_root, pattern='{frame_id}.png', kind='labels', label_smoothing=0.1,
    # stored 1..37 -> classes 0..36; 0 (unlabelled) is not mapped -> no label
    label_map={i: i - 1 for i in range(1, 38)})
pseudo_label_dir = 'data/pseudo_labels/gt-seg37_sunrgbd'
pseudo_label_cfg = dict(out_dir=pseudo_label_dir,
                        # one-hot + smoothing: the top-1 carries the information
                        codec=dict(topk=1, prob_dtype='float16'))
train_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
val_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
test_dataloader = val_dataloader
model = dict(decode_head=dict(num_classes=37))
