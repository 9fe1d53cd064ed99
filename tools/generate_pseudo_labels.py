"""Run a 2D teacher once over an RGB-D dataset and store compact soft labels.

    python tools/generate_pseudo_labels.py CONFIG [--out DIR] [--resume]
        [--launcher none|pytorch|slurm] [--vis N] [--device DEV] [--cfg-options k=v ...]

    torchrun --nproc_per_node 8 tools/generate_pseudo_labels.py CONFIG --launcher pytorch

The config holds ``teacher`` (a registered teacher: ``MMSegTeacher``,
``HFTeacher``, ``PrecomputedTeacher``, ...) and ``pseudo_label_cfg``::

    pseudo_label_cfg = dict(
        source=dict(type='RGBDFolderDataset', data_root=..., pipeline=[dict(type='LoadRGBD')]),
        out_dir='data/pseudo_labels/...',    # default for --out
        codec=dict(topk=3, prob_dtype='float16'),
        stride=1,                            # label grid stride in pixels
        shard_size=64)                       # frames per shard file

The frame list is cut into shards of ``shard_size`` consecutive frames;
shard ``i`` belongs to rank ``i % world_size``, so every frame is labelled
exactly once and the files do not depend on the number of processes. Each
shard is written under a temporary name and renamed when complete;
``--resume`` keeps complete shards and redoes the rest. Frames that cannot
be loaded are counted, listed in the summary and in ``manifest.json``.
``--vis N`` saves PNG overlays (image | top-1 class | confidence) of the
first N labelled frames of each rank under ``DIR/vis``.
"""
import argparse
import glob
import os
import os.path as osp
import re
import sys
import time

import numpy as np

from d3l.engine.cli import CLIError, DictAction, load_config, run_cli

# errors that mean "this frame's data are bad", not "the setup is wrong"
try:
    from d3l.datasets.rgbd.io import BadFrameError
except ImportError:  # pragma: no cover - the RGB-D datasets are part of d3l
    BadFrameError = ValueError
FRAME_ERRORS = (BadFrameError, OSError, ValueError, KeyError, IndexError, EOFError)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Generate soft pseudo-labels with a 2D teacher')
    parser.add_argument('config', help='config with teacher and pseudo_label_cfg')
    parser.add_argument('--out', help='label directory (default: pseudo_label_cfg.out_dir)')
    parser.add_argument('--resume', action='store_true',
                        help='continue a directory: keep complete shards, redo the rest')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none')
    parser.add_argument('--vis', type=int, default=0, metavar='N',
                        help='save PNG overlays of the first N frames of each rank')
    parser.add_argument('--device', help='teacher device (default: cuda:LOCAL_RANK or cpu)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


# ----------------------------------------------------------------------------
def build_source(source_cfg):
    from d3l.registry import DATASETS

    source_cfg = dict(source_cfg)
    source_cfg.setdefault('pipeline', [dict(type='LoadRGBD')])
    try:
        dataset = DATASETS.build(source_cfg)
    except (FileNotFoundError, ValueError, TypeError, KeyError) as err:
        raise CLIError(f'cannot build the source dataset {source_cfg.get("type")!r}: '
                       f'{type(err).__name__}: {err}') from None
    if hasattr(dataset, 'full_init'):
        dataset.full_init()
    if hasattr(dataset, 'frame_ids'):
        frame_ids = list(dataset.frame_ids())
    else:
        frame_ids = [dataset.get_data_info(i).get('frame_id') for i in range(len(dataset))]
    if any(f is None for f in frame_ids):
        raise CLIError(f'source dataset {source_cfg.get("type")!r} gives frames without a '
                       'frame_id; stored labels are keyed by it')
    frame_ids = [str(f) for f in frame_ids]
    if len(set(frame_ids)) != len(frame_ids):
        raise CLIError(f'source dataset {source_cfg.get("type")!r} repeats frame ids')
    return dataset, frame_ids


def build_teacher(teacher_cfg, device):
    from d3l.registry import MODELS
    from d3l.teachers import TeacherCheckpointError

    teacher_cfg = dict(teacher_cfg)
    if device is not None:
        teacher_cfg['device'] = device
    try:
        teacher = MODELS.build(teacher_cfg)
    except (TeacherCheckpointError, FileNotFoundError, ImportError) as err:
        raise CLIError(str(err)) from None
    return teacher.eval()


def teacher_identity(teacher) -> dict:
    """The teacher's description plus the sha256 of its weight files."""
    from d3l.pseudo_labels import file_sha256

    info = teacher.describe()
    info['weights_sha256'] = {osp.basename(path): file_sha256(path)
                              for path in teacher.weight_files()}
    return info


def safe_name(frame_id: str) -> str:
    return re.sub(r'[^A-Za-z0-9._-]+', '_', frame_id)


def save_overlay(path: str, img: np.ndarray, probs, stride: int) -> None:
    """image | top-1 class over the image | confidence (white = 1)."""
    from PIL import Image

    from d3l.visualization import default_palette

    num_classes = probs.shape[0]
    conf, top1 = probs.max(0)
    top1 = top1.cpu().numpy()
    conf = conf.cpu().numpy()
    height, width = img.shape[:2]
    if stride > 1:
        top1 = np.repeat(np.repeat(top1, stride, 0), stride, 1)[:height, :width]
        conf = np.repeat(np.repeat(conf, stride, 0), stride, 1)[:height, :width]
    colors = default_palette(num_classes)[top1]
    overlay = (0.4 * img + 0.6 * colors).astype(np.uint8)
    conf_img = np.repeat((conf * 255).astype(np.uint8)[..., None], 3, 2)
    canvas = np.concatenate([img, overlay, conf_img], axis=1)
    os.makedirs(osp.dirname(path), exist_ok=True)
    tmp = f'{path}.tmp-{os.getpid()}.png'
    Image.fromarray(canvas).save(tmp)
    os.replace(tmp, path)


def shard_is_complete(path: str, planned: list) -> bool:
    from d3l.pseudo_labels import LabelStoreError, ShardFile

    try:
        shard = ShardFile(path)
        shard._arrays()
    except (LabelStoreError, OSError, ValueError):
        return False
    stored = list(shard.frame_ids) + [f for f, _ in shard.failed]
    return sorted(stored) == sorted(planned)


# ----------------------------------------------------------------------------
def prepare_directory(out_dir, manifest, resume) -> dict:
    """Rank 0: check / create the directory; returns the manifest to use."""
    from d3l.pseudo_labels import (
        MANIFEST_NAME,
        LabelStoreError,
        list_shards,
        manifest_differences,
        read_manifest,
        write_manifest,
    )

    existing = osp.isfile(osp.join(out_dir, MANIFEST_NAME))
    if existing:
        if not resume:
            raise CLIError(f'{out_dir} already holds pseudo-labels ({MANIFEST_NAME}); pass '
                           '--resume to continue it or choose another --out')
        try:
            old = read_manifest(out_dir)
        except LabelStoreError as err:
            raise CLIError(str(err)) from None
        differences = manifest_differences(old, manifest)
        if differences:
            raise CLIError(f'--resume: {out_dir} was generated with a different '
                           f'{", ".join(differences)}; use a new --out for these settings')
        manifest['created'] = old.get('created', manifest['created'])
    elif list_shards(out_dir):
        raise CLIError(f'{out_dir} holds shard files but no {MANIFEST_NAME}; remove them or '
                       'choose another --out')
    for tmp in glob.glob(osp.join(out_dir, '*.tmp-*')):
        os.remove(tmp)  # partial shards of a killed run
    write_manifest(out_dir, manifest)
    return manifest


def label_shard(index, start, stop, frame_ids, dataset, teacher, codec, stride, out_dir,
                vis_left, progress):
    """Label frames [start, stop) into shard ``index``; returns
    (labelled, failures, vis_left)."""
    import torch

    from d3l.pseudo_labels import ShardWriter

    writer = ShardWriter(out_dir, index, frame_start=start)
    for idx in range(start, stop):
        frame_id = frame_ids[idx]
        try:
            sample = dataset.prepare_data(idx)
            if sample is None:
                raise ValueError('the dataset pipeline returned None')
            if str(sample.get('frame_id', frame_id)) != frame_id:
                raise RuntimeError(f'the dataset returned frame {sample.get("frame_id")!r} at '
                                   f'index {idx}, expected {frame_id!r}: its order changed')
            img = np.asarray(sample['img'])
        except FRAME_ERRORS as err:
            writer.add_failure(frame_id, f'{type(err).__name__}: {err}')
            progress.update()
            continue
        with torch.no_grad():
            probs = teacher.label_frame(sample, stride=stride)
        encoded = codec.encode(probs.reshape(probs.shape[0], -1).T)
        writer.add(frame_id, encoded, image_shape=img.shape[:2], stride=stride)
        if vis_left > 0:
            save_overlay(osp.join(out_dir, 'vis', safe_name(frame_id) + '.png'), img, probs,
                         stride)
            vis_left -= 1
        progress.update()
    writer.close()
    return len(writer), writer.failures, vis_left


class _Progress:
    """mmengine's ProgressBar (tasks/s = frames/s) on rank 0, silent elsewhere."""

    def __init__(self, total: int, enabled: bool):
        self.bar = None
        if enabled and total > 0:
            from mmengine.utils import ProgressBar
            self.bar = ProgressBar(total, file=sys.stdout)

    def update(self):
        if self.bar is not None:
            self.bar.update()


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    if 'teacher' not in cfg:
        raise CLIError(f'{args.config} has no "teacher" (e.g. teacher = dict(type='
                       "'MMSegTeacher', config=..., checkpoint=...))")
    label_cfg = cfg.get('pseudo_label_cfg')
    if not label_cfg or 'source' not in label_cfg:
        raise CLIError(f'{args.config} has no pseudo_label_cfg.source (the RGB-D dataset to '
                       'label)')
    out_dir = args.out or label_cfg.get('out_dir')
    if not out_dir:
        raise CLIError('no output directory: pass --out DIR or set pseudo_label_cfg.out_dir')
    stride = int(label_cfg.get('stride', 1))
    shard_size = int(label_cfg.get('shard_size', 64))
    if stride < 1 or shard_size < 1:
        raise CLIError(f'pseudo_label_cfg: stride ({stride}) and shard_size ({shard_size}) '
                       'must be >= 1')

    import torch
    from mmengine.dist import (
        all_gather_object,
        barrier,
        broadcast_object_list,
        get_dist_info,
        init_dist,
    )
    from mmengine.registry import init_default_scope

    import d3l  # noqa: F401  (compat layer)
    from d3l.pseudo_labels import (
        SoftLabelCodec,
        list_shards,
        make_manifest,
        plan_shards,
        shard_path,
        shards_of_rank,
        write_manifest,
    )
    from d3l.pseudo_labels.manifest import now_iso

    if args.launcher != 'none':
        init_dist(args.launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    rank, world_size = get_dist_info()
    init_default_scope(cfg.get('default_scope', 'd3l'))

    try:
        codec = SoftLabelCodec(**dict(label_cfg.get('codec') or {}))
    except (TypeError, ValueError) as err:
        raise CLIError(f'pseudo_label_cfg.codec: {err}') from None
    dataset, frame_ids = build_source(label_cfg['source'])
    device = args.device
    if device is None and torch.cuda.is_available():
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    teacher = build_teacher(cfg.teacher, device)
    shards = plan_shards(len(frame_ids), shard_size)

    # rank 0 checks the directory; every rank learns the verdict
    verdict = [None]
    if rank == 0:
        try:
            manifest = make_manifest(
                teacher=teacher_identity(teacher), num_classes=teacher.num_classes,
                class_names=teacher.class_names, codec=codec.config(), stride=stride,
                panorama=teacher.panorama_config(), source=_plain(label_cfg['source']),
                frame_ids=frame_ids, shard_size=shard_size, num_shards=len(shards))
            verdict = [prepare_directory(out_dir, manifest, args.resume)]
        except CLIError as err:
            verdict = [f'error: {err}']
    if world_size > 1:
        broadcast_object_list(verdict, src=0)
    if isinstance(verdict[0], str):
        raise CLIError(verdict[0][len('error: '):])
    manifest = verdict[0]

    mine = shards_of_rank(len(shards), world_size, rank)
    todo, skipped = [], []
    for index in mine:
        start, stop = shards[index]
        path = shard_path(out_dir, index)
        if osp.isfile(path) and shard_is_complete(path, frame_ids[start:stop]):
            skipped.append(index)
        else:
            todo.append(index)
    num_todo = sum(shards[i][1] - shards[i][0] for i in todo)
    if rank == 0:
        print(f'[generate_pseudo_labels] {len(frame_ids)} frames in {len(shards)} shards, '
              f'{world_size} process(es); teacher {type(teacher).__name__} '
              f'({teacher.num_classes} classes) on {teacher.device}; rank 0 labels {num_todo} '
              f'frames, keeps {len(skipped)} complete shard(s)', flush=True)
    progress = _Progress(num_todo, rank == 0)
    started = time.time()
    labelled, failures, vis_left = 0, [], args.vis
    for index in todo:
        start, stop = shards[index]
        done, failed, vis_left = label_shard(index, start, stop, frame_ids, dataset, teacher,
                                             codec, stride, out_dir, vis_left, progress)
        labelled += done
        failures += failed
    elapsed = time.time() - started
    stats = dict(rank=rank, labelled=labelled, failed=failures, skipped_shards=len(skipped),
                 skipped_frames=sum(shards[i][1] - shards[i][0] for i in skipped),
                 written_shards=len(todo), seconds=elapsed)
    all_stats = all_gather_object(stats) if world_size > 1 else [stats]
    if world_size > 1:
        barrier()
    if rank != 0:
        return

    # rank 0: summarise every shard on disk into the manifest
    from d3l.pseudo_labels import ShardFile
    present = list_shards(out_dir)
    total_labelled, all_failed = 0, []
    for index, path in present.items():
        if index >= len(shards):
            continue
        shard = ShardFile(path)
        total_labelled += len(shard.frame_ids)
        all_failed += [list(f) for f in shard.failed]
    complete = all(i in present for i in range(len(shards)))
    manifest.update(counts=dict(frames=len(frame_ids), labelled=total_labelled,
                                failed=len(all_failed)),
                    failed=all_failed, complete=complete, finished=now_iso())
    write_manifest(out_dir, manifest)
    this_run = sum(s['labelled'] for s in all_stats)
    kept = sum(s['skipped_frames'] for s in all_stats)
    rate = this_run / max(max(s['seconds'] for s in all_stats), 1e-9)
    print(f'\n[generate_pseudo_labels] done: {this_run} frames labelled now '
          f'({rate:.2f} frames/s over {world_size} process(es)), {kept} frames kept from '
          f'complete shards (--resume), {len(all_failed)} failed; {total_labelled} of '
          f'{len(frame_ids)} frames stored in {out_dir}', flush=True)
    if all_failed:
        print(f'[generate_pseudo_labels] {len(all_failed)} frame(s) could not be labelled '
              '(listed in manifest.json "failed"):')
        for frame_id, reason in all_failed[:20]:
            print(f'  {frame_id}: {reason}')
        if len(all_failed) > 20:
            print(f'  ... and {len(all_failed) - 20} more')


def _plain(value):
    """Config values as JSON-friendly builtins."""
    if hasattr(value, 'to_dict'):
        value = value.to_dict()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (str, int, float, bool)) or value is None:
        return value
    return str(value)


if __name__ == '__main__':
    run_cli(main)
