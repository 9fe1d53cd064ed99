# Synthetic world, Limited Annotations (200 annotated points per scene), the small
# O-CNN U-Net trained from scratch (see segmentor_scratch_synthetic-scannet_ocnn_la20.py).
_base_ = ['./segmentor_scratch_synthetic-scannet_ocnn_la20.py']
train_dataloader = dict(dataset=dict(la_file='data/synthetic/scannet/tasks/points/points200'))
