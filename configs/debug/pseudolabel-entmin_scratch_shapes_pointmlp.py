# Confident pseudo-labels + entropy minimisation on the smallest end-to-end run.
#   1. train the supervised config (segmentor_scratch_shapes_pointmlp.py);
#   2. python tools/make_confident_pseudo_labels.py THIS_CONFIG work_dirs/.../epoch_2.pth
#      labels the unlabelled scenes (top 20 % per class) into pseudo_label.out_dir;
#   3. python tools/train.py THIS_CONFIG trains on labelled + pseudo-labelled
#      scenes, with entropy minimisation on the points left unlabelled.
_base_ = ['./segmentor_scratch_shapes_pointmlp.py', '../_base_/semi/entmin.py']
unlabeled_scenes = dict(_base_.train_dataloader.dataset, seed=100)
pseudo_label = dict(
    dataset=dict(unlabeled_scenes, pipeline=_base_.test_pipeline, test_mode=True),
    out_dir='work_dirs/pseudo_labels/shapes_seed100', ratio=0.2, label_name='segment20.npy')
model = dict(_delete_=True, type='MeanTeacherEntMin', model=_base_.model,
             entropy_loss=_base_.entmin_loss)
train_dataloader = dict(
    sampler=dict(_delete_=True, type='SemiSampler', num_unlabeled=1),
    dataset=dict(
        _delete_=True, type='SemiDataset',
        labeled=[_base_.train_dataloader.dataset,
                 dict(type='PseudoLabelDataset', dataset=unlabeled_scenes,
                      label_root=pseudo_label['out_dir'])],
        unlabeled=unlabeled_scenes))
