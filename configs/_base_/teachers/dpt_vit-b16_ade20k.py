# The paper's 2D teacher: mmseg's DPT ViT-B/16 trained on ADE20K (150 classes).
# Weights are read from a local file (nothing is downloaded): put the mmsegmentation
# model-zoo checkpoint dpt_vit-b16_512x512_160k_ade20k-db31cf52.pth at this path.
teacher = dict(
    type='MMSegTeacher',
    config='mmseg::dpt/dpt_vit-b16_8xb2-160k_ade20k-512x512.py',
    checkpoint='checkpoints/dpt_vit-b16_512x512_160k_ade20k-db31cf52.pth',
    scale='config',  # the config's test resize: keep ratio within 2048 x 512
    temperature=1.0)
num_teacher_classes = 150
