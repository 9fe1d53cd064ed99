# ModelNet40 with 5% of the training shapes of every category, from scratch.
_base_ = ['./classifier_scratch_modelnet40_ocnn_1pct.py']
train_dataloader = dict(
    dataset=dict(subset_file='data/modelnet40_normal_resampled/data_efficient/'
                             'modelnet40_train_5pct.txt'))
