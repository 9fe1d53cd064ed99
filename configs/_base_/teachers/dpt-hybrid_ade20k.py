# The authors' 2D teacher: isl-org DPT-Hybrid (ViT-B/16 on a ResNet-50 stem, timm's
# vit_base_resnet50_384) trained on ADE20K (150 classes), dpt_hybrid-ade20k-53898607.pt from
# the isl-org/DPT releases. Nothing is downloaded: convert the checkpoint once with
#   python tools/convert_dpt_hybrid.py checkpoints/dpt_hybrid-ade20k-53898607.pt \
#       checkpoints/dpt-hybrid_ade20k_hf
# (needs transformers: tools/setup_env.sh --hf). Preprocessing is isl-org's: keep the aspect
# ratio, scale as little as possible to cover 480 x 480, sides a multiple of 32, bicubic,
# mean = std = 0.5 (a 1024 x 512 panorama is fed whole as 960 x 480).
teacher = dict(
    type='HFTeacher',
    model_dir='checkpoints/dpt-hybrid_ade20k_hf',
    size='config',  # preprocessor_config.json written by the converter
    temperature=1.0,
    panorama='whole')  # the authors feed equirectangular panoramas whole; 'crops': 24 crops
num_teacher_classes = 150
