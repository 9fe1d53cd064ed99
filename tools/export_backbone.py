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
import os
import os.path as osp
import time

from d3l.engine.cli import CLIError, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Drop the pre-training head of a checkpoint')
    parser.add_argument('checkpoint', help='pre-training checkpoint (.pth)')
    parser.add_argument('out', help='output file (.pth)')
    parser.add_argument('--drop-heads', nargs='+', default=['decode_head'],
                        help='module names to drop (default: decode_head)')
    return parser.parse_args(argv)


def export_backbone(checkpoint_path: str, out_path: str, drop_heads=('decode_head',)) -> dict:
    """Write ``out_path``; returns ``{'kept': [...], 'dropped': [...]}``."""
    import torch

    from d3l.models.utils import is_head_key
    from d3l.utils.compat import CorruptCheckpointError, UnsafeCheckpointError, safe_torch_load

    check_out_path(checkpoint_path, out_path)
    try:
        checkpoint = safe_torch_load(checkpoint_path, map_location='cpu')
    except FileNotFoundError:
        raise CLIError(f'checkpoint {checkpoint_path} does not exist') from None
    except (CorruptCheckpointError, UnsafeCheckpointError) as err:
        raise CLIError(str(err)) from None
    if not isinstance(checkpoint, dict):
        raise CLIError(f'checkpoint {checkpoint_path} holds a {type(checkpoint).__name__}')
    state = checkpoint.get('state_dict', checkpoint)
    state = {(k[7:] if k.startswith('module.') else k): v for k, v in state.items()}
    kept = {k: v for k, v in state.items() if not is_head_key(k, drop_heads)}
    dropped = sorted(k for k in state if k not in kept)
    if not dropped:
        raise CLIError(f'{checkpoint_path} has no {"/".join(drop_heads)} weights to drop; is it '
                       'a pre-training checkpoint?')
    if not any(k.startswith('backbone.') for k in kept):
        raise CLIError(f'{checkpoint_path} has no backbone.* weights')
    meta = dict(checkpoint.get('meta') or {})
    meta = {k: v for k, v in meta.items() if k in ('epoch', 'iter', 'dataset_meta', 'seed',
                                                   'experiment_name', 'mmengine_version')}
    meta.update(exported_from=osp.abspath(checkpoint_path), dropped_heads=list(drop_heads),
                exported_at=time.strftime('%Y-%m-%dT%H:%M:%S'))
    os.makedirs(osp.dirname(osp.abspath(out_path)), exist_ok=True)
    tmp = f'{out_path}.tmp-{os.getpid()}'
    try:
        torch.save({'state_dict': kept, 'meta': meta}, tmp)
        os.replace(tmp, out_path)
    except OSError as err:
        raise CLIError(f'cannot write {out_path}: {err.strerror or err}') from None
    finally:
        if osp.exists(tmp):
            os.remove(tmp)
    return {'kept': sorted(kept), 'dropped': dropped}


def check_out_path(checkpoint_path: str, out_path: str) -> None:
    """OUT must be a new or replaceable file other than CHECKPOINT."""
    if osp.isdir(out_path):
        raise CLIError(f'OUT {out_path} is a directory; give the output file name, e.g. '
                       f'{osp.join(out_path, "backbone.pth")}')
    if osp.exists(out_path) and osp.exists(checkpoint_path) and \
            osp.samefile(out_path, checkpoint_path):
        raise CLIError(f'OUT {out_path} is the input checkpoint {checkpoint_path}; refusing to '
                       'overwrite the pre-training checkpoint (write the backbone to a new file)')
    parent = osp.dirname(osp.abspath(out_path))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    if parent and not osp.isdir(parent):
        raise CLIError(f'OUT {out_path}: {parent} is a file, so the folder cannot be made')


def main(argv=None):
    args = parse_args(argv)
    result = export_backbone(args.checkpoint, args.out, tuple(args.drop_heads))
    print(f'[export_backbone] {args.out}: kept {len(result["kept"])} tensors, dropped '
          f'{len(result["dropped"])} ({", ".join(result["dropped"][:4])}'
          f'{", ..." if len(result["dropped"]) > 4 else ""})')


if __name__ == '__main__':
    run_cli(main)
