# ScanNet Limited Annotations (200 annotated points per scene), O-CNN U-Net from scratch.
_base_ = ['./segmentor_scratch_scannet_ocnn_la20.py']
train_dataloader = dict(dataset=dict(la_file='data/scannet/tasks/points/points200'))
