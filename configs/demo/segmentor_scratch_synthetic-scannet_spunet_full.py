# Synthetic world, the full-labels reference of the embedded benchmark: every point of every
# training room, the schedule of the LA / LR configs (same iterations), from scratch. The
# gap between it and segmentor_scratch_synthetic-scannet_spunet_la20.py shows how much the
# labels limit the network, i.e. that the benchmark is in the label-scarce regime.
_base_ = ['./segmentor_scratch_synthetic-scannet_spunet_la20.py']
train_dataloader = dict(dataset=dict(la_file=None))
