# ModelNet40 with 1% of the training shapes,
# fine-tuned from the network pre-trained on DPT (ADE20K, 150 classes) soft labels
# of RGB-D images: configs/pretrain/, then tools/export_backbone.py writes load_from (or
# pass --cfg-options load_from=PATH); the backbone.* weights load by name.
_base_ = ['./classifier_scratch_modelnet40_ocnn_1pct.py']
load_from = 'checkpoints/d3l_dpt-ade20k_ocnn.pth'
