"""The labelling stage: run a 2D teacher once over an RGB-D dataset and
store its soft labels (``tools/generate_pseudo_labels.py`` is its CLI).

The config holds ``teacher`` (a registered teacher) and
``pseudo_label_cfg = dict(source=..., out_dir=..., codec=..., stride=1,
shard_size=64)``. The frame list is cut into shards of ``shard_size``
consecutive frames; shard ``i`` belongs to rank ``i % world_size``, so every
frame is labelled once and the files do not depend on the number of
processes. Rank 0 takes ``writer.lock`` and checks the directory
(``resume`` requires the same teacher, codec, frames and source files),
each rank keeps its complete shards whose sha256 and frames check out and
redoes the rest, and rank 0 records the checksums and counts in
``manifest.json`` and prints the summary.
"""
from __future__ import annotations

import os
import os.path as osp
import time
from typing import Callable, Optional

import numpy as np

from d3l.engine.cli import CLIError
from d3l.engine.stage_utils import (
    ConfigLike,
    build_dataset,
    init_launcher,
    plain,
    resolve_config,
    sigterm_as_exit,
)

# errors that mean "this frame's data are bad", not "the setup is wrong"
try:
    from d3l.datasets.rgbd.io import BadFrameError
except ImportError:  # pragma: no cover - the RGB-D datasets are part of d3l
    BadFrameError = ValueError
FRAME_ERRORS = (BadFrameError, OSError, ValueError, KeyError, IndexError, EOFError)
TAG = '[generate_pseudo_labels]'


def generate_soft_labels(config: ConfigLike, *, out_dir: Optional[str] = None,
                         resume: bool = False, launcher: str = 'none', vis: int = 0,
                         device: Optional[str] = None, cfg_options: Optional[dict] = None
                         ) -> Optional[dict]:
    """Label every frame of ``pseudo_label_cfg.source`` into ``out_dir``
    (default ``pseudo_label_cfg.out_dir``); rank 0 returns the final
    manifest (``counts``, ``failed``, ``shards``, ...), other ranks None.

    Args:
        resume: continue the directory (keep complete shards, redo the rest).
        launcher: ``'none'``, ``'pytorch'`` (torchrun), ``'slurm'``, ``'mpi'``.
        vis: save PNG overlays of the first ``vis`` frames of each rank.
        device: the teacher's device (default ``cuda:LOCAL_RANK`` or cpu).
    """
    with sigterm_as_exit():
        cfg, label = resolve_config(config, cfg_options)
        out_dir, stride, shard_size = _settings(cfg, label, out_dir)
        return _generate(cfg, out_dir, stride, shard_size, resume, launcher, vis, device)


def verify_soft_labels(config: ConfigLike, *, out_dir: Optional[str] = None,
                       cfg_options: Optional[dict] = None) -> dict:
    """Check every shard of a label directory (``config`` may be the
    directory itself) and print the report; a bad, missing or extra shard,
    or (given a config) a changed source file, raises
    :class:`~d3l.soft_labels.LabelStoreError` listing them. Returns the
    report of :func:`~d3l.soft_labels.verify_store`."""
    from d3l.soft_labels import LabelStoreError, verify_store
    from d3l.soft_labels.session import format_verify_report

    if isinstance(config, (str, os.PathLike)) and osp.isdir(config):
        label_dir, notes = os.fspath(config), []
    else:
        cfg, label = resolve_config(config, cfg_options)
        label_dir = _settings(cfg, label, out_dir)[0]
        notes = _verify_source(cfg, label_dir)
    report = verify_store(label_dir)
    lines, failure = format_verify_report(label_dir, report)
    print('\n'.join(lines + [f'  SOURCE {note}' for note in notes]), flush=True)
    if failure or notes:
        raise LabelStoreError(failure or f'{label_dir}: {notes[0]}')
    print(f'[verify] {label_dir}: OK', flush=True)
    return report


# ---------------------------------------------------------------- building
def build_source(source_cfg: dict):
    """(dataset, frame ids as strings) of the RGB-D source to label."""
    source_cfg = dict(source_cfg)
    source_cfg.setdefault('pipeline', [dict(type='LoadRGBD')])
    dataset = build_dataset(source_cfg, 'source')
    if hasattr(dataset, 'frame_ids'):
        frame_ids = list(dataset.frame_ids())
    else:
        frame_ids = [dataset.get_data_info(i).get('frame_id') for i in range(len(dataset))]
    if any(f is None for f in frame_ids):
        raise CLIError(f'source dataset {source_cfg.get("type")!r} gives frames without a '
                       'frame_id; stored labels are keyed by it')
    frame_ids = [str(f) for f in frame_ids]
    if len(set(frame_ids)) != len(frame_ids):
        raise CLIError(f'source dataset {source_cfg.get("type")!r} repeats frame ids')
    return dataset, frame_ids


def build_teacher(teacher_cfg, device):
    from d3l.registry import MODELS
    from d3l.teachers import TeacherCheckpointError

    teacher_cfg = dict(teacher_cfg)
    if device is not None:
        teacher_cfg['device'] = device
    try:
        teacher = MODELS.build(teacher_cfg)
    except (TeacherCheckpointError, FileNotFoundError, ImportError) as err:
        raise CLIError(str(err)) from None
    return teacher.eval()


def teacher_identity(teacher) -> dict:
    """The teacher's description plus the sha256 of its weight files."""
    from d3l.soft_labels import file_sha256

    info = teacher.describe()
    info['weights_sha256'] = {osp.basename(path): file_sha256(path)
                              for path in teacher.weight_files()}
    return info


def _settings(cfg, label: str, out_dir: Optional[str]):
    """(out_dir, stride, shard_size) of the config, checked."""
    if 'teacher' not in cfg:
        raise CLIError(f'{label} has no "teacher" (e.g. teacher = dict(type='
                       "'MMSegTeacher', config=..., checkpoint=...))")
    label_cfg = cfg.get('pseudo_label_cfg')
    if not label_cfg or 'source' not in label_cfg:
        raise CLIError(f'{label} has no pseudo_label_cfg.source (the RGB-D dataset to '
                       'label)')
    out_dir = out_dir or label_cfg.get('out_dir')
    if not out_dir:
        raise CLIError('no output directory: pass --out DIR or set pseudo_label_cfg.out_dir')
    stride = int(label_cfg.get('stride', 1))
    shard_size = int(label_cfg.get('shard_size', 64))
    if stride < 1 or shard_size < 1:
        raise CLIError(f'pseudo_label_cfg: stride ({stride}) and shard_size ({shard_size}) '
                       'must be >= 1')
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise CLIError(f'--out {out_dir} is a file, not a directory')
    return str(out_dir), stride, shard_size


def _verify_source(cfg, label_dir) -> list:
    """Differences between the config's source files and the manifest's."""
    from mmengine.registry import init_default_scope

    from d3l.soft_labels import (
        LabelStoreError,
        describe_source,
        file_stats,
        read_manifest,
        source_differences,
    )

    init_default_scope(cfg.get('default_scope', 'd3l'))
    try:
        manifest = read_manifest(label_dir)
    except LabelStoreError as err:
        raise CLIError(str(err)) from None
    source_cfg = plain(cfg.pseudo_label_cfg['source'])
    dataset, frame_ids = build_source(source_cfg)
    if frame_ids != list(manifest['frame_ids']):
        return [f'the source lists {len(frame_ids)} frames, the manifest '
                f'{len(manifest["frame_ids"])} (or another order)']
    current = dict(source=describe_source(dataset, source_cfg), frame_ids=frame_ids,
                   source_files=file_stats(dataset))
    return source_differences(manifest, current)


# ----------------------------------------------------------------- running
def start_run(out_dir: str, make: Callable[[], dict], resume: bool, rank: int,
              world_size: int, wrap: Optional[type] = CLIError):
    """Rank 0 computes the new manifest (``make()``), takes the directory's
    lock and prepares the directory; every rank gets ``(manifest, lock)``
    or the error. A refused directory is raised as ``wrap`` (None: as the
    store's ``LabelStoreError``); a held lock keeps its class. Shared by
    soft-label generation and fusion (:func:`d3l.fusion.run_fusion`)."""
    from mmengine.dist import broadcast_object_list

    from d3l.soft_labels import LabelStoreError, StoreLock, StoreLockError
    from d3l.soft_labels.session import prepare_directory

    lock, verdict, error = None, [None], None
    if rank == 0:
        try:
            manifest = make()
            lock = StoreLock(out_dir).acquire()
            try:
                verdict = [(prepare_directory(out_dir, manifest, resume), lock.run_id)]
            except BaseException:
                lock.release()
                raise
        except (CLIError, LabelStoreError) as err:
            keep = wrap is None or isinstance(err, (CLIError, StoreLockError))
            error = err if keep else wrap(str(err))
            verdict = [f'error: {err}']
    if world_size > 1:
        broadcast_object_list(verdict, src=0)
    if error is not None:
        raise error
    if isinstance(verdict[0], str):
        raise (wrap or LabelStoreError)(verdict[0][len('error: '):])
    manifest, run_id = verdict[0]
    return manifest, lock or StoreLock(out_dir, run_id=run_id)


def _generate(cfg, out_dir, stride, shard_size, resume, launcher, vis, device):
    import torch
    from mmengine.registry import init_default_scope

    from d3l.soft_labels import (
        SoftLabelCodec,
        describe_source,
        file_stats,
        make_manifest,
        plan_shards,
    )
    from d3l.soft_labels.session import WriterGuard

    label_cfg = cfg.pseudo_label_cfg
    rank, world_size = init_launcher(launcher)
    init_default_scope(cfg.get('default_scope', 'd3l'))
    try:
        codec = SoftLabelCodec(**dict(label_cfg.get('codec') or {}))
    except (TypeError, ValueError) as err:
        raise CLIError(f'pseudo_label_cfg.codec: {err}') from None
    source_cfg = plain(label_cfg['source'])
    dataset, frame_ids = build_source(source_cfg)
    if device is None and torch.cuda.is_available():
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    teacher = build_teacher(cfg.teacher, device)
    shards = plan_shards(len(frame_ids), shard_size)

    def make():
        return make_manifest(
            teacher=teacher_identity(teacher), num_classes=teacher.num_classes,
            class_names=teacher.class_names, codec=codec.config(), stride=stride,
            panorama=teacher.panorama_config(), source=describe_source(dataset, source_cfg),
            frame_ids=frame_ids, shard_size=shard_size, num_shards=len(shards),
            source_files=file_stats(dataset))

    manifest, lock = start_run(out_dir, make, resume, rank, world_size)
    guard = WriterGuard(lock, watch_parent=launcher == 'pytorch')
    try:
        work = (dataset, frame_ids, teacher, codec, stride)
        return _run_shards(out_dir, manifest, shards, work, vis, rank, world_size, guard)
    finally:
        lock.release()


def _run_shards(out_dir, manifest, shards, work, vis, rank, world_size, guard):
    """Label this rank's shards that are not complete; rank 0 records them
    in the manifest, prints the summary and returns the manifest."""
    from mmengine.dist import all_gather_object, barrier

    from d3l.soft_labels import shards_of_rank
    from d3l.soft_labels.session import Progress, finish_run, plan_work

    dataset, frame_ids, teacher, codec, stride = work
    todo, kept, redone = plan_work(out_dir, manifest, shards_of_rank(len(shards), world_size,
                                                                     rank))
    num_todo = sum(shards[i][1] - shards[i][0] for i in todo)
    if rank == 0:
        print(f'{TAG} {len(frame_ids)} frames in {len(shards)} shards, '
              f'{world_size} process(es); teacher {type(teacher).__name__} '
              f'({teacher.num_classes} classes) on {teacher.device}; rank 0 labels {num_todo} '
              f'frames, keeps {len(kept)} complete shard(s)', flush=True)
    for name, reason in redone:
        print(f'{TAG} rank {rank} redoes {name}: {reason}', flush=True)
    progress = Progress(num_todo, rank == 0)
    started = time.time()
    labelled, failures, vis_left = 0, [], vis
    for index in todo:
        start, stop = shards[index]
        done, failed, vis_left = label_shard(index, start, stop, frame_ids, dataset, teacher,
                                             codec, stride, out_dir, vis_left, progress, guard)
        labelled += done
        failures += failed
    stats = dict(rank=rank, labelled=labelled, failed=failures, skipped_shards=len(kept),
                 skipped_frames=sum(shards[i][1] - shards[i][0] for i in kept),
                 redone=redone, written_shards=len(todo), seconds=time.time() - started)
    all_stats = all_gather_object(stats) if world_size > 1 else [stats]
    if world_size > 1:
        barrier()
    if rank == 0:
        return finish_run(out_dir, manifest, len(shards), all_stats, world_size)
    return None


def label_shard(index, start, stop, frame_ids, dataset, teacher, codec, stride, out_dir,
                vis_left, progress, guard=None):
    """Label frames [start, stop) into shard ``index``; returns
    (labelled, failures, vis_left). ``guard()`` runs before each frame and
    before the shard is committed; it raises when this process must stop."""
    import torch

    from d3l.soft_labels import ShardWriter, SoftLabelError
    from d3l.soft_labels.vis import safe_name, save_overlay

    writer = ShardWriter(out_dir, index, frame_start=start, before_commit=guard)
    for idx in range(start, stop):
        if guard is not None:
            guard()
        frame_id = frame_ids[idx]
        try:
            sample = dataset.prepare_data(idx)
            if sample is None:
                raise ValueError('the dataset pipeline returned None')
            if str(sample.get('frame_id', frame_id)) != frame_id:
                raise RuntimeError(f'the dataset returned frame {sample.get("frame_id")!r} at '
                                   f'index {idx}, expected {frame_id!r}: its order changed')
            img = np.asarray(sample['img'])
        except FRAME_ERRORS as err:
            writer.add_failure(frame_id, f'{type(err).__name__}: {err}')
            progress.update()
            continue
        with torch.no_grad():
            probs = teacher.label_frame(sample, stride=stride)
        try:
            encoded = codec.encode(probs.reshape(probs.shape[0], -1).T,
                                   name=f'frame {frame_id!r}')
        except SoftLabelError as err:  # e.g. NaN teacher output: listed, never stored
            writer.add_failure(frame_id, f'{type(err).__name__}: {err}')
            progress.update()
            continue
        writer.add(frame_id, encoded, image_shape=img.shape[:2], stride=stride)
        if vis_left > 0:
            save_overlay(osp.join(out_dir, 'vis', safe_name(frame_id) + '.png'), img, probs,
                         stride)
            vis_left -= 1
        progress.update()
    writer.close()
    return len(writer), writer.failures, vis_left


__all__ = ['generate_soft_labels', 'verify_soft_labels', 'build_source', 'build_teacher',
           'teacher_identity', 'label_shard', 'start_run']
