"""Convert the authors' teacher, isl-org DPT-Hybrid (ADE20K), for HFTeacher.

    python tools/convert_dpt_hybrid.py checkpoints/dpt_hybrid-ade20k-53898607.pt \
        checkpoints/dpt-hybrid_ade20k_hf

Reads the isl-org checkpoint (``DPTSegmentationModel``, ``vitb_rn50_384``;
download it from the isl-org/DPT releases), maps every key onto
``transformers``' ``DPTForSemanticSegmentation(is_hybrid=True)`` and writes a
``save_pretrained`` directory with isl-org's preprocessing and ADE20K's class
names, which ``configs/_base_/teachers/dpt-hybrid_ade20k.py`` loads. The
mapping is :mod:`d3l.teachers.dpt_hybrid`; needs ``transformers`` (``--hf``).
"""
import argparse

from d3l.engine.cli import run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='isl-org DPT-Hybrid -> Hugging Face directory')
    parser.add_argument('checkpoint', help='isl-org checkpoint (dpt_hybrid-ade20k-53898607.pt)')
    parser.add_argument('out', help='output directory (written atomically)')
    parser.add_argument('--num-attention-heads', type=int, default=12,
                        help='ViT heads (12 for ViT-B; shapes do not tell)')
    parser.add_argument('--num-groups', type=int, default=32,
                        help='GroupNorm groups of the ResNet stem (32 in timm)')
    parser.add_argument('--vit-hooks', type=int, nargs=2, default=(8, 11),
                        help='the two ViT blocks DPT reads (8 11 for vitb_rn50_384)')
    parser.add_argument('--class-names', nargs='+', default=None,
                        help="class names in output order (default: ADE20K's 150, from mmseg)")
    return parser.parse_args(argv)


def main(argv=None):
    from d3l.teachers.dpt_hybrid import convert_checkpoint
    args = parse_args(argv)
    convert_checkpoint(args.checkpoint, args.out, class_names=args.class_names,
                       num_attention_heads=args.num_attention_heads, num_groups=args.num_groups,
                       vit_hooks=tuple(args.vit_hooks),
                       log=lambda msg: print(f'[convert_dpt_hybrid] {msg}'))


if __name__ == '__main__':
    run_cli(main)
