"""A fusion run over a label directory: sharded, resumable, rank-parallel.

The scene list is cut into shards of ``shard_size`` consecutive scenes;
shard ``i`` belongs to rank ``i % world_size`` (``shards_of_rank``), so the
files do not depend on the number of processes. It follows the generation
protocol of :mod:`d3l.soft_labels.session`: rank 0 takes ``writer.lock``
and checks the directory (``--resume`` requires the same identity: frame
labels, frames, depth test, scenes and their files), each rank keeps its
complete shards whose sha256 and scene slice check out and redoes the rest,
every shard is written atomically and committed only while the run still
owns the lock, and rank 0 records the shards' checksums and the counts.
"""
from __future__ import annotations

import sys
import time
from typing import List, Optional

from d3l.soft_labels import (
    LabelStoreError,
    StoreLockError,
    make_manifest,
    plan_shards,
    shards_of_rank,
)
from d3l.soft_labels.manifest import write_manifest
from d3l.soft_labels.session import Progress, WriterGuard, finish_manifest, plan_work

from .fuser import SoftLabelFuser
from .store import FusedShardWriter

TAG = '[fuse_soft_labels]'


def fusion_manifest(fuser: SoftLabelFuser, shard_size: int) -> dict:
    """The manifest of a fusion that is about to start."""
    return make_manifest(
        teacher=fuser.identity(), num_classes=fuser.num_classes,
        class_names=fuser.class_names, codec=fuser.codec.config(), stride=1,
        panorama={}, source=fuser.source(), frame_ids=fuser.scene_ids,
        shard_size=shard_size, num_shards=len(plan_shards(len(fuser.scene_ids), shard_size)),
        source_files=fuser.source_files())


def _start(fuser, out_dir: str, shard_size: int, resume: bool, rank: int, world_size: int):
    """Rank 0 locks and prepares the directory; every rank gets the
    manifest and the lock (or the store's error)."""
    # imported here: d3l.apis imports the models, which need not load with d3l.fusion
    from d3l.apis.soft_labels import start_run
    return start_run(out_dir, lambda: fusion_manifest(fuser, shard_size), resume, rank,
                     world_size, wrap=None)


def fuse_shard(fuser: SoftLabelFuser, out_dir: str, index: int, start: int, stop: int,
               guard, progress) -> dict:
    """Fuse scenes [start, stop) into shard ``index``; returns the counts."""
    writer = FusedShardWriter(out_dir, index, frame_start=start, before_commit=guard)
    counts = dict(scenes=0, frames=0, used=0, no_labels=0, failed_frames=[], vertices=0,
                  seen=0)
    for scene_index in range(start, stop):
        guard()
        scene_id = fuser.scene_ids[scene_index]
        try:
            encoded, views, stats = fuser.fuse_scene(scene_index)
        except (LabelStoreError, OSError, ValueError) as err:
            writer.add_failure(scene_id, f'{type(err).__name__}: {err}')
            progress.update()
            continue
        writer.add_scene(scene_id, encoded, views)
        counts['scenes'] += 1
        counts['vertices'] += int(len(views))
        counts['seen'] += int((views > 0).sum())
        for key in ('frames', 'used', 'no_labels'):
            counts[key] += stats[key]
        counts['failed_frames'] += [[scene_id, f, r] for f, r in stats['failed']]
        progress.update()
    writer.close()
    counts['failed_scenes'] = [list(f) for f in writer.failures]
    return counts


def run_fusion(fuser: SoftLabelFuser, out_dir: str, shard_size: int = 4, resume: bool = False,
               rank: int = 0, world_size: int = 1, watch_parent: bool = False,
               log=print) -> Optional[dict]:
    """Fuse every scene of ``fuser`` into ``out_dir``; rank 0 returns the
    final manifest (other ranks ``None``)."""
    if shard_size < 1:
        raise LabelStoreError(f'{out_dir}: shard_size must be >= 1, got {shard_size}')
    shards = plan_shards(len(fuser.scene_ids), shard_size)
    manifest, lock = _start(fuser, out_dir, shard_size, resume, rank, world_size)
    guard = WriterGuard(lock, watch_parent=watch_parent)
    try:
        todo, kept, redone = plan_work(out_dir, manifest,
                                       shards_of_rank(len(shards), world_size, rank))
        if rank == 0:
            for note in fuser.source_notes:
                log(f'{TAG} note: {note}')
            log(f'{TAG} {len(fuser.scene_ids)} scenes in {len(shards)} shards, '
                f'{len(fuser.frames)} frames, {world_size} process(es); rank 0 fuses '
                f'{sum(shards[i][1] - shards[i][0] for i in todo)} scenes, keeps {len(kept)} '
                'complete shard(s)')
        for name, reason in redone:
            log(f'{TAG} rank {rank} redoes {name}: {reason}')
        progress = Progress(sum(shards[i][1] - shards[i][0] for i in todo), rank == 0)
        started = time.time()
        parts = [fuse_shard(fuser, out_dir, i, *shards[i], guard, progress) for i in todo]
        stats = _merge(parts, kept, shards, redone, time.time() - started)
        all_stats = [stats]
        if world_size > 1:
            from mmengine.dist import all_gather_object, barrier
            all_stats = all_gather_object(stats)
            barrier()
        if rank != 0:
            return None
        manifest = finish_manifest(out_dir, manifest, len(shards))
        manifest['fusion_counts'] = _total(all_stats)
        write_manifest(out_dir, manifest)
        _summary(out_dir, manifest, all_stats, log)
        return manifest
    finally:
        lock.release()


def _merge(parts: List[dict], kept: List[int], shards, redone, seconds: float) -> dict:
    total = dict(scenes=0, frames=0, used=0, no_labels=0, vertices=0, seen=0,
                 failed_frames=[], failed_scenes=[])
    for part in parts:
        for key in total:
            total[key] += part[key]
    total.update(kept_scenes=sum(shards[i][1] - shards[i][0] for i in kept),
                 redone=[name for name, _ in redone], seconds=seconds)
    return total


def _total(all_stats: List[dict]) -> dict:
    """Counts of this run over all ranks (kept shards are not re-counted)."""
    keys = ('scenes', 'frames', 'used', 'no_labels', 'vertices', 'seen', 'kept_scenes')
    total = {key: sum(s[key] for s in all_stats) for key in keys}
    total['failed_frames'] = [f for s in all_stats for f in s['failed_frames']][:1000]
    total['num_failed_frames'] = sum(len(s['failed_frames']) for s in all_stats)
    return total


def _summary(out_dir: str, manifest: dict, all_stats: List[dict], log) -> None:
    total = manifest['fusion_counts']
    seconds = max(s['seconds'] for s in all_stats)
    seen = 100.0 * total['seen'] / max(1, total['vertices'])
    log(f'\n{TAG} done: {total["scenes"]} scenes fused now ({total["vertices"]} vertices, '
        f'{seen:.1f} % seen by a frame) from {total["used"]} frames in {seconds:.1f} s; '
        f'{total["kept_scenes"]} scenes kept from complete shards (--resume); frames left out: '
        f'{total["no_labels"]} without stored labels, {total["num_failed_frames"]} failed; '
        f'{len(manifest["failed"])} scene(s) failed; {manifest["counts"]["labelled"]} of '
        f'{len(manifest["frame_ids"])} scenes stored in {out_dir}')
    for scene_id, frame_id, reason in total['failed_frames'][:10]:
        log(f'  frame {frame_id} ({scene_id}): {reason}')
    for scene_id, reason in manifest['failed'][:10]:
        log(f'  scene {scene_id}: {reason}')
    sys.stdout.flush()


__all__ = ['run_fusion', 'fusion_manifest', 'fuse_shard', 'StoreLockError']
