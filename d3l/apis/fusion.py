"""The fusion stage: the stored soft labels of posed RGB-D frames fused
onto reconstructed scenes (``tools/fuse_soft_labels.py`` is its CLI; the
component is :class:`d3l.fusion.SoftLabelFuser`, see docs/fusion.md)."""
from __future__ import annotations

import os.path as osp
from typing import Optional

from d3l.engine.cli import CLIError
from d3l.engine.stage_utils import ConfigLike, init_launcher, resolve_config, sigterm_as_exit


def fuse_soft_labels(config: ConfigLike, *, out_dir: Optional[str] = None,
                     resume: bool = False, launcher: str = 'none',
                     cfg_options: Optional[dict] = None) -> Optional[dict]:
    """Fuse every scene of the config's ``fusion`` (a ``SoftLabelFuser``)
    into ``out_dir`` (default ``fused_label_cfg.out_dir``), in shards of
    ``fused_label_cfg.shard_size`` scenes; rank 0 returns the final
    manifest, other ranks None. ``resume`` keeps complete shards whose
    checksums and scenes check out and redoes the rest."""
    cfg, label = resolve_config(config, cfg_options)
    if 'fusion' not in cfg:
        raise CLIError(f'{label} has no "fusion" (dict(type=\'SoftLabelFuser\', ...))')
    run_cfg = dict(cfg.get('fused_label_cfg') or {})
    out_dir = out_dir or run_cfg.get('out_dir')
    if not out_dir:
        raise CLIError('no output directory: pass --out DIR or set fused_label_cfg.out_dir')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise CLIError(f'--out {out_dir} is a file, not a directory')

    from mmengine.registry import init_default_scope

    from d3l.fusion import run_fusion
    from d3l.registry import TASK_UTILS

    rank, world_size = init_launcher(launcher)
    init_default_scope(cfg.get('default_scope', 'd3l'))
    fusion_cfg = cfg.fusion.to_dict() if hasattr(cfg.fusion, 'to_dict') else dict(cfg.fusion)
    try:
        fuser = TASK_UTILS.build(fusion_cfg)
    except TypeError as err:
        raise CLIError(f'{label}: fusion: {err}') from None
    with sigterm_as_exit():
        return run_fusion(fuser, out_dir, shard_size=int(run_cfg.get('shard_size', 4)),
                          resume=resume, rank=rank, world_size=world_size,
                          watch_parent=launcher == 'pytorch')


__all__ = ['fuse_soft_labels']
