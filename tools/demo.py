"""The whole method end to end on the synthetic world, in minutes on a CPU.

    python tools/demo.py --out DIR [--preset tiny|default] [--seeds N] [--workers N]
                         [--world-seed S] [--teacher zoo|train|oracle]

Stages (each with the registered components and the configs of
``configs/demo/`` that a user runs on real data, through the tools' own
``main()`` functions):

1. ``world``: :func:`d3l.datasets.synthetic.build_world` writes the world to
   ``DIR/world`` (2D teacher photos, unlabelled RGB-D, ScanNet-layout scenes);
2. ``splits``: ``tools/make_data_efficient_splits.py`` draws, per seed, the
   Limited Annotations (20 points per scene) and Limited Reconstructions (5 %
   of the rooms) files;
3. ``teacher``: the 2D teacher shipped with d3l (``d3l.model_zoo``, an mmseg
   DPT-Hybrid trained once on a corpus of other worlds, as the paper's DPT
   is trained once on ADE20K; its sha256 is checked), scored by
   ``tools/test.py`` on this world's held-out photos;
4. ``pseudo-labels``: ``tools/generate_pseudo_labels.py`` runs it once over
   the RGB-D frames and panoramas (through ``MMSegTeacher``) and stores soft
   labels; their agreement with the frames' ground truth is reported (the
   ground truth is never used for training);
5. ``pre-training``: ``tools/train.py`` pre-trains the 3D U-Net
   (``Pretrainer``, soft cross-entropy) on the lifted frames,
   ``tools/export_backbone.py`` drops its head;
6. ``fine-tuning``: for every seed and setting (LA 20, LR 5 %), the same
   config from scratch and from the pre-trained weights (the only difference
   is ``load_from``), plus the full-labels reference (scratch, every point
   of every training room, the same schedule), each scored by
   ``tools/test.py`` on every point of the held-out rooms;
7. ``report``: ``DIR/results.json``, ``DIR/results.md`` (with per-class IoU
   and labelled points per class), ``DIR/results.png`` and PLY files under
   ``DIR/ply`` (``tools/demo_report.py``).

``--teacher train`` trains a small DPT inside the demo on the world's photos
instead (the path of demo version 2); ``--teacher oracle`` replaces stages 3
and 4 by the frames' ground-truth 2D labels (``PrecomputedTeacher``), the
paper's oracle ablation: what a perfect 2D teacher would give.

Every stage's output is cached in ``DIR``: a re-run skips finished work
(``result.json`` of each job) and redoes unfinished jobs; more seeds can be
added later (``--seeds 5`` after ``--seeds 3`` runs only the new ones); a
folder made with another preset, teacher or world seed is refused. Jobs run
in ``--workers`` processes (default: one per CPU core, at most 2) that share
the cores; their logs go to ``DIR/<job>/job.log`` and the console shows each
stage with its duration.
"""
from __future__ import annotations

import argparse
import json
import os
import os.path as osp
import resource
import sys
import time
from typing import Dict, List, Optional

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import demo_jobs  # noqa: E402  (tools/ is not a package; spawned workers import it by name)
import demo_report  # noqa: E402

CONFIG_DIR = demo_jobs.CONFIG_DIR
#: the 3D network of the demo's configs (configs/demo/*_{BACKBONE}_*.py)
BACKBONE = 'spunet'
PRETRAIN_CONFIG = osp.join(CONFIG_DIR, f'pretrainer_dpt-synthetic_synthetic-rgbd_{BACKBONE}.py')
#: --teacher oracle: the frames' ground-truth 2D labels instead of a DPT
PRETRAIN_GT_CONFIG = osp.join(CONFIG_DIR, f'pretrainer_gt-synthetic_synthetic-rgbd_{BACKBONE}.py')
TEACHERS = ('zoo', 'train', 'oracle')
INITS = demo_report.INITS
INIT_TAGS = dict(scratch='scratch', pretrained='dpt-synthetic')

#: the demo's schedules per preset (the world's sizes and the trained
#: teacher's iterations live in d3l.datasets.synthetic.presets).
#: ``la_points``: the Limited Annotations settings (points per training room);
#: ``lr_percent``: the Limited Reconstructions setting, a percentage of the
#: training rooms; ``full_seeds``: seeds of the full-labels reference (a
#: reference, not a comparison: one run keeps the default within 15 minutes).
SCHEDULES = {
    'tiny': dict(pretrain_iters=12, finetune_iters=8, la_points=(20,), lr_percent=25,
                 full_seeds=1),
    'default': dict(pretrain_iters=1000, finetune_iters=500, la_points=(20,), lr_percent=5,
                    full_seeds=1),
}
#: bump when a change of the demo alters its results (invalidates caches)
DEMO_VERSION = 3


class DemoError(Exception):
    """A user-facing problem (printed as one line, exit code 2)."""


def _log(message: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {message}', flush=True)


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _fmt_seconds(seconds: float) -> str:
    return f'{seconds:.0f} s' if seconds >= 10 else f'{seconds:.1f} s'


def setting_names(schedule: dict) -> List[str]:
    """The fine-tuning settings (keys of results.json), in the paper's order;
    the full-labels reference ``full`` comes on top."""
    return [f'la{n}' for n in schedule['la_points']] + [f'lr{schedule["lr_percent"]:g}']


def zoo_teacher() -> dict:
    """Config, checkpoint and sha256 of the shipped 2D teacher (checked)."""
    try:
        from d3l import model_zoo
    except ImportError as err:
        raise DemoError(f'the shipped 2D teacher (d3l.model_zoo) cannot be imported ({err}); '
                        'use --teacher train or --teacher oracle') from None
    try:
        entry = model_zoo.SYNTHETIC_DPT
        checkpoint = model_zoo.zoo_checkpoint(entry.name)
    except Exception as err:  # noqa: BLE001 - a missing or corrupt file, said in one line
        raise DemoError(f'the shipped 2D teacher is not usable: {err}') from None
    return dict(config=entry.config, checkpoint=checkpoint, sha256=entry.sha256)


# ----------------------------------------------------------------------------
# planning and scheduling (main process)
# ----------------------------------------------------------------------------
class Plan:
    """Where everything goes under ``DIR`` and which jobs depend on which."""

    def __init__(self, out_dir: str, preset: str, seeds: int, world: Dict[str, str],
                 teacher: str = 'zoo', world_seed: int = 0):
        from d3l.datasets.synthetic import get_preset

        self.out = osp.abspath(out_dir)
        self.preset = get_preset(preset)
        self.schedule = SCHEDULES[preset]
        self.seeds = list(range(seeds))
        self.world = world
        self.world_seed = world_seed
        self.teacher = teacher
        self.backbone = BACKBONE
        self.settings = setting_names(self.schedule)
        self.full_seeds = self.seeds[:self.schedule['full_seeds']]
        self.ply_dir = osp.join(self.out, 'ply')

    def job_dir(self, name: str) -> str:
        return osp.join(self.out, *name.split('/'))

    def split_files(self, seed: int) -> Dict[str, str]:
        root = osp.join(self.out, 'splits', f'seed{seed}')
        files = {f'la{n}': osp.join(root, 'points', f'points{n}')
                 for n in self.schedule['la_points']}
        files['lr'] = osp.join(root, 'scenes', f'{self.schedule["lr_percent"]:g}.txt')
        return files

    def _teacher_jobs(self) -> List[dict]:
        oracle = self.teacher == 'oracle'
        config = PRETRAIN_GT_CONFIG if oracle else PRETRAIN_CONFIG
        jobs = []
        if self.teacher == 'train':
            jobs.append(dict(name='teacher', kind='teacher', dir=self.job_dir('teacher'),
                             deps=[], seg2d=self.world['seg2d'],
                             iters=self.preset.teacher_iters,
                             batch_size=self.preset.teacher_batch_size,
                             title=f'2D teacher (DPT trained here, '
                             f'{self.preset.teacher_iters} iterations)'))
        elif self.teacher == 'zoo':
            zoo = zoo_teacher()
            jobs.append(dict(name='teacher', kind='teacher_zoo', dir=self.job_dir('teacher'),
                             deps=[], seg2d=self.world['seg2d'], teacher_config=zoo['config'],
                             teacher_checkpoint=zoo['checkpoint'],
                             teacher_sha256=zoo['sha256'],
                             title='2D teacher (shipped DPT) on held-out photos'))
        jobs += [
            dict(name='pseudo_labels', kind='pseudo_labels', dir=self.job_dir('pseudo_labels'),
                 deps=[] if oracle else ['teacher'], config=config, rgbd=self.world['rgbd'],
                 title=('ground-truth 2D labels of the RGB-D frames (oracle teacher)' if oracle
                        else 'soft pseudo-labels of the RGB-D frames')),
            dict(name='pretrain', kind='pretrain', dir=self.job_dir('pretrain'),
                 deps=['pseudo_labels'], config=config, rgbd=self.world['rgbd'],
                 ply_dir=self.ply_dir, iters=self.schedule['pretrain_iters'],
                 title=f'3D pre-training ({self.schedule["pretrain_iters"]} iterations)')]
        return jobs

    def _finetune_job(self, init: str, setting: str, seed: int) -> dict:
        name = f'finetune/{init}_{setting}_seed{seed}'
        files = self.split_files(seed)
        # one LR config (the default preset's percentage); the split file sets the rooms
        config_setting = (f'lr{SCHEDULES["default"]["lr_percent"]:g}' if setting.startswith('lr')
                          else setting)
        config = osp.join(CONFIG_DIR, f'segmentor_{INIT_TAGS[init]}_synthetic-scannet_'
                          f'{self.backbone}_{config_setting}.py')
        show = (osp.join(self.ply_dir, f'val_{init}_{setting}')
                if seed == 0 and setting == self.settings[0] else None)
        return dict(
            name=name, kind='finetune', dir=self.job_dir(name),
            deps=['pretrain'] if init == 'pretrained' else [],
            init=init, setting=setting, seed=seed, config=config,
            scannet=self.world['scannet'], iters=self.schedule['finetune_iters'],
            la_file=files.get(setting), lr_file=files['lr'] if setting.startswith('lr') else None,
            load_from=None, show_dir=show, title=f'fine-tuning {init} {setting} seed {seed}')

    def jobs(self) -> List[dict]:
        """Job specs, most urgent first (the teacher -> labels -> pre-training
        chain gates the pre-trained runs; scratch runs fill the other
        workers meanwhile)."""
        finetune = []
        for seed in self.seeds:
            for setting in self.settings:
                finetune += [self._finetune_job(init, setting, seed) for init in INITS]
            if seed in self.full_seeds:
                finetune.append(self._finetune_job('scratch', 'full', seed))
        return self._teacher_jobs() + finetune

    def fill(self, spec: dict, results: Dict[str, dict]) -> dict:
        """Add what a job needs from the jobs it depends on."""
        spec = dict(spec)
        if spec['kind'] == 'pseudo_labels' and 'teacher' in results:
            spec['checkpoint'] = results['teacher']['checkpoint']
            spec['teacher_config'] = results['teacher']['config']
        elif spec['kind'] == 'pretrain':
            spec['label_dir'] = results['pseudo_labels']['label_dir']
        elif spec['kind'] == 'finetune' and spec['init'] == 'pretrained':
            spec['load_from'] = results['pretrain']['backbone']
        return spec


def cached_result(spec: dict) -> Optional[dict]:
    result = _read_json(osp.join(spec['dir'], 'result.json'))
    if result is None:
        return None
    # a result whose files were removed is stale
    for key in ('checkpoint', 'backbone', 'label_dir'):
        if key in result and not osp.exists(result[key]):
            return None
    return result


def run_jobs(jobs: List[dict], plan: Plan, workers: int, threads: int) -> Dict[str, dict]:
    """Run the jobs on a pool of ``workers`` processes as their dependencies
    finish; returns name -> result. A failed job stops the demo (the other
    workers are terminated) with the job's log named."""
    import multiprocessing as mp

    results: Dict[str, dict] = {}
    pending = []
    for spec in jobs:
        cached = cached_result(spec)
        if cached is not None:
            results[spec['name']] = cached
        else:
            pending.append(spec)
    if len(results):
        _log(f'{len(results)} of {len(jobs)} jobs already done in {plan.out} (cached, skipped)')
    if not pending:
        return results
    total_finetune = sum(1 for s in jobs if s['kind'] == 'finetune')
    done_finetune = sum(1 for s in jobs if s['kind'] == 'finetune' and s['name'] in results)
    running = {}
    context = mp.get_context('spawn')  # no fork of a parent that may hold threads
    pool = context.Pool(workers, initializer=demo_jobs.init_worker,
                        initargs=(threads,))
    try:
        while pending or running:
            ready = [s for s in pending if all(d in results for d in s['deps'])]
            while ready and len(running) < workers:
                spec = plan.fill(ready.pop(0), results)
                pending = [s for s in pending if s['name'] != spec['name']]
                _log(f'{spec["title"]}: started (log: {osp.join(spec["dir"], "job.log")})')
                running[spec['name']] = (spec, pool.apply_async(demo_jobs.run_job, (spec,)),
                                         time.perf_counter())
            if not running:
                missing = sorted({d for s in pending for d in s['deps']} - set(results))
                raise DemoError(f'jobs wait for {missing}, which will never finish')
            time.sleep(0.2)
            for name, (spec, handle, started) in list(running.items()):
                if not handle.ready():
                    continue
                del running[name]
                try:
                    result = handle.get()
                except Exception as err:  # noqa: BLE001 - reported with the job's log
                    raise DemoError(f'{spec["title"]} failed: {type(err).__name__}: {err} '
                                    f'(log: {osp.join(spec["dir"], "job.log")})') from err
                results[name] = result
                elapsed = time.perf_counter() - started
                if spec['kind'] == 'finetune':
                    done_finetune += 1
                    note = f'mIoU {result["miou"]:.1f} [{done_finetune}/{total_finetune}]'
                elif spec['kind'] in ('teacher', 'teacher_zoo'):
                    note = (f'mIoU {result["miou"]:.1f}, pixel accuracy '
                            f'{result["pixel_acc"]:.1f} on held-out photos')
                elif spec['kind'] == 'pseudo_labels':
                    note = (f'top-1 vs the frames\' ground truth: mIoU '
                            f'{result.get("miou", float("nan")):.1f}, pixel accuracy '
                            f'{result.get("pixel_acc", float("nan")):.1f}')
                else:
                    agreement = result.get('final_acc_teacher') or 0.0
                    note = f'agreement with the teacher {agreement:.1f} %'
                _log(f'{spec["title"]}: done in {_fmt_seconds(elapsed)}: {note}')
    finally:
        pool.terminate()
        pool.join()
    return results


# ----------------------------------------------------------------------------
# stages run in the main process
# ----------------------------------------------------------------------------
def make_splits(plan: Plan) -> int:
    """LA / LR files per seed (tools/make_data_efficient_splits.py); returns
    how many seeds were already on disk."""
    tool = demo_jobs.tool('make_data_efficient_splits')
    cached = 0
    lr = f'{plan.schedule["lr_percent"]:g}'
    points = [str(n) for n in plan.schedule['la_points']]
    for seed in plan.seeds:
        files = plan.split_files(seed)
        if all(osp.isfile(p) for p in files.values()):
            cached += 1
            continue
        root = osp.dirname(osp.dirname(files['lr']))
        with demo_jobs.output_to(osp.join(root, 'splits.log')):
            tool.main(['scannet-la', '--data-root', plan.world['scannet'], '--out',
                       osp.join(root, 'points'), '--points', *points, '--seed', str(seed)])
            tool.main(['scannet-lr', '--data-root', plan.world['scannet'], '--out',
                       osp.dirname(files['lr']), '--percent', lr, '--seed', str(seed)])
    return cached


def check_out_dir(out: str, identity: dict) -> None:
    """``DIR/demo.json`` records what the cached stages were made with; a
    directory of another preset or demo version is refused."""
    path = osp.join(out, 'demo.json')
    existing = _read_json(path)
    if existing is not None and existing != identity:
        raise DemoError(
            f'{out} holds a demo run of another configuration ({path}: preset '
            f'{existing.get("preset")!r}, teacher {existing.get("teacher")!r}, world seed '
            f'{existing.get("world_seed")}, version {existing.get("version")}; asked: preset '
            f'{identity["preset"]!r}, teacher {identity["teacher"]!r}, world seed '
            f'{identity["world_seed"]}, version {identity["version"]}); use another --out '
            'or delete it')
    demo_jobs.write_json(path, identity)


def label_coverage(plan: Plan) -> dict:
    """Labelled points per class of each setting (expected and, per seed, in
    the split files), and validation rooms per class."""
    from d3l.datasets.synthetic import coverage

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


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the whole method end to end on the synthetic world: 2D teacher, '
        'pseudo-labels, 3D pre-training, fine-tuning from scratch and pre-trained')
    parser.add_argument('--out', required=True, help='output folder (cached stages resume)')
    parser.add_argument('--preset', default='default', choices=sorted(SCHEDULES),
                        help='world size and schedules (tiny: a smoke test in ~1 minute)')
    parser.add_argument('--seeds', type=int, default=3,
                        help='fine-tuning seeds (split files and training randomness)')
    parser.add_argument('--world-seed', type=int, default=0, help='seed of the world')
    parser.add_argument('--teacher', default='zoo', choices=TEACHERS,
                        help='zoo: the 2D teacher shipped with d3l (the method, as with an '
                        'off-the-shelf DPT); train: train a small DPT on the world\'s photos '
                        'first; oracle: pre-train on the frames\' ground-truth 2D labels '
                        '(ablation: what a perfect 2D teacher would give)')
    parser.add_argument('--workers', type=int, default=None,
                        help='worker processes (default: one per CPU core, at most 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per worker (default: cores / workers)')
    return parser.parse_args(argv)


def _print_table(plan: Plan, summary: dict, seconds: float) -> None:
    header = ' '.join(f'{demo_report.column(s):>14}' for s in plan.settings)
    print(f'\n{"mIoU (%)":<12} {header}')
    for init in INITS:
        row = ' '.join(f'{summary[init][s]:8.1f} ± {summary["std"][init][s]:3.1f}'
                       for s in plan.settings)
        print(f'{init:<12} {row}')
    print(f'{"full labels":<12} {summary["full"]:8.1f} (seeds {plan.full_seeds})')
    teacher = ('oracle teacher (ground-truth 2D labels)' if plan.teacher == 'oracle' else
               f'2D teacher mIoU {summary["teacher_2d_miou"]:.1f}')
    print(f'{teacher}; total {_fmt_seconds(seconds)}; see '
          f'{osp.join(plan.out, "results.md")}', flush=True)


def main(argv=None) -> dict:
    args = parse_args(argv)
    if args.seeds < 1:
        raise DemoError(f'--seeds must be >= 1, got {args.seeds}')
    cores = os.cpu_count() or 1
    workers = args.workers or max(1, min(2, cores))
    threads = args.threads or max(1, cores // workers)
    if workers < 1 or threads < 1:
        raise DemoError('--workers and --threads must be >= 1')
    out = osp.abspath(args.out)
    os.makedirs(out, exist_ok=True)
    identity = dict(version=DEMO_VERSION, preset=args.preset, world_seed=args.world_seed,
                    teacher=args.teacher, schedule=SCHEDULES[args.preset])
    check_out_dir(out, json.loads(json.dumps(identity)))  # as read back (tuples -> lists)
    start, load_start = time.perf_counter(), os.getloadavg()[0]
    wall: Dict[str, float] = {}
    _log(f'preset {args.preset}, world seed {args.world_seed}, teacher {args.teacher}, '
         f'{args.seeds} seed(s), {workers} worker(s) x {threads} thread(s); output in {out}')

    _log('stage 1/4: the synthetic world')
    from d3l.datasets.synthetic import build_world
    from d3l.datasets.synthetic.world import WorldMismatchError
    t = time.perf_counter()
    try:
        world = build_world(osp.join(out, 'world'), args.preset, seed=args.world_seed)
    except WorldMismatchError as err:
        raise DemoError(str(err)) from None
    wall['world'] = time.perf_counter() - t
    _log(f'the synthetic world: done in {_fmt_seconds(wall["world"])}')

    plan = Plan(out, args.preset, args.seeds, world, teacher=args.teacher,
                world_seed=args.world_seed)
    t = time.perf_counter()
    cached = make_splits(plan)
    wall['splits'] = time.perf_counter() - t
    _log(f'stage 2/4: LA / LR split files for {len(plan.seeds)} seed(s): done in '
         f'{_fmt_seconds(wall["splits"])}' + (f' ({cached} cached)' if cached else ''))

    jobs = plan.jobs()
    _log(f'stage 3/4: teacher, pseudo-labels, pre-training and '
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
    summary = demo_report.summarize(plan, results, wall, cpu, label_coverage(plan))
    demo_jobs.write_json(osp.join(out, 'results.json'), summary)
    demo_report.write_markdown(osp.join(out, 'results.md'), plan, summary)
    demo_report.write_plot(osp.join(out, 'results.png'), plan, summary)
    _log(f'stage 4/4: report: done in {_fmt_seconds(time.perf_counter() - t)}')
    _print_table(plan, summary, time.perf_counter() - start)
    return summary


if __name__ == '__main__':
    try:
        main()
    except DemoError as err:
        print(f'[demo] error: {err}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('[demo] interrupted; run the same command again to resume', file=sys.stderr)
        sys.exit(130)
