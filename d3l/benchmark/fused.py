"""The embedded benchmark's fused row: pre-training on the training rooms
with the 2D teacher's labels fused from their own RGB-D frames.

:func:`prepare_fused_pretraining` renders frames of the synthetic world's
training rooms, labels them once (:func:`d3l.apis.generate_soft_labels`
with the demo's teacher config and checkpoint), fuses the labels onto the
rooms' 3D scenes (:func:`d3l.apis.fuse_soft_labels`) and writes a
pre-training config that trains on them (:func:`write_fused_pretrain_config`).
Every step resumes: frames of a complete room are kept, label and fused
directories continue where they stopped. The fine-tuning runs then load its
backbone like the paper's row. Only the training scenes' geometry is used
(the LA setting's); no 3D label is read.
"""
from __future__ import annotations

import os.path as osp
from typing import Dict, Optional

from d3l.utils import fileio

#: the demo's pre-training config whose teacher and model the fused row keeps
from .plan import PRETRAIN_CONFIG as DEMO_PRETRAIN_CONFIG


def _started(label_dir: str) -> bool:
    """An earlier run wrote a manifest there: resume it (complete shards kept)."""
    return osp.isfile(osp.join(label_dir, 'manifest.json'))


def prepare_fused_pretraining(world_dir: str, out_dir: str, preset: str = 'default',
                              seed: int = 0, frames_per_room: int = 20,
                              label_config: str = DEMO_PRETRAIN_CONFIG,
                              label_options: Optional[Dict[str, object]] = None,
                              progress: bool = True) -> Dict[str, object]:
    """Frames -> frame labels -> fused labels -> pre-training config.

    Args:
        world_dir: the synthetic world (``build_world``'s ``out_dir``).
        out_dir: where ``frames/``, ``frame_labels/``, ``fused/`` and
            ``pretrain_fused.py`` go.
        preset / seed: the world's.
        frames_per_room: frames rendered per training room.
        label_config: config with the ``teacher`` and ``pseudo_label_cfg``
            (the demo's; its source root is replaced by the frames).
        label_options: more config options of the generation (as
            ``--cfg-options`` sets them), e.g.
            ``{'teacher.config': ..., 'teacher.checkpoint': ...}``.

    Returns ``{'frames', 'frame_labels', 'fused', 'config', 'counts'}``.
    """
    from d3l.apis import fuse_soft_labels, generate_soft_labels
    from d3l.benchmark.world import world_paths
    from d3l.benchmark.world.scene_frames import write_scene_frames
    from d3l.soft_labels import read_manifest

    paths = world_paths(world_dir)
    frames = osp.join(out_dir, 'frames')
    frame_labels = osp.join(out_dir, 'frame_labels')
    fused = osp.join(out_dir, 'fused')
    write_scene_frames(frames, preset, seed, frames_per_room, split='train', progress=progress)
    generate_soft_labels(label_config, out_dir=frame_labels, resume=_started(frame_labels),
                         cfg_options={'pseudo_label_cfg.source.data_root': frames,
                                      **(label_options or {})})
    fusion_config = osp.join(out_dir, 'fusion.py')
    fileio.write_text(fusion_config, f"""default_scope = 'd3l'
custom_imports = dict(imports=['d3l.fusion'], allow_failed_imports=False)
fusion = dict(type='SoftLabelFuser',
              scenes=dict(type='ScanNetDataset', data_root={paths['scannet']!r}, split='train'),
              frames=dict(type='RGBDFolderDataset', data_root={frames!r}),
              frame_label_dir={frame_labels!r})
fused_label_cfg = dict(out_dir={fused!r}, shard_size=8)
""")
    fuse_soft_labels(fusion_config, resume=_started(fused))
    config = write_fused_pretrain_config(osp.join(out_dir, 'pretrain_fused.py'),
                                         paths['scannet'], fused)
    return dict(frames=frames, frame_labels=frame_labels, fused=fused, config=config,
                counts=read_manifest(fused).get('fusion_counts'))


def _scene_train_pipeline() -> list:
    """The fine-tuning scenes' training pipeline (configs/demo/_base_/datasets/
    synthetic_scannet.py): fused scenes are the same rooms, augmented alike."""
    from mmengine.config import Config

    from .plan import CONFIG_DIR
    piece = osp.join(CONFIG_DIR, '_base_', 'datasets', 'synthetic_scannet.py')
    return Config.fromfile(piece).to_dict()['train_pipeline']


def write_fused_pretrain_config(path: str, scannet_root: str, fused_dir: str,
                                base_config: str = DEMO_PRETRAIN_CONFIG) -> str:
    """A config that pre-trains ``base_config``'s model and schedule on the
    fused training scenes (``FusedSceneDataset``) instead of RGB-D frames."""
    fileio.write_text(path, f"""_base_ = [{base_config!r}]
custom_imports = dict(imports=['d3l.fusion', 'd3l.datasets.fused_scene'],
                      allow_failed_imports=False)
fused_train_pipeline = {_scene_train_pipeline()!r}
train_dataloader = dict(dataset=dict(
    _delete_=True, type='FusedSceneDataset',
    scenes=dict(type='ScanNetDataset', data_root={scannet_root!r}, split='train'),
    label_dir={fused_dir!r}, pipeline=fused_train_pipeline))
""")
    return path

