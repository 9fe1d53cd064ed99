"""Export pre-trained weights without the pre-training head, for fine-tuning.

    python tools/export_backbone.py CHECKPOINT OUT [--drop-heads decode_head ...]

Reads a Pretrainer checkpoint (MMEngine's ``{'state_dict', 'meta', ...}``),
drops the pre-training head (``decode_head.*``: C teacher classes), the
optimizer and the message hub, and writes ``{'state_dict', 'meta'}`` with the
encoder/decoder weights (``backbone.*``) that a fine-tuning config loads
with ``load_from = 'OUT'`` (its own head then starts fresh). Written
atomically; OUT may not be CHECKPOINT itself (that would destroy the
pre-training checkpoint) nor a directory, and a failed write leaves no
temporary file behind.
"""
import argparse

from d3l.apis.export import check_out_path, export_backbone  # noqa: F401  (for callers)
from d3l.engine.cli import CLIError, run_cli  # noqa: F401  (CLIError: for callers)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Drop the pre-training head of a checkpoint')
    parser.add_argument('checkpoint', help='pre-training checkpoint (.pth)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--drop-heads', nargs='+', default=['decode_head'],
                        help='module names to drop (default: decode_head)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    result = export_backbone(args.checkpoint, args.out, tuple(args.drop_heads))
    print(f'[export_backbone] {args.out}: kept {len(result["kept"])} tensors, dropped '
          f'{len(result["dropped"])} ({", ".join(result["dropped"][:4])}'
          f'{", ..." if len(result["dropped"]) > 4 else ""})')


if __name__ == '__main__':
    run_cli(main)
