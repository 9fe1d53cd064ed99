"""One writer per label directory: ``writer.lock``.

The lock file is created exclusively (``O_CREAT | O_EXCL``) and holds the
owner's pid, host, process start time, a run id and its command line. A
second writer is refused with the owner named. A lock whose owner is dead
(same host, no process with that pid and start time) is stale: it is taken
over with a message. A lock of another host cannot be checked from here and
is never taken over; remove it by hand once that run is gone.

Every process of a run (all ranks) calls :meth:`StoreLock.check_owner`
before it commits a shard: a worker left running after its launcher was
killed finds the lock taken over by a new run and stops instead of writing.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import socket
import sys
import time
import uuid
from typing import Optional

from .manifest import LabelStoreError

LOCK_NAME = 'writer.lock'


class StoreLockError(LabelStoreError):
    """The directory is being written by another process (or was taken over)."""


def _process_start(pid: int) -> Optional[str]:
    """Start time of a process (clock ticks since boot), to tell a live
    owner from an unrelated process that reused its pid; ``None`` where
    ``/proc`` is not available."""
    try:
        with open(f'/proc/{pid}/stat', encoding='ascii') as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return fields[19]
    except (OSError, IndexError):
        return None


def _alive(pid: int, start: Optional[str]) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    current = _process_start(pid)
    return start is None or current is None or current == start


def read_lock(label_dir: str) -> Optional[dict]:
    """The lock's content, ``{}`` if unreadable, ``None`` when unlocked."""
    path = osp.join(label_dir, LOCK_NAME)
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}


def describe_owner(owner: dict) -> str:
    return (f'pid {owner.get("pid")} on host {owner.get("host")!r} (run {owner.get("run_id")}, '
            f'since {owner.get("started")}: {owner.get("command")})')


class StoreLock:
    """The writer lock of ``label_dir``, for run ``run_id``.

    Args:
        label_dir: the label directory (created if needed).
        run_id: identifies the run; all its ranks share it (default: new).
        log: where messages about taking over a stale lock go.
    """

    def __init__(self, label_dir: str, run_id: Optional[str] = None, log=None):
        self.label_dir = label_dir
        self.path = osp.join(label_dir, LOCK_NAME)
        self.run_id = run_id or uuid.uuid4().hex
        self.log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self.held = False

    def _content(self) -> dict:
        return {'pid': os.getpid(), 'host': socket.gethostname(),
                'process_start': _process_start(os.getpid()), 'run_id': self.run_id,
                'started': time.strftime('%Y-%m-%dT%H:%M:%S'),
                'command': ' '.join(sys.argv)[:500]}

    def _create(self) -> bool:
        try:
            fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            return False
        with os.fdopen(fd, 'w', encoding='utf-8') as f:
            json.dump(self._content(), f)
            f.flush()
            os.fsync(f.fileno())
        return True

    def acquire(self) -> StoreLock:
        """Take the lock, or raise :class:`StoreLockError` naming its owner."""
        os.makedirs(self.label_dir, exist_ok=True)
        for _ in range(3):
            if self._create():
                self.held = True
                return self
            owner = read_lock(self.label_dir)
            if owner is None:
                continue  # released meanwhile
            self._take_over_if_stale(owner)
        raise StoreLockError(f'{self.path}: could not take the lock (other writers keep '
                             'starting)')

    def _take_over_if_stale(self, owner: dict) -> None:
        same_host = owner.get('host') == socket.gethostname()
        pid = owner.get('pid')
        if not owner or not isinstance(pid, int) or not same_host or \
                _alive(pid, owner.get('process_start')):
            where = ('' if same_host or not owner else
                     '; it is another host\'s, so it cannot be checked from here: remove the file '
                     'once that run is stopped')
            held_by = (describe_owner(owner) if owner else
                       'an unreadable lock (remove it if no generation runs)')
            raise StoreLockError(
                f'{self.label_dir} is being written by another process: {self.path} is held by '
                f'{held_by}{where}. Stop that run (see docs/pretraining.md) or use another --out')
        # move it aside first, so that two processes cannot both take it over
        aside = f'{self.path}.stale-{os.getpid()}'
        try:
            os.replace(self.path, aside)
        except FileNotFoundError:
            return
        moved = _read_json(aside)
        if moved != owner:  # someone else's fresh lock: put it back, it is not ours to break
            try:
                os.link(aside, self.path)
            except OSError:
                pass
            os.remove(aside)
            raise StoreLockError(f'{self.label_dir}: another writer is taking the lock at the '
                                 'same time; retry')
        os.remove(aside)
        self.log(f'[generate_pseudo_labels] {self.path}: taking over the stale lock of '
                 f'{describe_owner(owner)}: that process is gone')

    def check_owner(self) -> None:
        """Raise :class:`StoreLockError` unless this run still holds the lock."""
        owner = read_lock(self.label_dir)
        if not owner or owner.get('run_id') != self.run_id:
            raise StoreLockError(
                f'{self.label_dir}: this run ({self.run_id}) no longer holds {self.path} '
                f'({"taken by " + describe_owner(owner) if owner else "it is gone"}); this '
                f'process (pid {os.getpid()}) stops without writing')

    def release(self) -> None:
        if not self.held:
            return
        self.held = False
        owner = read_lock(self.label_dir)
        if owner and owner.get('run_id') == self.run_id:
            os.remove(self.path)

    def __enter__(self) -> StoreLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_json(path: str) -> dict:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}
