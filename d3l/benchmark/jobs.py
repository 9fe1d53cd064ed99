"""The demo's jobs (run in its worker processes): the 2D teacher,
pseudo-labels, 3D pre-training and fine-tuning, each through the stage
functions of :mod:`d3l.apis` that the tools run (options as dicts, as
``--cfg-options`` would set them). Not a CLI; see :mod:`d3l.benchmark.demo`."""
from __future__ import annotations

import importlib.util
import math
import os
import os.path as osp
import sys
import time
from contextlib import contextmanager
from typing import Dict, List

from .plan import REPO_ROOT, TRAIN_TEACHER_CONFIG

TOOLS_DIR = osp.join(REPO_ROOT, 'tools')
#: the jobs' Runners write their config unformatted: yapf costs ~0.25 s CPU
#: each of the 4-5 times a Runner writes it (2 Runners a fine-tuning job)
RUNNER = dict(format_config=False)


def write_json(path: str, obj) -> None:
    # imported here: spawned workers import this module before they need d3l
    from d3l.utils import fileio
    fileio.write_json(path, obj, indent=1, fsync=True)


def tool(name: str):
    """``tools/<name>.py`` as a module: its ``main(argv)`` runs in-process
    (the split files' tool, which has no stage function in d3l.apis)."""
    module_name = f'_d3l_tool_{name}'
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(module_name,
                                                      osp.join(TOOLS_DIR, f'{name}.py'))
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        sys.modules[module_name] = module
    return sys.modules[module_name]


def init_worker(threads: int) -> None:
    os.environ['OMP_NUM_THREADS'] = str(threads)
    import torch
    torch.set_num_threads(threads)


@contextmanager
def output_to(log_path: str):
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
    writes and returns its ``result.json`` (with its wall and CPU seconds)."""
    start, cpu = time.perf_counter(), time.process_time()
    with output_to(osp.join(spec['dir'], 'job.log')):
        result = JOBS[spec['kind']](spec)
    result['seconds'] = round(time.perf_counter() - start, 2)
    result['cpu_seconds'] = round(time.process_time() - cpu, 2)
    write_json(osp.join(spec['dir'], 'result.json'), result)
    return result


def _checkpoint(trained: dict) -> str:
    """The checkpoint :func:`d3l.apis.train` wrote (the one ``last_checkpoint`` names)."""
    if trained['checkpoint'] is None:
        raise FileNotFoundError(f'{trained["work_dir"]}/last_checkpoint names no existing '
                                'checkpoint')
    return trained['checkpoint']


def _train_options(iters: int) -> Dict[str, int]:
    # evaluation is the test stage's job: no validation at the end of training
    return {'train_cfg.max_iters': iters, '+train_cfg.val_begin': iters + 1}


def _data_roots(root: str) -> Dict[str, str]:
    return {f'{key}.dataset.data_root': root
            for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')}


def _score_teacher(config: str, checkpoint: str, seg2d: str, job_dir: str) -> dict:
    """mIoU and pixel accuracy of a 2D teacher on the world's held-out photos."""
    from d3l.apis import test
    metrics = test(config, checkpoint, work_dir=osp.join(job_dir, 'test'),
                   out=osp.join(job_dir, 'eval'), cfg_options=_data_roots(seg2d), **RUNNER)
    return dict(miou=float(metrics['mIoU']), pixel_acc=float(metrics['aAcc']))


def job_teacher(spec: dict) -> dict:
    """--teacher train: train the small DPT on the world's labelled photos."""
    from d3l.apis import train
    iters, batch = spec['iters'], spec['batch_size']
    warmup = max(1, min(20, iters // 4))
    options = {**_data_roots(spec['seg2d']), **_train_options(iters),
               'train_cfg.val_interval': iters, 'default_hooks.checkpoint.interval': iters,
               'train_dataloader.batch_size': batch, 'param_scheduler.0.end': warmup,
               'param_scheduler.1.begin': warmup}
    checkpoint = _checkpoint(train(TRAIN_TEACHER_CONFIG, work_dir=osp.join(spec['dir'], 'work'),
                                   cfg_options=options, **RUNNER))
    result = dict(config=TRAIN_TEACHER_CONFIG, checkpoint=checkpoint, iters=iters,
                  batch_size=batch)
    result.update(_score_teacher(TRAIN_TEACHER_CONFIG, checkpoint, spec['seg2d'], spec['dir']))
    return result


def _seg2d_photos(seg2d: str, split: str = 'val'):
    """(RGB image, label) pairs of the world's teacher photos."""
    import numpy as np
    from PIL import Image
    folder = osp.join(seg2d, 'img_dir', split)
    for name in sorted(n for n in os.listdir(folder) if n.endswith('.png')):
        img = np.asarray(Image.open(osp.join(folder, name)).convert('RGB'))
        label = np.asarray(Image.open(osp.join(seg2d, 'ann_dir', split, name)))
        yield img, label


def job_teacher_zoo(spec: dict) -> dict:
    """--teacher zoo: score the 2D teacher shipped with d3l (its sha256 was
    checked by the demo) on this world's held-out photos, through
    ``MMSegTeacher`` as it labels the frames (its config holds the model only,
    no data pipeline for ``tools/test.py``)."""
    from d3l.model_zoo.evaluate import score_photos
    from d3l.teachers import MMSegTeacher
    teacher = MMSegTeacher(spec['teacher_config'], spec['teacher_checkpoint'], scale=None)
    scores = score_photos(teacher, _seg2d_photos(spec['seg2d']))
    return dict(config=spec['teacher_config'], checkpoint=spec['teacher_checkpoint'],
                sha256=spec['teacher_sha256'], miou=scores['miou'],
                pixel_acc=scores['pixel_acc'], iou=scores['iou'], images=scores['images'])


def teacher_options(spec: dict) -> Dict[str, str]:
    """The teacher the demo labels with (none for the oracle, which reads the
    frames' ground-truth labels)."""
    if not spec.get('checkpoint'):
        return {}
    return {'teacher.config': spec['teacher_config'], 'teacher.checkpoint': spec['checkpoint']}


def job_pseudo_labels(spec: dict) -> dict:
    from d3l.apis import generate_soft_labels, score_soft_labels
    out = osp.join(spec['dir'], 'labels')
    generate_soft_labels(
        spec['config'], out_dir=out,
        # an interrupted run: keep its complete shards
        resume=osp.isfile(osp.join(out, 'manifest.json')),
        cfg_options={'pseudo_label_cfg.source.data_root': spec['rgbd'],
                     **teacher_options(spec)})
    result = dict(label_dir=out)
    # the teacher's top-1 on the pre-training frames against their ground-truth
    # 2D labels (reporting only: training never reads them)
    result.update(score_soft_labels(out, spec['rgbd']))
    return result


def _pretrain(spec: dict, options: Dict[str, str]) -> dict:
    """Pre-train ``spec['config']``, export its backbone (head dropped)."""
    from d3l.apis import export_backbone, train
    trained = train(spec['config'], work_dir=osp.join(spec['dir'], 'work'),
                    cfg_options={**options, **_train_options(spec['iters'])}, **RUNNER)
    backbone = osp.join(spec['dir'], 'backbone.pth')
    export_backbone(_checkpoint(trained), backbone)
    scalars = trained['scalars']
    return dict(backbone=backbone, iters=spec['iters'],
                final_loss_soft=scalars.get('loss_soft'),
                final_acc_teacher=scalars.get('acc_teacher'))


def job_pretrain(spec: dict) -> dict:
    result = _pretrain(spec, {'train_dataloader.dataset.source.data_root': spec['rgbd'],
                              'train_dataloader.dataset.label_dir': spec['label_dir']})
    result['ply'] = export_pretrain_sample(spec['rgbd'], spec['label_dir'], spec['ply_dir'])
    return result


def job_fused_labels(spec: dict) -> dict:
    """--fusion: frames of the training rooms, labelled once by the demo's
    teacher (the oracle: their ground-truth 2D labels), fused onto the rooms'
    vertices; writes the pre-training config over the fused rooms."""
    from .fused import prepare_fused_pretraining
    prepared = prepare_fused_pretraining(
        spec['world_root'], spec['dir'], spec['preset'], spec['world_seed'],
        frames_per_room=spec['frames_per_room'], label_config=spec['config'],
        label_options=teacher_options(spec), progress=False)
    counts = prepared['counts'] or {}
    return dict(config=prepared['config'], label_dir=prepared['fused'],
                frames_per_room=spec['frames_per_room'], counts=counts,
                seen_percent=round(100.0 * counts.get('seen', 0) /
                                   max(1, counts.get('vertices', 0)), 2))


def job_pretrain_fused(spec: dict) -> dict:
    # the config names the fused rooms and their labels (d3l.benchmark.fused)
    return _pretrain(spec, {})


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
    palette = Config.fromfile(TRAIN_TEACHER_CONFIG).metainfo['palette']
    name = sample['frame_id'].replace('/', '_')
    paths = [
        write_ply(osp.join(out_dir, f'pretrain_{name}_pseudo.ply'), sample['points'],
                  colors=label_colors(top1, palette), labels=top1, normals=sample['normals']),
        write_ply(osp.join(out_dir, f'pretrain_{name}_rgb.ply'), sample['points'],
                  colors=sample['colors'], normals=sample['normals'])]
    return paths


def job_finetune(spec: dict) -> dict:
    from d3l.apis import test, train
    options = {**_data_roots(spec['scannet']), 'randomness.seed': spec['seed']}
    # the full-labels reference sets neither (every point of every training room)
    if spec['la_file']:
        options['train_dataloader.dataset.la_file'] = spec['la_file']
    elif spec['lr_file']:
        options['train_dataloader.dataset.lr_file'] = spec['lr_file']
    if spec['load_from']:
        options['load_from'] = spec['load_from']
    checkpoint = _checkpoint(train(spec['config'], work_dir=osp.join(spec['dir'], 'work'),
                                   cfg_options={**options, **_train_options(spec['iters'])},
                                   **RUNNER))
    show = dict(show_dir=spec['show_dir'], max_show=1) if spec.get('show_dir') else {}
    metrics = test(spec['config'], checkpoint, work_dir=osp.join(spec['dir'], 'test'),
                   out=osp.join(spec['dir'], 'eval'), cfg_options=options, **show, **RUNNER)
    iou = {k.split('.', 1)[1]: (None if math.isnan(v) else round(float(v), 2))
           for k, v in metrics.items() if k.startswith('IoU.')}
    return dict(miou=float(metrics['mIoU']), iou=iou, checkpoint=checkpoint,
                init=spec['init'], setting=spec['setting'], seed=spec['seed'],
                iters=spec['iters'])


JOBS = dict(teacher=job_teacher, teacher_zoo=job_teacher_zoo, pseudo_labels=job_pseudo_labels,
            pretrain=job_pretrain, fused_labels=job_fused_labels,
            pretrain_fused=job_pretrain_fused, finetune=job_finetune)
