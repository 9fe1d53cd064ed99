# ScanNet Limited Reconstructions (20% of the training scenes), SparseConv U-Net from scratch.
_base_ = ['./segmentor_scratch_scannet_spconv_lr1.py']
train_dataloader = dict(dataset=dict(lr_file='data/scannet/tasks/scenes/20.txt'))
