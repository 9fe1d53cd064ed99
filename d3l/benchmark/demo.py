"""The whole method end to end on the synthetic world, in minutes on a CPU:
:func:`run_demo` (``tools/demo.py`` is its command line).

Stages (each with the registered components and the configs of
``configs/demo/`` that a user runs on real data):

1. ``world``: :func:`d3l.benchmark.world.build_world` writes the world to
   ``DIR/world`` (the 2D teacher photos the teacher needs, unlabelled RGB-D,
   ScanNet-layout scenes);
2. ``splits``: ``tools/make_data_efficient_splits.py`` draws, per seed, the
   Limited Annotations (20 points per scene) and Limited Reconstructions (5 %
   of the rooms) files;
3. ``teacher``: the 2D teacher shipped with d3l (``d3l.model_zoo``, an mmseg
   DPT-Hybrid trained once on a corpus of other worlds, as the paper's DPT
   is trained once on ADE20K; its sha256 is checked), scored on this world's
   held-out photos;
4. ``pseudo-labels``: the teacher runs once over the RGB-D frames and
   panoramas (through ``MMSegTeacher``) and stores soft labels; their
   agreement with the frames' ground truth is reported (the ground truth is
   never used for training);
5. ``pre-training``: the 3D U-Net (``Pretrainer``, soft cross-entropy) is
   pre-trained on the lifted frames, its head dropped (backbone export);
6. ``fine-tuning``: for every seed and setting (LA 20, LR 5 %), the same
   config from scratch and from the pre-trained weights (the only difference
   is ``load_from``), plus the full-labels reference (scratch, every point
   of every training room, the same schedule), each scored on every point of
   the held-out rooms;
7. ``report``: ``DIR/results.json``, ``DIR/results.md`` (with per-class IoU
   and labelled points per class), ``DIR/results.png`` and PLY files under
   ``DIR/ply`` (:mod:`d3l.benchmark.report`).

``teacher='train'`` trains a small DPT inside the demo on the world's photos
instead (the path of demo version 2); ``teacher='oracle'`` replaces stages 3
and 4 by the frames' ground-truth 2D labels (``PrecomputedTeacher``), the
paper's oracle ablation: what a perfect 2D teacher would give.

Every stage's output is cached in ``DIR``: a re-run skips finished work
(``result.json`` of each job) and redoes unfinished jobs; more seeds can be
added later (3 seeds after 2 runs only the new ones); a folder made with
another preset, teacher or world seed is refused. Jobs run in ``workers``
processes (default: one per CPU core, at most 2) that share the cores
(:mod:`d3l.benchmark.scheduler`); their logs go to ``DIR/<job>/job.log`` and
the console shows each stage with its duration.
"""
from __future__ import annotations

import json
import os
import os.path as osp
import resource
import time
from typing import Dict, Optional

from . import jobs as J
from . import report
from .plan import DEMO_VERSION, SCHEDULES, TEACHER_PHOTOS, TEACHERS, DemoError, Plan
from .scheduler import fmt_seconds, log, read_json, run_jobs


def make_splits(plan: Plan) -> int:
    """LA / LR files per seed (tools/make_data_efficient_splits.py); returns
    how many seeds were already on disk."""
    tool = J.tool('make_data_efficient_splits')
    cached = 0
    lr = f'{plan.schedule["lr_percent"]:g}'
    points = [str(n) for n in plan.schedule['la_points']]
    for seed in plan.seeds:
        files = plan.split_files(seed)
        if all(osp.isfile(p) for p in files.values()):
            cached += 1
            continue
        root = osp.dirname(osp.dirname(files['lr']))
        with J.output_to(osp.join(root, 'splits.log')):
            tool.main(['scannet-la', '--data-root', plan.world['scannet'], '--out',
                       osp.join(root, 'points'), '--points', *points, '--seed', str(seed)])
            tool.main(['scannet-lr', '--data-root', plan.world['scannet'], '--out',
                       osp.dirname(files['lr']), '--percent', lr, '--seed', str(seed)])
    return cached


def check_out_dir(out: str, identity: dict) -> None:
    """``DIR/demo.json`` records what the cached stages were made with; a
    directory of another preset or demo version is refused."""
    path = osp.join(out, 'demo.json')
    existing = read_json(path)
    if existing is not None and existing != identity:
        raise DemoError(
            f'{out} holds a demo run of another configuration ({path}: preset '
            f'{existing.get("preset")!r}, teacher {existing.get("teacher")!r}, world seed '
            f'{existing.get("world_seed")}, version {existing.get("version")}; asked: preset '
            f'{identity["preset"]!r}, teacher {identity["teacher"]!r}, world seed '
            f'{identity["world_seed"]}, version {identity["version"]}); use another --out '
            'or delete it')
    J.write_json(path, identity)


def label_coverage(plan: Plan) -> dict:
    """Labelled points per class of each setting (expected and, per seed, in
    the split files), and validation rooms per class."""
    from .world import coverage

    scannet = plan.world['scannet']
    out = dict(val_rooms=coverage.rooms_per_class(scannet, 'val'))
    for setting in plan.settings:
        if setting.startswith('la'):
            counts = [coverage.la_file_counts(scannet, plan.split_files(s)[setting])
                      for s in plan.seeds]
            expected = coverage.expected_la_counts(scannet, int(setting[2:]))
        else:
            counts = []
            for seed in plan.seeds:
                with open(plan.split_files(seed)['lr'], encoding='utf-8') as f:
                    scenes = [line.strip() for line in f if line.strip()]
                counts.append(coverage.scene_list_counts(scannet, scenes))
            expected = None
        mean = {k: round(sum(c[k] for c in counts) / len(counts), 1) for k in counts[0]}
        entry = dict(per_seed_mean=mean, per_seed_min={k: min(c[k] for c in counts)
                                                       for k in counts[0]})
        if expected is not None:
            entry.update(expected=expected, min_expected=min(expected.values()))
        out[setting] = entry
    return out


def _cpu_seconds() -> dict:
    """CPU time of this process and of its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return dict(main=round(own.ru_utime + own.ru_stime, 1),
                workers=round(children.ru_utime + children.ru_stime, 1))


def _print_table(plan: Plan, summary: dict, seconds: float) -> None:
    header = ' '.join(f'{report.column(s):>14}' for s in plan.settings)
    print(f'\n{"mIoU (%)":<12} {header}')
    for init in plan.inits:
        row = ' '.join(f'{summary[init][s]:8.1f} ± {summary["std"][init][s]:3.1f}'
                       if s in summary[init] else f'{report.NOT_RUN:>14}'
                       for s in plan.settings)
        print(f'{init:<12} {row}')
    print(f'{"full labels":<12} {summary["full"]:8.1f} (seeds {plan.full_seeds})')
    teacher = ('oracle teacher (ground-truth 2D labels)' if plan.teacher == 'oracle' else
               f'2D teacher mIoU {summary["teacher_2d_miou"]:.1f}')
    print(f'{teacher}; total {fmt_seconds(seconds)}; see '
          f'{osp.join(plan.out, "results.md")}', flush=True)


def _resources(workers: Optional[int], threads: Optional[int]):
    cores = os.cpu_count() or 1
    workers = workers or max(1, min(2, cores))
    threads = threads or max(1, cores // workers)
    if workers < 1 or threads < 1:
        raise DemoError('--workers and --threads must be >= 1')
    return cores, workers, threads


def _build_world(out: str, preset: str, world_seed: int, teacher: str) -> Dict[str, str]:
    from .world import build_world
    from .world.build import WorldMismatchError
    try:
        return build_world(osp.join(out, 'world'), preset, seed=world_seed,
                           teacher_photos=TEACHER_PHOTOS[teacher])
    except WorldMismatchError as err:
        raise DemoError(str(err)) from None


def _report(plan: Plan, results: Dict[str, dict], wall: Dict[str, float], cpu: dict) -> dict:
    summary = report.summarize(plan, results, wall, cpu, label_coverage(plan))
    J.write_json(osp.join(plan.out, 'results.json'), summary)
    report.write_markdown(osp.join(plan.out, 'results.md'), plan, summary)
    report.write_plot(osp.join(plan.out, 'results.png'), plan, summary)
    return summary


def run_demo(out: str, preset: str = 'default', seeds: int = 3, world_seed: int = 0,
             teacher: str = 'zoo', workers: Optional[int] = None,
             threads: Optional[int] = None, fusion: bool = False) -> dict:
    """Run (or resume) the demo in ``out``; returns the content of
    ``results.json``. ``fusion`` adds the row pre-trained on the teacher's
    labels fused onto the training rooms (:mod:`d3l.benchmark.fused`; an
    existing folder gains its jobs). Raises :class:`DemoError` on a
    user-facing problem."""
    if seeds < 1:
        raise DemoError(f'--seeds must be >= 1, got {seeds}')
    if teacher not in TEACHERS:
        raise DemoError(f'--teacher must be one of {list(TEACHERS)}, got {teacher!r}')
    cores, workers, threads = _resources(workers, threads)
    out = osp.abspath(out)
    os.makedirs(out, exist_ok=True)
    identity = dict(version=DEMO_VERSION, preset=preset, world_seed=world_seed,
                    teacher=teacher, schedule=SCHEDULES[preset])
    check_out_dir(out, json.loads(json.dumps(identity)))  # as read back (tuples -> lists)
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    wall: Dict[str, float] = {}
    log(f'preset {preset}, world seed {world_seed}, teacher {teacher}, '
        + ('fused-labels row, ' if fusion else '') +
        f'{seeds} seed(s), {workers} worker(s) x {threads} thread(s); output in {out}')

    log('stage 1/4: the synthetic world')
    t = time.perf_counter()
    world = _build_world(out, preset, world_seed, teacher)
    wall['world'] = time.perf_counter() - t
    log(f'the synthetic world: done in {fmt_seconds(wall["world"])}')

    plan = Plan(out, preset, seeds, world, teacher=teacher, world_seed=world_seed, fusion=fusion)
    t = time.perf_counter()
    cached = make_splits(plan)
    wall['splits'] = time.perf_counter() - t
    log(f'stage 2/4: LA / LR split files for {len(plan.seeds)} seed(s): done in '
        f'{fmt_seconds(wall["splits"])}' + (f' ({cached} cached)' if cached else ''))

    jobs = plan.jobs()
    log('stage 3/4: teacher, pseudo-labels, pre-training'
        + (', fused labels and pre-training on them' if fusion else '') + ' and '
        f'{sum(j["kind"] == "finetune" for j in jobs)} fine-tuning runs')
    t = time.perf_counter()
    results = run_jobs(jobs, plan, workers, threads)
    wall['jobs'] = time.perf_counter() - t

    t = time.perf_counter()
    wall['total'] = time.perf_counter() - start
    cpu = _cpu_seconds()
    cpu.update(total=round(cpu['main'] + cpu['workers'], 1), cores=cores,
               load_start=round(load_start, 2), load_end=round(os.getloadavg()[0], 2),
               jobs=round(sum(r.get('cpu_seconds', 0.0) for r in results.values()), 1))
    summary = _report(plan, results, wall, cpu)
    log(f'stage 4/4: report: done in {fmt_seconds(time.perf_counter() - t)}')
    _print_table(plan, summary, time.perf_counter() - start)
    return summary
