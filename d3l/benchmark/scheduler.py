"""The demo's jobs on a pool of worker processes, each started as soon as
the jobs it depends on have finished (``concurrent.futures``)."""
from __future__ import annotations

import json
import multiprocessing as mp
import os.path as osp
import time
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Callable, Dict, List, Optional, Tuple

from . import jobs as J
from .plan import DemoError, Plan


def log(message: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {message}', flush=True)


def fmt_seconds(seconds: float) -> str:
    return f'{seconds:.0f} s' if seconds >= 10 else f'{seconds:.1f} s'


def read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def cached_result(spec: dict) -> Optional[dict]:
    result = read_json(osp.join(spec['dir'], 'result.json'))
    if result is None:
        return None
    # a result whose files were removed is stale
    for key in ('checkpoint', 'backbone', 'label_dir'):
        if key in result and not osp.exists(result[key]):
            return None
    return result


def _note(spec: dict, result: dict, finetune: List[int]) -> str:
    """The console's summary of a finished job (``finetune``: [done, total])."""
    if spec['kind'] == 'finetune':
        finetune[0] += 1
        return f'mIoU {result["miou"]:.1f} [{finetune[0]}/{finetune[1]}]'
    if spec['kind'] in ('teacher', 'teacher_zoo'):
        return (f'mIoU {result["miou"]:.1f}, pixel accuracy '
                f'{result["pixel_acc"]:.1f} on held-out photos')
    if spec['kind'] == 'pseudo_labels':
        return (f'top-1 vs the frames\' ground truth: mIoU '
                f'{result.get("miou", float("nan")):.1f}, pixel accuracy '
                f'{result.get("pixel_acc", float("nan")):.1f}')
    if spec['kind'] == 'fused_labels':
        return f'{result["seen_percent"]:.1f} % of the training rooms\' vertices seen by a frame'
    agreement = result.get('final_acc_teacher') or 0.0
    return f'agreement with the teacher {agreement:.1f} %'


def _stop(executor: ProcessPoolExecutor) -> None:
    """Stop the workers now: a failed or interrupted demo does not wait for
    the other running jobs (minutes each). ``shutdown`` alone would wait for
    them, so the processes are terminated first (``_processes`` is the
    executor's own table of its workers)."""
    for process in list((getattr(executor, '_processes', None) or {}).values()):
        process.terminate()
    executor.shutdown(wait=True, cancel_futures=True)


def run_jobs(jobs: List[dict], plan: Plan, workers: int, threads: int,
             run: Callable[[dict], dict] = J.run_job) -> Dict[str, dict]:
    """Run the jobs on ``workers`` processes as their dependencies finish;
    returns name -> result. A failed job stops the demo (the other workers
    are terminated) with the job's log named."""
    results: Dict[str, dict] = {}
    pending = []
    for spec in jobs:
        cached = cached_result(spec)
        if cached is not None:
            results[spec['name']] = cached
        else:
            pending.append(spec)
    if len(results):
        log(f'{len(results)} of {len(jobs)} jobs already done in {plan.out} (cached, skipped)')
    if not pending:
        return results
    finetune = [sum(1 for s in jobs if s['kind'] == 'finetune' and s['name'] in results),
                sum(1 for s in jobs if s['kind'] == 'finetune')]
    running: Dict[Future, Tuple[dict, float]] = {}
    # spawn: no fork of a parent that may hold threads
    executor = ProcessPoolExecutor(workers, mp_context=mp.get_context('spawn'),
                                   initializer=J.init_worker, initargs=(threads,))
    try:
        while pending or running:
            ready = [s for s in pending if all(d in results for d in s['deps'])]
            while ready and len(running) < workers:
                spec = plan.fill(ready.pop(0), results)
                pending = [s for s in pending if s['name'] != spec['name']]
                log(f'{spec["title"]}: started (log: {osp.join(spec["dir"], "job.log")})')
                running[executor.submit(run, spec)] = (spec, time.perf_counter())
            if not running:
                missing = sorted({d for s in pending for d in s['deps']} - set(results))
                raise DemoError(f'jobs wait for {missing}, which will never finish')
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in [f for f in running if f in done]:  # in the order started
                spec, started = running.pop(future)
                try:
                    result = future.result()
                except Exception as err:  # noqa: BLE001 - reported with the job's log
                    raise DemoError(f'{spec["title"]} failed: {type(err).__name__}: {err} '
                                    f'(log: {osp.join(spec["dir"], "job.log")})') from err
                results[spec['name']] = result
                log(f'{spec["title"]}: done in {fmt_seconds(time.perf_counter() - started)}: '
                    f'{_note(spec, result, finetune)}')
    finally:
        _stop(executor)
    return results
