"""The demo's scheduler (d3l.benchmark.scheduler): jobs start when the jobs
they depend on have finished, at most ``workers`` at a time, finished jobs
are reused, and a failed job stops the others at once with its log named."""
import json
import os
import os.path as osp
import time

import pytest

from d3l.benchmark.plan import DemoError
from d3l.benchmark.scheduler import run_jobs


def fake_job(spec: dict) -> dict:
    """A job of the test (imported by name in the spawned workers)."""
    start = time.time()
    os.makedirs(spec['dir'], exist_ok=True)
    with open(osp.join(spec['dir'], 'pid'), 'w', encoding='utf-8') as f:
        f.write(str(os.getpid()))
    time.sleep(spec['sleep'])
    for _ in range(3000):  # wait until another job runs (spawned workers start slowly)
        if not spec.get('wait_for') or osp.isfile(spec['wait_for']):
            break
        time.sleep(0.1)
    if spec.get('fail'):
        raise ValueError(f'{spec["name"]} broke')
    return dict(start=start, end=time.time(), pid=os.getpid(), got=spec.get('got'))


class _Plan:
    def __init__(self, out):
        self.out = str(out)

    def fill(self, spec, results):
        # what a job needs from its dependencies, as Plan.fill does
        return dict(spec, got=[results[d]['end'] for d in spec['deps']])


def _spec(tmp_path, name, deps=(), sleep=0.0, **more):
    return dict(name=name, kind='other', dir=str(tmp_path / name), deps=list(deps),
                sleep=sleep, title=f'job {name}', **more)


def test_dependencies_and_worker_count(tmp_path):
    jobs = [_spec(tmp_path, 'a', sleep=1.0), _spec(tmp_path, 'b', ['a']),
            _spec(tmp_path, 'c', sleep=1.0), _spec(tmp_path, 'd', ['b', 'c'])]
    results = run_jobs(jobs, _Plan(tmp_path), workers=2, threads=1, run=fake_job)
    assert set(results) == {'a', 'b', 'c', 'd'}
    # a job starts after the jobs it depends on, and is given their results
    assert results['b']['start'] >= results['a']['end']
    assert results['d']['start'] >= max(results['b']['end'], results['c']['end'])
    assert results['d']['got'] == [results['b']['end'], results['c']['end']]
    # a and c (independent) were given to the two workers at once
    assert results['a']['pid'] != results['c']['pid']
    assert len({r['pid'] for r in results.values()} - {os.getpid()}) == 2


def test_cached_results_are_reused(tmp_path, capsys):
    jobs = [_spec(tmp_path, 'a'), _spec(tmp_path, 'b', ['a'])]
    os.makedirs(jobs[0]['dir'])
    with open(osp.join(jobs[0]['dir'], 'result.json'), 'w', encoding='utf-8') as f:
        json.dump(dict(end=123.0), f)
    results = run_jobs(jobs, _Plan(tmp_path), workers=1, threads=1, run=fake_job)
    assert results['a'] == dict(end=123.0)
    assert results['b']['got'] == [123.0]
    assert '1 of 2 jobs already done' in capsys.readouterr().out


def test_a_failed_job_stops_the_others(tmp_path):
    jobs = [_spec(tmp_path, 'slow', sleep=600.0), _spec(tmp_path, 'bad', fail=True,
                                                       wait_for=str(tmp_path / 'slow' / 'pid'))]
    with pytest.raises(DemoError) as err:
        run_jobs(jobs, _Plan(tmp_path), workers=2, threads=1, run=fake_job)
    # the 600 s job was terminated, not waited for: its process is gone
    with open(tmp_path / 'slow' / 'pid', encoding='utf-8') as f:
        pid = int(f.read())
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    message = str(err.value)
    assert 'job bad failed: ValueError: bad broke' in message
    assert osp.join(str(tmp_path / 'bad'), 'job.log') in message


def test_jobs_that_can_never_start(tmp_path):
    with pytest.raises(DemoError, match=r"jobs wait for \['missing'\]"):
        run_jobs([_spec(tmp_path, 'a', ['missing'])], _Plan(tmp_path), workers=1, threads=1,
                 run=fake_job)
