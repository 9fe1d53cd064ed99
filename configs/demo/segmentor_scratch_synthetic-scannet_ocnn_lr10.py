# Synthetic world, Limited Reconstructions (10 % of the training scenes: 2 of the default
# preset's 24 rooms, every point labelled), the small O-CNN U-Net trained from scratch
# (see segmentor_scratch_synthetic-scannet_ocnn_la20.py). By hand:
#   python tools/make_data_efficient_splits.py scannet-lr --data-root data/synthetic/scannet
_base_ = ['./segmentor_scratch_synthetic-scannet_ocnn_la20.py']
train_dataloader = dict(dataset=dict(la_file=None,
                                     lr_file='data/synthetic/scannet/tasks/scenes/10.txt'))
