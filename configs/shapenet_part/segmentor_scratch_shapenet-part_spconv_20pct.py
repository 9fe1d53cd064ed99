# ShapeNet part with 20% of the training shapes of every category, from scratch.
_base_ = ['./segmentor_scratch_shapenet-part_spconv_1pct.py']
train_dataloader = dict(
    dataset=dict(subset_file='data/shapenetcore_partanno_segmentation_benchmark_v0_normal/data_efficient/'
                             'shapenet_part_trainval_20pct.txt'))
