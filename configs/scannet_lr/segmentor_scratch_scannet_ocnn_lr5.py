# ScanNet Limited Reconstructions (5% of the training scenes), O-CNN U-Net from scratch.
_base_ = ['./segmentor_scratch_scannet_ocnn_lr1.py']
train_dataloader = dict(dataset=dict(lr_file='data/scannet/tasks/scenes/5.txt'))
