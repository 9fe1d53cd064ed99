# Synthetic world, Limited Reconstructions (5 % of the training rooms: 10 of the default
# preset's 200, every point labelled), the small sparse U-Net trained from scratch (see
# segmentor_scratch_synthetic-scannet_spunet_la20.py). By hand:
#   python tools/make_data_efficient_splits.py scannet-lr --data-root data/synthetic/scannet \
#       --percent 5
_base_ = ['./segmentor_scratch_synthetic-scannet_spunet_la20.py']
train_dataloader = dict(dataset=dict(la_file=None,
                                     lr_file='data/synthetic/scannet/tasks/scenes/5.txt'))
