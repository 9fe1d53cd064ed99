# ModelNet40 with 5% of the training shapes,
# fine-tuned from the network pre-trained on DPT (ADE20K, 150 classes) soft labels
# of RGB-D images: configs/pretrain/, then tools/export_backbone.py writes load_from (or
# pass --cfg-options load_from=PATH); the backbone.* weights load by name.
_base_ = ['./classifier_scratch_modelnet40_spconv_5pct.py']
load_from = 'checkpoints/d3l_dpt-ade20k_spconv.pth'
