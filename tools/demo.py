"""The whole method end to end on the synthetic world, in minutes on a CPU.

    python tools/demo.py --out DIR [--preset tiny|default] [--seeds N] [--workers N]
                         [--teacher dpt|oracle]

Stages (each with the registered components and the configs of
``configs/demo/`` that a user runs on real data, through the tools' own
``main()`` functions):

1. ``world``: :func:`d3l.datasets.synthetic.build_world` writes the world to
   ``DIR/world`` (2D teacher photos, unlabelled RGB-D, ScanNet-layout scenes);
2. ``splits``: ``tools/make_data_efficient_splits.py`` draws, per seed, the
   Limited Annotations (20 and 200 points per scene) and Limited
   Reconstructions files;
3. ``teacher``: ``tools/train.py`` trains the 2D teacher (mmseg DPT with a
   small ViT) on the world's labelled photos, ``tools/test.py`` scores it on
   held-out photos;
4. ``pseudo-labels``: ``tools/generate_pseudo_labels.py`` runs it once over
   the RGB-D frames and panoramas (through ``MMSegTeacher``) and stores soft
   labels; their agreement with the frames' ground truth is reported (the
   ground truth is never used for training);
5. ``pre-training``: ``tools/train.py`` pre-trains the O-CNN U-Net
   (``Pretrainer``, soft cross-entropy) on the lifted frames,
   ``tools/export_backbone.py`` drops its head;
6. ``fine-tuning``: for every seed and setting (LA 20, LA 200, LR), the same
   config from scratch and from the pre-trained weights (the only difference
   is ``load_from``), each scored by ``tools/test.py`` on every point of the
   held-out rooms;
7. ``report``: ``DIR/results.json``, ``DIR/results.md``, ``DIR/results.png``
   and PLY files under ``DIR/ply``.

``--teacher oracle`` replaces stages 3 and 4 by the frames' ground-truth 2D
labels (``PrecomputedTeacher``), the paper's oracle ablation: what a perfect
2D teacher would give.

Every stage's output is cached in ``DIR``: a re-run skips finished work
(``result.json`` of each job) and redoes unfinished jobs; more seeds can be
added later (``--seeds 5`` after ``--seeds 3`` runs only the new ones). Jobs
run in ``--workers`` processes (default: one per CPU core, at most 2) that
share the cores; their logs go to ``DIR/<job>/job.log`` and the console
shows each stage with its duration.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import os.path as osp
import sys
import time
from contextlib import contextmanager
from typing import Dict, List, Optional

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TOOLS_DIR = osp.join(REPO_ROOT, 'tools')
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
TEACHER_CONFIG = osp.join(CONFIG_DIR, 'dpt_scratch_synthetic-seg2d_vit-tiny.py')
PRETRAIN_CONFIG = osp.join(CONFIG_DIR, 'pretrainer_dpt-synthetic_synthetic-rgbd_ocnn.py')
#: --teacher oracle: the frames' ground-truth 2D labels instead of the trained DPT
PRETRAIN_GT_CONFIG = osp.join(CONFIG_DIR, 'pretrainer_gt-synthetic_synthetic-rgbd_ocnn.py')
TEACHERS = ('dpt', 'oracle')
INITS = ('scratch', 'pretrained')
INIT_TAGS = dict(scratch='scratch', pretrained='dpt-synthetic')

#: the demo's schedules per preset (the world's sizes and the teacher's
#: iterations live in d3l.datasets.synthetic.presets). ``lr_percent``: the
#: Limited Reconstructions setting, a percentage of the training rooms.
SCHEDULES = {
    'tiny': dict(pretrain_iters=12, finetune_iters=8, lr_percent=25),
    'default': dict(pretrain_iters=1000, finetune_iters=250, lr_percent=10),
}
#: bump when a change of the demo alters its results (invalidates caches)
DEMO_VERSION = 2


class DemoError(Exception):
    """A user-facing problem (printed as one line, exit code 2)."""


# ----------------------------------------------------------------------------
# small helpers
# ----------------------------------------------------------------------------
def _log(message: str) -> None:
    print(f'[demo {time.strftime("%H:%M:%S")}] {message}', flush=True)


def _read_json(path: str) -> Optional[dict]:
    try:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _write_json(path: str, obj) -> None:
    # imported here: spawned workers import this module before they need d3l
    from d3l.pseudo_labels.manifest import write_json_atomic
    write_json_atomic(path, obj)


def _tool(name: str):
    """``tools/<name>.py`` as a module: its ``main(argv)`` runs in-process."""
    module_name = f'_d3l_tool_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name,
                                                      osp.join(TOOLS_DIR, f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


def _fmt_seconds(seconds: float) -> str:
    return f'{seconds:.0f} s' if seconds >= 10 else f'{seconds:.1f} s'


def setting_names(schedule: dict) -> List[str]:
    """The fine-tuning settings (keys of results.json), in the paper's order."""
    return ['la20', 'la200', f'lr{schedule["lr_percent"]:g}']


# ----------------------------------------------------------------------------
# jobs (run in worker processes)
# ----------------------------------------------------------------------------
def _init_worker(threads: int) -> None:
    os.environ['OMP_NUM_THREADS'] = str(threads)
    import torch
    torch.set_num_threads(threads)


@contextmanager
def _output_to(log_path: str):
    """Send this process's stdout / stderr (file descriptors included, so
    that C extensions and MMEngine's handlers follow) to ``log_path``."""
    os.makedirs(osp.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    saved = os.dup(1), os.dup(2)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    try:
        yield
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for handle in (*saved, fd):
            os.close(handle)


def run_job(spec: dict) -> dict:
    """Run one job (``spec['kind']``) with its output in ``DIR/<job>/job.log``;
    writes and returns its ``result.json``."""
    start = time.perf_counter()
    with _output_to(osp.join(spec['dir'], 'job.log')):
        result = JOBS[spec['kind']](spec)
    result['seconds'] = round(time.perf_counter() - start, 2)
    _write_json(osp.join(spec['dir'], 'result.json'), result)
    return result


def _last_checkpoint(work_dir: str) -> str:
    path = osp.join(work_dir, 'last_checkpoint')
    with open(path, encoding='utf-8') as f:
        checkpoint = f.read().strip()
    if not osp.isfile(checkpoint):
        raise FileNotFoundError(f'{path} names {checkpoint}, which does not exist')
    return checkpoint


def _last_scalars(work_dir: str) -> dict:
    """The last logged training scalars (MMEngine's vis_data/scalars.json)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d)) and
                  osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        return {}
    last = {}
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json'), encoding='utf-8') as f:
        for line in f:
            try:
                last.update(json.loads(line))
            except ValueError:
                continue
    return last


def _train_options(iters: int) -> List[str]:
    # evaluation is tools/test.py's job: no validation at the end of training
    return [f'train_cfg.max_iters={iters}', f'+train_cfg.val_begin={iters + 1}']


def job_teacher(spec: dict) -> dict:
    seg2d = spec['seg2d']
    iters, batch = spec['iters'], spec['batch_size']
    roots = [f'{key}.dataset.data_root={seg2d}'
             for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    work_dir = osp.join(spec['dir'], 'work')
    warmup = max(1, min(20, iters // 4))
    _tool('train').main([
        TEACHER_CONFIG, '--work-dir', work_dir, '--cfg-options', *roots,
        *_train_options(iters), f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}', f'train_dataloader.batch_size={batch}',
        f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}'])
    checkpoint = _last_checkpoint(work_dir)
    metrics = _tool('test').main([TEACHER_CONFIG, checkpoint, '--work-dir',
                                  osp.join(spec['dir'], 'test'), '--out',
                                  osp.join(spec['dir'], 'eval'), '--cfg-options', *roots])
    return dict(checkpoint=checkpoint, miou=float(metrics['mIoU']),
                pixel_acc=float(metrics['aAcc']), iters=iters, batch_size=batch)


def job_pseudo_labels(spec: dict) -> dict:
    out = osp.join(spec['dir'], 'labels')
    argv = [spec['config'], '--out', out, '--cfg-options',
            f'pseudo_label_cfg.source.data_root={spec["rgbd"]}']
    if spec.get('checkpoint'):  # the trained DPT (the oracle reads the frames' labels)
        argv += [f'teacher.config={TEACHER_CONFIG}', f'teacher.checkpoint={spec["checkpoint"]}']
    if osp.isfile(osp.join(out, 'manifest.json')):
        argv.insert(1, '--resume')  # an interrupted run: keep its complete shards
    _tool('generate_pseudo_labels').main(argv)
    result = dict(label_dir=out)
    result.update(pseudo_label_quality(out, spec['rgbd']))
    return result


def pseudo_label_quality(label_dir: str, rgbd_root: str) -> dict:
    """The teacher's top-1 on the pre-training frames against their
    ground-truth 2D labels (reporting only: training never reads them)."""
    import numpy as np

    from d3l.datasets.rgbd import RGBDFolderDataset
    from d3l.evaluation import confusion_matrix, segmentation_scores
    from d3l.pseudo_labels import SoftLabelStore

    store = SoftLabelStore(label_dir)
    names = list(store.class_names)
    dataset = RGBDFolderDataset(rgbd_root, pipeline=[dict(type='LoadRGBD')])
    confusion = {}
    for index in range(len(dataset)):
        sample = dataset[index]
        if sample.get('pixel_labels') is None or sample['frame_id'] not in store:
            continue
        grid = store.get(sample['frame_id']).decode_grid()
        top1 = np.asarray(grid).argmax(-1)
        labels = sample['pixel_labels']
        if top1.shape != labels.shape:  # a label stride > 1: compare at the cells' pixels
            stride = -(-labels.shape[0] // top1.shape[0])
            labels = labels[::stride, ::stride]
        kind = sample['projection']
        confusion[kind] = confusion.get(kind, 0) + confusion_matrix(
            top1.reshape(-1), labels.reshape(-1), len(names), 255)
    if not confusion:
        return {}
    result = {}
    for kind, matrix in confusion.items():
        scores = segmentation_scores(matrix, names)
        result[kind] = dict(miou=float(scores['mIoU']), pixel_acc=float(scores['aAcc']))
    scores = segmentation_scores(sum(confusion.values()), names)
    result.update(miou=float(scores['mIoU']), pixel_acc=float(scores['aAcc']),
                  iou={n: (None if math.isnan(scores[f'IoU.{n}']) else
                           round(float(scores[f'IoU.{n}']), 2)) for n in names})
    return result


def job_pretrain(spec: dict) -> dict:
    work_dir = osp.join(spec['dir'], 'work')
    options = [f'train_dataloader.dataset.source.data_root={spec["rgbd"]}',
               f'train_dataloader.dataset.label_dir={spec["label_dir"]}',
               *_train_options(spec['iters'])]
    _tool('train').main([spec['config'], '--work-dir', work_dir, '--cfg-options', *options])
    checkpoint = _last_checkpoint(work_dir)
    backbone = osp.join(spec['dir'], 'backbone.pth')
    _tool('export_backbone').main([checkpoint, backbone])
    scalars = _last_scalars(work_dir)
    result = dict(backbone=backbone, iters=spec['iters'],
                  final_loss_soft=scalars.get('loss_soft'),
                  final_acc_teacher=scalars.get('acc_teacher'))
    result['ply'] = export_pretrain_sample(spec['rgbd'], spec['label_dir'], spec['ply_dir'])
    return result


def export_pretrain_sample(rgbd_root: str, label_dir: str, out_dir: str) -> List[str]:
    """One pre-training frame lifted to 3D, coloured by the teacher's top-1
    (``*_pseudo.ply``, with a ``label`` property) and by its RGB."""
    import numpy as np
    from mmengine.config import Config

    from d3l.datasets.pretrain import PretrainRGBDDataset
    from d3l.visualization import label_colors, write_ply

    dataset = PretrainRGBDDataset(
        source=dict(type='RGBDFolderDataset', data_root=rgbd_root,
                    pipeline=[dict(type='LoadRGBD', with_labels=False)]),
        label_dir=label_dir,
        pipeline=[dict(type='LiftRGBD', with_normals=True, max_depth=10.0),
                  dict(type='LoadSoftLabels', decode=True)])
    # a panorama shows a whole room; else the first frame
    index = next((i for i in range(len(dataset))
                  if 'panorama' in dataset.get_data_info(i)['frame_id']), 0)
    sample = dataset[index]
    soft = np.asarray(sample['soft_labels'])
    top1 = np.where(soft.sum(1) > 0, soft.argmax(1), 255)
    palette = Config.fromfile(TEACHER_CONFIG).metainfo['palette']
    name = sample['frame_id'].replace('/', '_')
    paths = [
        write_ply(osp.join(out_dir, f'pretrain_{name}_pseudo.ply'), sample['points'],
                  colors=label_colors(top1, palette), labels=top1, normals=sample['normals']),
        write_ply(osp.join(out_dir, f'pretrain_{name}_rgb.ply'), sample['points'],
                  colors=sample['colors'], normals=sample['normals'])]
    return paths


def job_finetune(spec: dict) -> dict:
    scannet = spec['scannet']
    options = [f'{key}.dataset.data_root={scannet}'
               for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options.append(f'randomness.seed={spec["seed"]}')
    if spec['la_file']:
        options.append(f'train_dataloader.dataset.la_file={spec["la_file"]}')
    else:
        options.append(f'train_dataloader.dataset.lr_file={spec["lr_file"]}')
    if spec['load_from']:
        options.append(f'load_from={spec["load_from"]}')
    work_dir = osp.join(spec['dir'], 'work')
    _tool('train').main([spec['config'], '--work-dir', work_dir, '--cfg-options', *options,
                         *_train_options(spec['iters'])])
    checkpoint = _last_checkpoint(work_dir)
    argv = [spec['config'], checkpoint, '--work-dir', osp.join(spec['dir'], 'test'),
            '--out', osp.join(spec['dir'], 'eval')]
    if spec.get('show_dir'):
        argv += ['--show-dir', spec['show_dir'], '--max-show', '1']
    metrics = _tool('test').main(argv + ['--cfg-options', *options])
    iou = {k.split('.', 1)[1]: (None if math.isnan(v) else round(float(v), 2))
           for k, v in metrics.items() if k.startswith('IoU.')}
    return dict(miou=float(metrics['mIoU']), iou=iou, checkpoint=checkpoint,
                init=spec['init'], setting=spec['setting'], seed=spec['seed'],
                iters=spec['iters'])


JOBS = dict(teacher=job_teacher, pseudo_labels=job_pseudo_labels, pretrain=job_pretrain,
            finetune=job_finetune)


# ----------------------------------------------------------------------------
# planning and scheduling (main process)
# ----------------------------------------------------------------------------
class Plan:
    """Where everything goes under ``DIR`` and which jobs depend on which."""

    def __init__(self, out_dir: str, preset: str, seeds: int, world: Dict[str, str],
                 teacher: str = 'dpt'):
        from d3l.datasets.synthetic import get_preset

        self.out = osp.abspath(out_dir)
        self.preset = get_preset(preset)
        self.schedule = SCHEDULES[preset]
        self.seeds = list(range(seeds))
        self.world = world
        self.teacher = teacher
        self.settings = setting_names(self.schedule)
        self.ply_dir = osp.join(self.out, 'ply')

    def job_dir(self, name: str) -> str:
        return osp.join(self.out, *name.split('/'))

    def split_files(self, seed: int) -> Dict[str, str]:
        root = osp.join(self.out, 'splits', f'seed{seed}')
        lr = f'{self.schedule["lr_percent"]:g}'
        return dict(la20=osp.join(root, 'points', 'points20'),
                    la200=osp.join(root, 'points', 'points200'),
                    lr=osp.join(root, 'scenes', f'{lr}.txt'))

    def jobs(self) -> List[dict]:
        """Job specs, most urgent first (the teacher -> labels -> pre-training
        chain gates the pre-trained runs; scratch runs fill the other
        workers meanwhile)."""
        teacher_dir = self.job_dir('teacher')
        labels_dir = self.job_dir('pseudo_labels')
        pretrain_dir = self.job_dir('pretrain')
        oracle = self.teacher == 'oracle'
        config = PRETRAIN_GT_CONFIG if oracle else PRETRAIN_CONFIG
        jobs = [] if oracle else [
            dict(name='teacher', kind='teacher', dir=teacher_dir, deps=[],
                 seg2d=self.world['seg2d'], iters=self.preset.teacher_iters,
                 batch_size=self.preset.teacher_batch_size,
                 title=f'2D teacher (DPT, {self.preset.teacher_iters} iterations)')]
        jobs += [
            dict(name='pseudo_labels', kind='pseudo_labels', dir=labels_dir,
                 deps=[] if oracle else ['teacher'], config=config, rgbd=self.world['rgbd'],
                 title=('ground-truth 2D labels of the RGB-D frames (oracle teacher)' if oracle
                        else 'soft pseudo-labels of the RGB-D frames')),
            dict(name='pretrain', kind='pretrain', dir=pretrain_dir, deps=['pseudo_labels'],
                 config=config, rgbd=self.world['rgbd'], ply_dir=self.ply_dir,
                 iters=self.schedule['pretrain_iters'],
                 title=f'3D pre-training ({self.schedule["pretrain_iters"]} iterations)'),
        ]
        finetune = []
        for seed in self.seeds:
            files = self.split_files(seed)
            for setting in self.settings:
                for init in INITS:
                    name = f'finetune/{init}_{setting}_seed{seed}'
                    config_setting = 'lr10' if setting.startswith('lr') else setting
                    config = osp.join(CONFIG_DIR, f'segmentor_{INIT_TAGS[init]}_synthetic-'
                                      f'scannet_ocnn_{config_setting}.py')
                    show = (osp.join(self.ply_dir, f'val_{init}_{setting}')
                            if seed == 0 and setting == 'la20' else None)
                    finetune.append(dict(
                        name=name, kind='finetune', dir=self.job_dir(name),
                        deps=['pretrain'] if init == 'pretrained' else [],
                        init=init, setting=setting, seed=seed, config=config,
                        scannet=self.world['scannet'], iters=self.schedule['finetune_iters'],
                        la_file=files[setting] if setting.startswith('la') else None,
                        lr_file=files['lr'] if setting.startswith('lr') else None,
                        load_from=None, show_dir=show,
                        title=f'fine-tuning {init} {setting} seed {seed}'))
        return jobs + finetune

    def fill(self, spec: dict, results: Dict[str, dict]) -> dict:
        """Add what a job needs from the jobs it depends on."""
        spec = dict(spec)
        if spec['kind'] == 'pseudo_labels' and 'teacher' in results:
            spec['checkpoint'] = results['teacher']['checkpoint']
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
    pool = context.Pool(workers, initializer=_init_worker, initargs=(threads,))
    try:
        while pending or running:
            ready = [s for s in pending if all(d in results for d in s['deps'])]
            while ready and len(running) < workers:
                spec = plan.fill(ready.pop(0), results)
                pending = [s for s in pending if s['name'] != spec['name']]
                _log(f'{spec["title"]}: started (log: {osp.join(spec["dir"], "job.log")})')
                running[spec['name']] = (spec, pool.apply_async(run_job, (spec,)),
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
                elif spec['kind'] == 'teacher':
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
    tool = _tool('make_data_efficient_splits')
    cached = 0
    lr = f'{plan.schedule["lr_percent"]:g}'
    for seed in plan.seeds:
        files = plan.split_files(seed)
        if all(osp.isfile(p) for p in files.values()):
            cached += 1
            continue
        root = osp.dirname(osp.dirname(files['la20']))
        with _output_to(osp.join(root, 'splits.log')):
            tool.main(['scannet-la', '--data-root', plan.world['scannet'], '--out',
                       osp.dirname(files['la20']), '--points', '20', '200', '--seed', str(seed)])
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
    _write_json(path, identity)


def _mean_std(values: List[float]):
    import numpy as np
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def summarize(plan: Plan, results: Dict[str, dict], wall: Dict[str, float]) -> dict:
    """The content of results.json."""
    # the oracle's labels are the ground truth: 100 % by definition
    teacher = results.get('teacher', dict(miou=100.0, pixel_acc=100.0, seconds=0.0))
    summary = dict(teacher_2d_miou=round(teacher['miou'], 2))
    per_seed, std = {}, {}
    for init in INITS:
        summary[init], per_seed[init], std[init] = {}, {}, {}
        for setting in plan.settings:
            values = [results[f'finetune/{init}_{setting}_seed{s}']['miou'] for s in plan.seeds]
            mean, spread = _mean_std(values)
            summary[init][setting] = round(mean, 2)
            std[init][setting] = round(spread, 2)
            per_seed[init][setting] = [round(v, 2) for v in values]
    gain = {}
    for setting in plan.settings:
        diffs = [a - b for a, b in zip(per_seed['pretrained'][setting],
                                       per_seed['scratch'][setting])]
        mean, spread = _mean_std(diffs)
        gain[setting] = dict(mean=round(mean, 2), std=round(spread, 2),
                             wins=sum(d > 0 for d in diffs), seeds=len(diffs))
    labels = results['pseudo_labels']
    pretrain = results['pretrain']
    summary.update(
        per_seed=per_seed, std=std, gain=gain, seeds=plan.seeds, preset=plan.preset.name,
        teacher=plan.teacher,
        settings={s: _setting_text(plan, s) for s in plan.settings},
        teacher_2d_pixel_acc=round(teacher['pixel_acc'], 2),
        pseudo_labels={k: labels.get(k) for k in ('miou', 'pixel_acc', 'perspective',
                                                  'equirect', 'iou') if k in labels},
        pretrain=dict(iters=pretrain['iters'], final_loss_soft=pretrain.get('final_loss_soft'),
                      final_acc_teacher=pretrain.get('final_acc_teacher')),
        finetune_iters=plan.schedule['finetune_iters'],
        val_rooms=plan.preset.val_rooms, train_rooms=plan.preset.train_rooms,
        seconds=dict(
            jobs={'teacher': teacher['seconds'], 'pseudo_labels': labels['seconds'],
                  'pretrain': pretrain['seconds'],
                  'finetune_total': round(sum(r['seconds'] for n, r in results.items()
                                              if n.startswith('finetune/')), 2)},
            wall={k: round(v, 2) for k, v in wall.items()}))
    return summary


def _setting_text(plan: Plan, setting: str) -> str:
    if setting.startswith('la'):
        return f'Limited Annotations: {setting[2:]} labelled points per training room'
    count = max(1, int(round(plan.preset.train_rooms * plan.schedule['lr_percent'] / 100.0)))
    return (f'Limited Reconstructions: {plan.schedule["lr_percent"]:g} % of the training '
            f'rooms ({min(count, plan.preset.train_rooms)} of {plan.preset.train_rooms})')


def _teacher_text(plan: Plan) -> str:
    return 'ground-truth 2D labels' if plan.teacher == 'oracle' else '2D teacher'


def _column(setting: str) -> str:
    return f'LA {setting[2:]} pts' if setting.startswith('la') else f'LR {setting[2:]} %'


def write_markdown(path: str, plan: Plan, summary: dict) -> None:
    settings = plan.settings
    n = len(plan.seeds)

    def cell(init, setting):
        mean, spread = summary[init][setting], summary['std'][init][setting]
        return f'{mean:.1f} ± {spread:.1f}' if n > 1 else f'{mean:.1f}'

    lines = [
        '# d3l demo: 3D pre-training on 2D-teacher pseudo-labels vs. training from scratch',
        '',
        f'Synthetic world, preset `{plan.preset.name}`; mIoU (%) over the 20 ScanNet classes on '
        f'every point of the {plan.preset.val_rooms} held-out rooms'
        + (f', mean ± std over {n} seeds ({", ".join(map(str, plan.seeds))}).' if n > 1
           else f', seed {plan.seeds[0]}.'),
        'Both rows use the same config, schedule, seeds and split files; the only '
        'difference is `load_from` (the pre-trained backbone).', '',
        '| Method | ' + ' | '.join(_column(s) for s in settings) + ' |',
        '| --- |' + ' --- |' * len(settings),
        '| Scratch | ' + ' | '.join(cell('scratch', s) for s in settings) + ' |',
        f'| Pre-trained ({_teacher_text(plan)}) | '
        + ' | '.join(cell('pretrained', s) for s in settings)
        + ' |',
        '| Gain | ' + ' | '.join(
            f'{summary["gain"][s]["mean"]:+.1f}'
            + (f' ± {summary["gain"][s]["std"]:.1f} ({summary["gain"][s]["wins"]}/{n} seeds)'
               if n > 1 else '') for s in settings) + ' |',
        '']
    lines += [f'- {_column(s)}: {summary["settings"][s]}' for s in settings]
    lines += ['', '## Per seed', '', '| Method | Seed | ' + ' | '.join(map(_column, settings))
              + ' |', '| --- | --- |' + ' --- |' * len(settings)]
    for init in INITS:
        for i, seed in enumerate(plan.seeds):
            lines.append(f'| {init} | {seed} | ' + ' | '.join(
                f'{summary["per_seed"][init][s][i]:.1f}' for s in settings) + ' |')
    labels = summary['pseudo_labels']
    lines += ['', '## The 2D teacher and its pseudo-labels', '']
    if plan.teacher == 'oracle':
        lines.append('- Oracle teacher: the RGB-D frames\' ground-truth 2D labels (30 classes, '
                     'one-hot with label smoothing 0.1), the upper bound of a perfect 2D teacher.')
    else:
        lines.append(
            f'- 2D teacher (mmseg DPT, small ViT, trained from scratch on the world\'s '
            f'photos, 30 classes): mIoU **{summary["teacher_2d_miou"]:.1f}**, pixel accuracy '
            f'{summary["teacher_2d_pixel_acc"]:.1f} on held-out photos.')
    if 'miou' in labels:
        lines.append(f'- Its top-1 on the pre-training RGB-D against their ground truth '
                     f'(reporting only; training never reads it): mIoU {labels["miou"]:.1f}, '
                     f'pixel accuracy {labels["pixel_acc"]:.1f}' + ''.join(
                         f'; {kind} {labels[kind]["miou"]:.1f} / {labels[kind]["pixel_acc"]:.1f}'
                         for kind in ('perspective', 'equirect') if kind in labels) + '.')
    pretrain = summary['pretrain']
    if pretrain.get('final_acc_teacher') is not None:
        lines.append(f'- 3D pre-training ({pretrain["iters"]} iterations): final soft '
                     f'cross-entropy {pretrain["final_loss_soft"]:.3f}, agreement with the '
                     f'teacher\'s top-1 {pretrain["final_acc_teacher"]:.1f} % (training crops).')
    seconds = summary['seconds']
    lines += ['', '## Time', '', '| Stage | Seconds |', '| --- | --- |']
    for key, value in seconds['wall'].items():
        lines.append(f'| {key} (wall, this run) | {value:.0f} |')
    for key, value in seconds['jobs'].items():
        lines.append(f'| {key} (job time, when it ran) | {value:.0f} |')
    lines += ['', 'Files: `results.json` (these numbers, per-class IoU in '
              '`finetune/*/eval/metrics.json`), `results.png`, `ply/` (a pre-training frame '
              'coloured by pseudo-label and by RGB, one validation room\'s predictions and '
              'ground truth).', '']
    from d3l.datasets.synthetic.writers import save_text
    save_text(path, '\n'.join(lines))


def write_plot(path: str, plan: Plan, summary: dict) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    settings = plan.settings
    x = np.arange(len(settings))
    width = 0.38
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for offset, init, color, label in ((-width / 2, 'scratch', '#9e9e9e', 'scratch'),
                                       (width / 2, 'pretrained', '#1f77b4',
                                        f'pre-trained ({_teacher_text(plan)})')):
        means = [summary[init][s] for s in settings]
        spreads = [summary['std'][init][s] for s in settings]
        ax.bar(x + offset, means, width, yerr=spreads if len(plan.seeds) > 1 else None,
               capsize=4, color=color, label=label)
        for i, s in enumerate(settings):
            values = summary['per_seed'][init][s]
            ax.scatter(np.full(len(values), x[i] + offset), values, s=10, color='black',
                       zorder=3)
    ax.set_xticks(x, [_column(s) for s in settings])
    ax.set_ylabel('mIoU (%) on held-out rooms')
    seeds = f'{len(plan.seeds)} seeds' if len(plan.seeds) > 1 else f'seed {plan.seeds[0]}'
    teacher = ('oracle 2D labels' if plan.teacher == 'oracle' else
               f'2D teacher mIoU {summary["teacher_2d_miou"]:.1f}')
    ax.set_title(f'd3l demo ({plan.preset.name} preset, {seeds}); {teacher}', fontsize=10)
    ax.legend(loc='upper left', fontsize=9)
    ax.set_ylim(0, max(5.0, max(summary[i][s] + summary['std'][i][s] for i in INITS
                                for s in settings) * 1.2))
    fig.tight_layout()
    tmp = f'{path}.tmp-{os.getpid()}.png'
    fig.savefig(tmp)
    plt.close(fig)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------
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
    parser.add_argument('--teacher', default='dpt', choices=TEACHERS,
                        help='dpt: train the 2D teacher and pre-train on its predictions (the '
                        'method); oracle: pre-train on the frames\' ground-truth 2D labels '
                        '(ablation: what a perfect 2D teacher would give)')
    parser.add_argument('--workers', type=int, default=None,
                        help='worker processes (default: one per CPU core, at most 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per worker (default: cores / workers)')
    return parser.parse_args(argv)


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
    check_out_dir(out, identity)
    start = time.perf_counter()
    wall: Dict[str, float] = {}
    _log(f'preset {args.preset}, {args.seeds} seed(s), {workers} worker(s) x {threads} '
         f'thread(s); output in {out}')

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

    plan = Plan(out, args.preset, args.seeds, world, teacher=args.teacher)
    t = time.perf_counter()
    cached = make_splits(plan)
    wall['splits'] = time.perf_counter() - t
    _log(f'stage 2/4: LA / LR split files for {len(plan.seeds)} seed(s): done in '
         f'{_fmt_seconds(wall["splits"])}' + (f' ({cached} cached)' if cached else ''))

    _log('stage 3/4: teacher, pseudo-labels, pre-training and '
         f'{len(plan.seeds) * len(plan.settings) * len(INITS)} fine-tuning runs')
    t = time.perf_counter()
    results = run_jobs(plan.jobs(), plan, workers, threads)
    wall['jobs'] = time.perf_counter() - t

    t = time.perf_counter()
    wall['total'] = time.perf_counter() - start
    summary = summarize(plan, results, wall)
    _write_json(osp.join(out, 'results.json'), summary)
    write_markdown(osp.join(out, 'results.md'), plan, summary)
    write_plot(osp.join(out, 'results.png'), plan, summary)
    _log(f'stage 4/4: report: done in {_fmt_seconds(time.perf_counter() - t)}')
    header = ' '.join(f'{_column(s):>14}' for s in plan.settings)
    print(f'\n{"mIoU (%)":<12} {header}')
    for init in INITS:
        row = ' '.join(f'{summary[init][s]:8.1f} ± {summary["std"][init][s]:3.1f}'
                       for s in plan.settings)
        print(f'{init:<12} {row}')
    teacher = ('oracle teacher (ground-truth 2D labels)' if args.teacher == 'oracle' else
               f'2D teacher mIoU {summary["teacher_2d_miou"]:.1f}')
    print(f'{teacher}; total '
          f'{_fmt_seconds(time.perf_counter() - start)}; see {osp.join(out, "results.md")}',
          flush=True)
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
