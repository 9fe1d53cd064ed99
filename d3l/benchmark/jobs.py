"""The demo's jobs (run in its worker processes): the 2D teacher,
pseudo-labels, 3D pre-training and fine-tuning, each through the tools' own
``main()`` functions. Not a CLI; see :mod:`d3l.benchmark.demo`."""
from __future__ import annotations

import importlib.util
import json
import math
import os
import os.path as osp
import sys
import time
from contextlib import contextmanager
from typing import List

from .plan import REPO_ROOT, TRAIN_TEACHER_CONFIG

TOOLS_DIR = osp.join(REPO_ROOT, 'tools')


def write_json(path: str, obj) -> None:
    # imported here: spawned workers import this module before they need d3l
    from d3l.utils import fileio
    fileio.write_json(path, obj, indent=1, fsync=True)


def tool(name: str):
    """``tools/<name>.py`` as a module: its ``main(argv)`` runs in-process."""
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


def _seg2d_roots(seg2d: str) -> List[str]:
    return [f'{key}.dataset.data_root={seg2d}'
            for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')]


def _score_teacher(config: str, checkpoint: str, seg2d: str, job_dir: str) -> dict:
    """mIoU and pixel accuracy of a 2D teacher on the world's held-out photos."""
    metrics = tool('test').main([config, checkpoint, '--work-dir', osp.join(job_dir, 'test'),
                                 '--out', osp.join(job_dir, 'eval'), '--cfg-options',
                                 *_seg2d_roots(seg2d)])
    return dict(miou=float(metrics['mIoU']), pixel_acc=float(metrics['aAcc']))


def job_teacher(spec: dict) -> dict:
    """--teacher train: train the small DPT on the world's labelled photos."""
    iters, batch = spec['iters'], spec['batch_size']
    work_dir = osp.join(spec['dir'], 'work')
    warmup = max(1, min(20, iters // 4))
    tool('train').main([
        TRAIN_TEACHER_CONFIG, '--work-dir', work_dir, '--cfg-options',
        *_seg2d_roots(spec['seg2d']), *_train_options(iters), f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}', f'train_dataloader.batch_size={batch}',
        f'param_scheduler.0.end={warmup}', f'param_scheduler.1.begin={warmup}'])
    checkpoint = _last_checkpoint(work_dir)
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


def job_pseudo_labels(spec: dict) -> dict:
    out = osp.join(spec['dir'], 'labels')
    argv = [spec['config'], '--out', out, '--cfg-options',
            f'pseudo_label_cfg.source.data_root={spec["rgbd"]}']
    if spec.get('checkpoint'):  # a DPT (the oracle reads the frames' labels)
        argv += [f'teacher.config={spec["teacher_config"]}',
                 f'teacher.checkpoint={spec["checkpoint"]}']
    if osp.isfile(osp.join(out, 'manifest.json')):
        argv.insert(1, '--resume')  # an interrupted run: keep its complete shards
    tool('generate_pseudo_labels').main(argv)
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


def _pretrain(spec: dict, options: List[str]) -> dict:
    """Pre-train ``spec['config']``, export its backbone (head dropped)."""
    work_dir = osp.join(spec['dir'], 'work')
    tool('train').main([spec['config'], '--work-dir', work_dir, '--cfg-options', *options,
                        *_train_options(spec['iters'])])
    checkpoint = _last_checkpoint(work_dir)
    backbone = osp.join(spec['dir'], 'backbone.pth')
    tool('export_backbone').main([checkpoint, backbone])
    scalars = _last_scalars(work_dir)
    return dict(backbone=backbone, iters=spec['iters'],
                final_loss_soft=scalars.get('loss_soft'),
                final_acc_teacher=scalars.get('acc_teacher'))


def job_pretrain(spec: dict) -> dict:
    result = _pretrain(spec, [f'train_dataloader.dataset.source.data_root={spec["rgbd"]}',
                              f'train_dataloader.dataset.label_dir={spec["label_dir"]}'])
    result['ply'] = export_pretrain_sample(spec['rgbd'], spec['label_dir'], spec['ply_dir'])
    return result


def job_fused_labels(spec: dict) -> dict:
    """--fusion: frames of the training rooms, labelled once by the demo's
    teacher (the oracle: their ground-truth 2D labels), fused onto the rooms'
    vertices; writes the pre-training config over the fused rooms."""
    from .fused import prepare_fused_pretraining
    options = []
    if spec.get('checkpoint'):  # a DPT (the oracle reads the frames' labels)
        options = [f'teacher.config={spec["teacher_config"]}',
                   f'teacher.checkpoint={spec["checkpoint"]}']
    prepared = prepare_fused_pretraining(
        spec['world_root'], spec['dir'], spec['preset'], spec['world_seed'],
        frames_per_room=spec['frames_per_room'], label_config=spec['config'],
        label_options=options, progress=False)
    counts = prepared['counts'] or {}
    return dict(config=prepared['config'], label_dir=prepared['fused'],
                frames_per_room=spec['frames_per_room'], counts=counts,
                seen_percent=round(100.0 * counts.get('seen', 0) /
                                   max(1, counts.get('vertices', 0)), 2))


def job_pretrain_fused(spec: dict) -> dict:
    # the config names the fused rooms and their labels (d3l.benchmark.fused)
    return _pretrain(spec, [])


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
    scannet = spec['scannet']
    options = [f'{key}.dataset.data_root={scannet}'
               for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options.append(f'randomness.seed={spec["seed"]}')
    # the full-labels reference sets neither (every point of every training room)
    if spec['la_file']:
        options.append(f'train_dataloader.dataset.la_file={spec["la_file"]}')
    elif spec['lr_file']:
        options.append(f'train_dataloader.dataset.lr_file={spec["lr_file"]}')
    if spec['load_from']:
        options.append(f'load_from={spec["load_from"]}')
    work_dir = osp.join(spec['dir'], 'work')
    tool('train').main([spec['config'], '--work-dir', work_dir, '--cfg-options', *options,
                        *_train_options(spec['iters'])])
    checkpoint = _last_checkpoint(work_dir)
    argv = [spec['config'], checkpoint, '--work-dir', osp.join(spec['dir'], 'test'),
            '--out', osp.join(spec['dir'], 'eval')]
    if spec.get('show_dir'):
        argv += ['--show-dir', spec['show_dir'], '--max-show', '1']
    metrics = tool('test').main(argv + ['--cfg-options', *options])
    iou = {k.split('.', 1)[1]: (None if math.isnan(v) else round(float(v), 2))
           for k, v in metrics.items() if k.startswith('IoU.')}
    return dict(miou=float(metrics['mIoU']), iou=iou, checkpoint=checkpoint,
                init=spec['init'], setting=spec['setting'], seed=spec['seed'],
                iters=spec['iters'])


JOBS = dict(teacher=job_teacher, teacher_zoo=job_teacher_zoo, pseudo_labels=job_pseudo_labels,
            pretrain=job_pretrain, fused_labels=job_fused_labels,
            pretrain_fused=job_pretrain_fused, finetune=job_finetune)
