# The paper's exact pre-training teacher: dpt_matterport_spconv.py with isl-org DPT-Hybrid
# (ADE20K), the checkpoint the authors used, instead of mmseg's DPT ViT-B/16 (both 150
# ADE20K classes; convert the checkpoint first, see configs/_base_/teachers/dpt-hybrid_ade20k.py).
# The whole panorama goes to the teacher (DPT resizes 1024 x 512 to 960 x 480).
#   1. python tools/generate_pseudo_labels.py configs/pretrain/dpt-hybrid_matterport_spconv.py
#   2. python tools/train.py configs/pretrain/dpt-hybrid_matterport_spconv.py
#   3. python tools/export_backbone.py work_dirs/dpt-hybrid_matterport_spconv/epoch_80.pth \
#          checkpoints/d3l_dpt-ade20k_spconv.pth   (load_from of the dpt-ade20k fine-tuning configs)
_base_ = ['./dpt_matterport_spconv.py']
# the teacher of ../_base_/teachers/dpt-hybrid_ade20k.py (a second teacher base would clash
# with the one dpt_matterport_spconv.py inherits)
teacher = dict(_delete_=True, type='HFTeacher', model_dir='checkpoints/dpt-hybrid_ade20k_hf',
               size='config', temperature=1.0, panorama='whole')
pseudo_label_dir = 'data/pseudo_labels/dpt-hybrid-ade20k_matterport'
pseudo_label_cfg = dict(out_dir=pseudo_label_dir)
train_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
val_dataloader = dict(dataset=dict(label_dir=pseudo_label_dir))
test_dataloader = val_dataloader
