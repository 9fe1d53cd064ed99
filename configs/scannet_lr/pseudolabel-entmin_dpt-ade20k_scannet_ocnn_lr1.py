# Confident pseudo-labels + entropy minimisation for ScanNet LR 1%, on top of
# segmentor_dpt-ade20k_scannet_ocnn_lr1.py:
#   1. train segmentor_dpt-ade20k_scannet_ocnn_lr1.py (the supervised run);
#   2. python tools/make_confident_pseudo_labels.py THIS_CONFIG <its checkpoint>
#      keeps per scene and class the 20% most confident points of the other
#      training scenes (pseudo_label.out_dir; ground truth is never touched);
#   3. python tools/train.py THIS_CONFIG trains on the labelled and the
#      pseudo-labelled scenes, with entropy minimisation on the points left
#      without a label.
_base_ = ['./segmentor_dpt-ade20k_scannet_ocnn_lr1.py', '../_base_/semi/entmin.py']
unlabeled_scenes = dict(_base_.train_dataloader.dataset, subset='unlabeled')
pseudo_label = dict(
    dataset=dict(unlabeled_scenes, pipeline=_base_.test_pipeline, test_mode=True),
    out_dir='work_dirs/pseudo_labels/pseudolabel-entmin_dpt-ade20k_scannet_ocnn_lr1',
    ratio=0.2, label_name='segment20.npy')
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             entropy_loss=_base_.entmin_loss)
train_dataloader = dict(dataset=dict(
    _delete_=True, type='SemiDataset',
    labeled=[_base_.train_dataloader.dataset,
             dict(type='PseudoLabelDataset', dataset=unlabeled_scenes,
                  label_root=pseudo_label['out_dir'])]))
