# ScanNet Limited Annotations (100 annotated points per scene), SparseConv U-Net,
# fine-tuned from the network pre-trained on DPT (ADE20K, 150 classes) soft labels
# of RGB-D images: configs/pretrain/, then tools/export_backbone.py writes load_from (or
# pass --cfg-options load_from=PATH); the backbone.* weights load by name.
_base_ = ['./segmentor_scratch_scannet_spconv_la100.py']
load_from = 'checkpoints/d3l_dpt-ade20k_spconv.pth'
