# Variant of dpt_matterport_spconv.py: the teacher labels every panorama as 24 stitched
# 90-degree perspective crops (8 yaws x 3 pitches) instead of the whole equirectangular
# image (DPT was trained on perspective photos; see docs/reproduce.md for when each is
# preferable). Its own label folder: the two label sets differ.
#   python tools/generate_pseudo_labels.py configs/pretrain/dpt-crops_matterport_spconv.py
#   python tools/train.py configs/pretrain/dpt-crops_matterport_spconv.py
_base_ = ['./dpt_matterport_spconv.py']
teacher = dict(panorama=dict(mode='crops', fov=90, yaws=8, pitches=(-60, 0, 60)))
pseudo_label_dir = 'data/pseudo_labels/dpt-ade20k-crops_matterport'
pseudo_label_cfg = dict(out_dir=pseudo_label_dir)
train_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
val_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
test_dataloader = val_dataloader
