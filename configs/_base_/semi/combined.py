# The paper's "semi" recipe: ONE combined semi-supervised training, as the authors ran
# it (bryanyu1997/Data-Efficient-3D-Learner: LA_segmentation.py, LR_segmentation.py,
# configs/LA_scannet.yaml, configs/LR_scannet.yaml):
#   cross-entropy on the labelled points
#   + mean-teacher consistency: MSE of the softmaxes of student and EMA teacher
#     (alpha 0.999 with the 1 - 1/(t + 1) warm-up), weight 10 * exp(-5 (1 - t/30)^2),
#     on the UNLABELLED points only; the teacher predicts the student's own batch
#     (no second augmented view) in train mode (batch statistics; it keeps its own
#     BatchNorm statistics, the EMA covers the parameters only)
#   + entropy minimisation on the unlabelled points, weight 0.5 (LA, ModelNet40) or
#     0.25 (LR: LR_segmentation.py halves its entropy term, weight_sum 0.5 x 0.5)
#   + LR only: the other training scenes with their confident pseudo-labels (top 20 %
#     per predicted class and scene, pseudo_rate 0.2) as labelled data; their other
#     points are the unlabelled data.
# A task config adds it with (the same lines for every task config; MMEngine forbids two
# _base_ files defining the same key, so the model / dataset wrapping stays in the config):
#   _base_ = ['./<task config>.py', '../_base_/semi/combined.py']
#   model = dict(_base_.semi_model, model=_base_.model)          # LR: semi_model_lr
#   custom_hooks = _base_.custom_hooks + _base_.semi_hooks
#   LR:         train_dataloader = dict(dataset=dict(_base_.semi_dataset_lr,
#                   labeled=_base_.train_dataloader.dataset, pseudo_labeled=dict(
#                   label_root='work_dirs/pseudo_labels/{{fileBasenameNoExtension}}')))
#   ModelNet40: train_dataloader = dict(sampler=_base_.semi_sampler, dataset=dict(
#                   _base_.semi_dataset_shapes, labeled=_base_.train_dataloader.dataset))
# d3l's own variant (a differently augmented second view for the teacher, consistency
# on every point, as Tarvainen & Valpola): model.teacher_input='second_view',
# model.consistency_on='all' and SemiDataset(num_views=2); an eval-mode teacher with
# EMA statistics: model.teacher_bn='eval' and MeanTeacherHook(buffers='ema')
# (see docs/semi_supervised.md).
semi_entropy_weight = 0.5
semi_model = dict(
    _delete_=True,
    type='MeanTeacherEntMin',
    entropy_loss=dict(type='EntropyLoss', loss_weight=semi_entropy_weight),
    consistency_loss=dict(type='ConsistencyLoss', loss_weight=10.0),
    entropy_on='unlabeled',
    consistency_on='unlabeled',
    teacher_input='same',
    teacher_bn='train',
    test_with='student')
semi_model_lr = dict(semi_model,
                     entropy_loss=dict(type='EntropyLoss', loss_weight=semi_entropy_weight * 0.5))
semi_hooks = [
    dict(type='MeanTeacherHook', alpha=0.999, warmup=True, buffers='none'),
    dict(type='RampUpHook', target='loss_consistency.loss_weight', end=10.0, length=30,
         shape='sigmoid', by_epoch=True),
]
# LR: the labelled scenes + the other scenes on their pseudo-labels, one stream
# (the authors drew both kinds of scenes from one shuffled training list)
semi_dataset_lr = dict(_delete_=True, type='SemiDataset', num_views=1)
# written by: python tools/make_confident_pseudo_labels.py CONFIG SUPERVISED_CHECKPOINT
pseudo_label = dict(ratio=0.2, label_name='segment20.npy')
# ModelNet40: every labelled shape comes with one of the other training shapes
semi_dataset_shapes = dict(_delete_=True, type='SemiDataset', num_views=1,
                           unlabeled=dict(subset='unlabeled'))
semi_sampler = dict(_delete_=True, type='SemiSampler', num_unlabeled=1)
