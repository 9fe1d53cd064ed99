"""Export pre-trained weights without the pre-training head, for
fine-tuning (``tools/export_backbone.py`` is its CLI)."""
from __future__ import annotations

import os
import os.path as osp
import time
from typing import Sequence

from d3l.engine.cli import CLIError, check_parent_folder, read_checkpoint


def export_backbone(checkpoint_path: str, out_path: str,
                    drop_heads: Sequence[str] = ('decode_head',)) -> dict:
    """Write ``out_path`` from a Pretrainer checkpoint: its weights without
    the modules ``drop_heads`` (the pre-training head: C teacher classes),
    the optimizer and the message hub, as ``{'state_dict', 'meta'}`` that a
    fine-tuning config loads with ``load_from``. Written atomically; OUT may
    not be the checkpoint itself nor a directory. Returns
    ``{'kept': [...], 'dropped': [...]}`` (tensor names)."""
    import torch

    from d3l.models.utils import is_head_key
    from d3l.utils import fileio

    drop_heads = tuple(drop_heads)
    check_out_path(checkpoint_path, out_path)
    checkpoint = read_checkpoint(checkpoint_path)
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
    try:
        with fileio.atomic_path(out_path, makedirs=False) as tmp:
            torch.save({'state_dict': kept, 'meta': meta}, tmp)
    except OSError as err:
        raise CLIError(f'cannot write {out_path}: {err.strerror or err}') from None
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
    check_parent_folder(out_path, 'OUT')


__all__ = ['export_backbone', 'check_out_path']
