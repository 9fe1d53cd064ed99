"""One generation run over a label directory: which shards to (re)do, the
guard that stops a writer that lost the directory, the final summary.

Used by ``tools/generate_pseudo_labels.py``; any tool that fills a label
directory with :class:`~d3l.soft_labels.ShardWriter` can use it the same
way (lock, plan, write with ``before_commit=guard``, finish).
"""
from __future__ import annotations

import glob
import os
import os.path as osp
import sys
from typing import Dict, List, Optional, Tuple

from .layout import (
    SHARD_PATTERN,
    list_shards,
    read_checksum,
    shard_files,
    shard_path,
    write_checksum,
)
from .lock import StoreLock, StoreLockError
from .manifest import (
    MANIFEST_NAME,
    LabelStoreError,
    manifest_differences,
    now_iso,
    read_manifest,
    write_manifest,
)
from .source import source_differences
from .store import ShardFile
from .verify import check_shard


class WriterGuard:
    """Raises :class:`StoreLockError` when this process must stop writing:
    its run lost the directory's lock (a newer run took it over), or its
    launcher (``torchrun``) died and left it orphaned.

    Args:
        lock: the run's :class:`StoreLock` (held by rank 0, checked by all).
        watch_parent: stop when the parent process changes (workers of a
            launcher: when torchrun is killed they are re-parented).
    """

    def __init__(self, lock: StoreLock, watch_parent: bool = False):
        self.lock = lock
        self.parent = os.getppid() if watch_parent else None

    def __call__(self) -> None:
        if self.parent is not None and os.getppid() != self.parent:
            raise StoreLockError(
                f'{self.lock.label_dir}: the launcher of this worker (pid {self.parent}) is gone; '
                f'pid {os.getpid()} stops without writing (resume with --resume)')
        self.lock.check_owner()


def prepare_directory(out_dir: str, manifest: dict, resume: bool) -> dict:
    """Rank 0, holding the lock: check / create the directory; returns the
    manifest to use (with the old shards' checksums, to verify them)."""
    existing = osp.isfile(osp.join(out_dir, MANIFEST_NAME))
    old_shards = {}
    if existing:
        if not resume:
            raise LabelStoreError(f'{out_dir} already holds pseudo-labels ({MANIFEST_NAME}); pass '
                           '--resume to continue it or choose another --out')
        old = read_manifest(out_dir)
        differences = manifest_differences(old, manifest)
        if differences:
            why = '; '.join(source_differences(old, manifest)) if 'source' in differences else ''
            raise LabelStoreError(f'--resume: {out_dir} was generated with a different '
                           f'{", ".join(differences)}{" (" + why + ")" if why else ""}; its '
                           'labels are kept as they are: use a new --out for these settings')
        manifest['created'] = old.get('created', manifest['created'])
        old_shards = dict(old.get('shards') or {})
    elif list_shards(out_dir):
        raise LabelStoreError(f'{out_dir} holds shard files but no {MANIFEST_NAME}; remove them or '
                       'choose another --out')
    for tmp in glob.glob(osp.join(out_dir, '*.tmp-*')):
        os.remove(tmp)  # partial shards of a killed run (the lock says none is running)
    # on disk the checksums come from the .sha256 files until the run finishes
    write_manifest(out_dir, manifest)
    return dict(manifest, shards=old_shards)


def plan_work(out_dir: str, manifest: dict, mine: List[int]
              ) -> Tuple[List[int], List[int], List[Tuple[str, str]]]:
    """Shards of this rank to write, to keep, and the existing ones that are
    redone with the reason (corrupt, another frame slice, no checksum).

    A kept shard is verified in full (sha256, frame table, rows): resuming
    costs one read of the kept shards, spread over the ranks.
    """
    todo, kept, redone = [], [], []
    for index in mine:
        path = shard_path(out_dir, index)
        if not osp.isfile(path):
            todo.append(index)
            continue
        reason = check_shard(out_dir, manifest, index)
        if reason is None:
            kept.append(index)
            entry = (manifest.get('shards') or {}).get(SHARD_PATTERN.format(index))
            if read_checksum(path) is None and entry:
                write_checksum(path, entry['sha256'], ShardFile(path).row_sha256)
        else:
            todo.append(index)
            redone.append((SHARD_PATTERN.format(index), reason))
    return todo, kept, redone


def finish_manifest(out_dir: str, manifest: dict, num_shards: int) -> dict:
    """Rank 0, at the end: record every shard's checksum and the counts in
    the manifest (written atomically) and return it."""
    present = list_shards(out_dir)
    entries: Dict[str, dict] = {}
    total_labelled, all_failed = 0, []
    for index, path in present.items():
        if index >= num_shards:
            continue
        shard = ShardFile(path)
        total_labelled += len(shard.frame_ids)
        all_failed += [list(f) for f in shard.failed]
        entries[osp.basename(path)] = {'sha256': read_checksum(path),
                                       'bytes': sum(map(os.path.getsize, shard_files(path))),
                                       'frames': len(shard.frame_ids),
                                       'failed': len(shard.failed)}
    complete = all(i in present for i in range(num_shards))
    manifest.update(counts=dict(frames=len(manifest['frame_ids']), labelled=total_labelled,
                                failed=len(all_failed)),
                    failed=all_failed, complete=complete, shards=entries, finished=now_iso())
    write_manifest(out_dir, manifest)
    return manifest


def finish_run(out_dir: str, manifest: dict, num_shards: int, all_stats: List[dict],
               world_size: int) -> dict:
    """Rank 0, after every rank finished: the final manifest and summary;
    ``all_stats`` are the ranks' counts (``labelled``, ``skipped_frames``,
    ``redone``, ``seconds``)."""
    manifest = finish_manifest(out_dir, manifest, num_shards)
    frame_ids = manifest['frame_ids']
    all_failed = manifest['failed']
    this_run = sum(s['labelled'] for s in all_stats)
    kept = sum(s['skipped_frames'] for s in all_stats)
    redone = [name for s in all_stats for name, _ in s['redone']]
    rate = this_run / max(max(s['seconds'] for s in all_stats), 1e-9)
    print(f'\n[generate_pseudo_labels] done: {this_run} frames labelled now '
          f'({rate:.2f} frames/s over {world_size} process(es)), {kept} frames kept from '
          f'complete shards (--resume), {len(redone)} bad shard(s) redone, '
          f'{len(all_failed)} failed; {manifest["counts"]["labelled"]} of '
          f'{len(frame_ids)} frames stored in {out_dir}', flush=True)
    if redone:
        print(f'[generate_pseudo_labels] redone: {", ".join(sorted(redone))}')
    if all_failed:
        print(f'[generate_pseudo_labels] {len(all_failed)} frame(s) could not be labelled '
              '(listed in manifest.json "failed"):')
        for frame_id, reason in all_failed[:20]:
            print(f'  {frame_id}: {reason}')
        if len(all_failed) > 20:
            print(f'  ... and {len(all_failed) - 20} more')
    return manifest


class Progress:
    """mmengine's ProgressBar (tasks/s = frames/s) on rank 0, silent elsewhere."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total > 0:
            from mmengine.utils import ProgressBar
            self.bar = ProgressBar(total, file=sys.stdout)

    def update(self):
        if self.bar is not None:
            self.bar.update()


def format_verify_report(label_dir: str, report: dict) -> Tuple[List[str], Optional[str]]:
    """(lines to print, ``None`` or the one-line failure) of
    :func:`~d3l.soft_labels.verify_store`'s report."""
    lines = [f'[verify] {label_dir}: {len(report["good"])} of {report["shards"]} shards good, '
             f'{len(report["bad"])} bad, {len(report["missing"])} missing']
    for name, reason in report['bad']:
        lines.append(f'  BAD {name}: {reason}')
    for name in report['missing']:
        lines.append(f'  MISSING {name}')
    for path in report['extra']:
        lines.append(f'  EXTRA {path}: beyond the manifest\'s shards')
    if report['lock'] is not None:
        lines.append(f'  note: {label_dir} is locked by a writer ({report["lock"]}); shards '
                     'may still be appearing')
    problems = [f'{name} ({reason})' for name, reason in report['bad']]
    problems += [f'{name} (missing)' for name in report['missing']]
    problems += [f'{osp.basename(p)} (extra)' for p in report['extra']]
    if not problems:
        return lines, None
    return lines, (f'{label_dir}: {len(problems)} bad shard(s): {"; ".join(problems[:5])}'
                   f'{" ..." if len(problems) > 5 else ""}; --resume redoes them')
