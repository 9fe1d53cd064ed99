"""The stages of :func:`.build.build_world` (and of the teacher corpus): their
items run in worker processes, with a log line, duration and progress bar
per stage (:class:`_Stages`)."""
from __future__ import annotations

import sys
import time
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Tuple

from mmengine.logging import print_log
from mmengine.utils import ProgressBar

# imported once by the worker processes' server (forkserver): the module of
# the items' functions and the world's numba kernels
_PRELOAD = tuple(f'{__package__}.{name}' for name in (
    'build', 'raycast_kernel', 'distance_kernel'))


class _Stages:
    """Runs the items of each stage (in worker processes when asked), logs
    the stage with its duration and the number of items already on disk,
    with a progress bar. Inside ``with _Stages(...)``, one pool of workers
    serves every stage (each worker starts once, ~3-6 s on 2 cores, not once
    per stage); otherwise each :meth:`run` starts and closes its own."""

    def __init__(self, progress: bool, workers: int = 1):
        self.progress = progress
        self.workers = workers
        self.seconds: Dict[str, float] = {}
        self._pool = None
        self._keep = False

    def __enter__(self) -> _Stages:
        self._keep = True  # one pool until __exit__ (else one per run, closed after it)
        return self

    def __exit__(self, exc_type, *_) -> None:
        self._keep = False
        self._close(failed=exc_type is not None)

    def _close(self, failed: bool = False) -> None:
        if self._pool is not None:
            if failed:  # do not wait for the queued items of a failed build
                self._pool.terminate()
            else:
                self._pool.close()
            self._pool.join()
            self._pool = None

    @contextmanager
    def stage(self, name: str, total: int) -> Iterator:
        print_log(f'[synthetic world] {name}: {total} item(s)', logger='current')
        start = time.perf_counter()
        bar = ProgressBar(total) if self.progress and total else None
        counter = dict(skipped=0)

        def step(skipped: bool = False):
            counter['skipped'] += int(skipped)
            if bar is not None:
                bar.update()
        yield step
        if bar is not None:
            print('', flush=True)
        elapsed = time.perf_counter() - start
        self.seconds[name] = round(elapsed, 2)
        note = f', {counter["skipped"]} already on disk (skipped)' if counter['skipped'] else ''
        print_log(f'[synthetic world] {name}: done in {elapsed:.1f} s{note}', logger='current')

    def _worker_pool(self):
        if self._pool is None:
            import multiprocessing as mp

            # not 'fork': a job that runs torch in a child forked from a process
            # whose OpenMP pool has run (any earlier torch op) can hang forever
            methods = mp.get_all_start_methods()
            context = mp.get_context('forkserver' if 'forkserver' in methods else 'spawn')
            if 'forkserver' in methods:
                # the server imports the package (and numba) once and forks the
                # workers from it, instead of each worker importing it (~4 s);
                # no effect when this process's server already runs
                context.set_forkserver_preload(['__main__', *_PRELOAD])
            self._pool = context.Pool(self.workers)
        return self._pool

    def run(self, name: str, jobs: List[Tuple[Callable, tuple, bool]]) -> list:
        """``jobs``: (function, arguments, already done) triples; returns the
        functions' results in job order (None for the skipped ones)."""
        todo = [(k, fn, args) for k, (fn, args, done) in enumerate(jobs) if not done]
        results = [None] * len(jobs)
        with self.stage(name, len(jobs)) as step:
            for _ in range(len(jobs) - len(todo)):
                step(skipped=True)
            if self.workers > 1 and len(todo) > 1:
                pool = self._worker_pool()
                try:
                    for k, result in pool.imap_unordered(_call, todo):
                        results[k] = result
                        step()
                finally:
                    if not self._keep:
                        self._close(failed=sys.exc_info()[0] is not None)
            else:
                for job in todo:
                    k, result = _call(job)
                    results[k] = result
                    step()
        return results


def _call(job):
    k, fn, args = job
    return k, fn(*args)
