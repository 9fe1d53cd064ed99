"""Run a 2D teacher once over an RGB-D dataset and store compact soft labels.

    python tools/generate_pseudo_labels.py CONFIG [--out DIR] [--resume]
        [--launcher none|pytorch|slurm] [--vis N] [--device DEV] [--cfg-options k=v ...]
    python tools/generate_pseudo_labels.py (CONFIG [--out DIR] | DIR) --verify

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
``--resume`` requires the same teacher, codec, frames and source files
(type, root, each file's size and mtime), keeps the complete shards whose
sha256 and frames check out, and redoes the rest (counted). Frames that
cannot be loaded, or whose teacher output is not a distribution (NaN), are
counted, listed in the summary and in ``manifest.json``. One writer at a
time: ``DIR/writer.lock`` names the running one. ``--verify`` checks every
shard (sha256, frames, rows) and exits 2 listing the bad ones.
``--vis N`` saves PNG overlays (image | top-1 class | confidence) of the
first N labelled frames of each rank under ``DIR/vis``.
"""
import argparse
import os
import os.path as osp
import signal
import threading
import time

import numpy as np

from d3l.engine.cli import CLIError, DictAction, load_config, run_cli
from d3l.pseudo_labels.session import prepare_directory
from d3l.pseudo_labels.vis import safe_name, save_overlay

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
    parser.add_argument('--verify', action='store_true',
                        help='check every shard of the directory (CONFIG may be the directory)'
                             '; exit 2 listing the bad ones')
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


def label_shard(index, start, stop, frame_ids, dataset, teacher, codec, stride, out_dir,
                vis_left, progress, guard=None):
    """Label frames [start, stop) into shard ``index``; returns
    (labelled, failures, vis_left). ``guard()`` runs before each frame and
    before the shard is committed; it raises when this process must stop."""
    import torch

    from d3l.pseudo_labels import ShardWriter, SoftLabelError

    writer = ShardWriter(out_dir, index, frame_start=start, before_commit=guard)
    for idx in range(start, stop):
        if guard is not None:
            guard()
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
        try:
            encoded = codec.encode(probs.reshape(probs.shape[0], -1).T,
                                   name=f'frame {frame_id!r}')
        except SoftLabelError as err:  # e.g. NaN teacher output: listed, never stored
            writer.add_failure(frame_id, f'{type(err).__name__}: {err}')
            progress.update()
            continue
        writer.add(frame_id, encoded, image_shape=img.shape[:2], stride=stride)
        if vis_left > 0:
            save_overlay(osp.join(out_dir, 'vis', safe_name(frame_id) + '.png'), img, probs,
                         stride)
            vis_left -= 1
        progress.update()
    writer.close()
    return len(writer), writer.failures, vis_left


# ----------------------------------------------------------------------------
def read_settings(args):
    """(config, out_dir, stride, shard_size) from the command line."""
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
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise CLIError(f'--out {out_dir} is a file, not a directory')
    return cfg, str(out_dir), stride, shard_size


def run_verify(args) -> None:
    """``--verify``: check every shard of a directory; exit 2 listing the
    bad ones (and, given a config, source files that changed)."""
    from d3l.pseudo_labels import LabelStoreError, verify_store
    from d3l.pseudo_labels.session import format_verify_report

    if osp.isdir(args.config):
        label_dir, notes = args.config, []
    else:
        cfg, label_dir, _, _ = read_settings(args)
        notes = verify_source(cfg, label_dir)
    report = verify_store(label_dir)
    lines, failure = format_verify_report(label_dir, report)
    print('\n'.join(lines + [f'  SOURCE {note}' for note in notes]), flush=True)
    if failure or notes:
        raise LabelStoreError(failure or f'{label_dir}: {notes[0]}')
    print(f'[verify] {label_dir}: OK', flush=True)


def verify_source(cfg, label_dir) -> list:
    """Differences between the config's source files and the manifest's."""
    from mmengine.registry import init_default_scope

    from d3l.pseudo_labels import (
        LabelStoreError,
        describe_source,
        file_stats,
        read_manifest,
        source_differences,
    )

    init_default_scope(cfg.get('default_scope', 'd3l'))
    try:
        manifest = read_manifest(label_dir)
    except LabelStoreError as err:
        raise CLIError(str(err)) from None
    source_cfg = _plain(cfg.pseudo_label_cfg['source'])
    dataset, frame_ids = build_source(source_cfg)
    if frame_ids != list(manifest['frame_ids']):
        return [f'the source lists {len(frame_ids)} frames, the manifest '
                f'{len(manifest["frame_ids"])} (or another order)']
    current = dict(source=describe_source(dataset, source_cfg), frame_ids=frame_ids,
                   source_files=file_stats(dataset))
    return source_differences(manifest, current)


def start_run(out_dir, rank, world_size, make):
    """Rank 0 takes the lock and prepares the directory (``make()`` gives
    the new manifest); every rank gets (manifest, run id) or the error."""
    from mmengine.dist import broadcast_object_list

    from d3l.pseudo_labels import LabelStoreError, StoreLock, StoreLockError

    lock, verdict, error = None, [None], None
    if rank == 0:
        try:
            manifest, args = make()
            lock = StoreLock(out_dir).acquire()
            try:
                verdict = [(prepare_directory(out_dir, manifest, args.resume), lock.run_id)]
            except BaseException:
                lock.release()
                raise
        except (CLIError, LabelStoreError) as err:
            # a refused directory is a CLIError as before; a held lock keeps its class
            error = err if isinstance(err, (CLIError, StoreLockError)) else CLIError(str(err))
            verdict = [f'error: {err}']
    if world_size > 1:
        broadcast_object_list(verdict, src=0)
    if error is not None:
        raise error
    if isinstance(verdict[0], str):
        raise CLIError(verdict[0][len('error: '):])
    manifest, run_id = verdict[0]
    return manifest, lock or StoreLock(out_dir, run_id=run_id)


def _on_sigterm(signum, frame):
    # a clean exit: finally-blocks remove the shard in progress and the lock
    raise SystemExit(128 + signum)


def main(argv=None):
    args = parse_args(argv)
    if args.verify:
        return run_verify(args)
    previous = signal.getsignal(signal.SIGTERM)
    in_main_thread = threading.current_thread() is threading.main_thread()
    if in_main_thread:
        signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        generate(args)
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


def generate(args):
    cfg, out_dir, stride, shard_size = read_settings(args)
    label_cfg = cfg.pseudo_label_cfg

    import torch
    from mmengine.dist import get_dist_info, init_dist
    from mmengine.registry import init_default_scope

    import d3l  # noqa: F401  (compat layer)
    from d3l.pseudo_labels import (
        SoftLabelCodec,
        describe_source,
        file_stats,
        make_manifest,
        plan_shards,
    )
    from d3l.pseudo_labels.session import WriterGuard

    if args.launcher != 'none':
        init_dist(args.launcher, backend='nccl' if torch.cuda.is_available() else 'gloo')
    rank, world_size = get_dist_info()
    init_default_scope(cfg.get('default_scope', 'd3l'))

    try:
        codec = SoftLabelCodec(**dict(label_cfg.get('codec') or {}))
    except (TypeError, ValueError) as err:
        raise CLIError(f'pseudo_label_cfg.codec: {err}') from None
    source_cfg = _plain(label_cfg['source'])
    dataset, frame_ids = build_source(source_cfg)
    device = args.device
    if device is None and torch.cuda.is_available():
        device = f'cuda:{int(os.environ.get("LOCAL_RANK", 0))}'
    teacher = build_teacher(cfg.teacher, device)
    shards = plan_shards(len(frame_ids), shard_size)

    def make():
        return make_manifest(
            teacher=teacher_identity(teacher), num_classes=teacher.num_classes,
            class_names=teacher.class_names, codec=codec.config(), stride=stride,
            panorama=teacher.panorama_config(), source=describe_source(dataset, source_cfg),
            frame_ids=frame_ids, shard_size=shard_size, num_shards=len(shards),
            source_files=file_stats(dataset)), args

    manifest, lock = start_run(out_dir, rank, world_size, make)
    guard = WriterGuard(lock, watch_parent=args.launcher == 'pytorch')
    try:
        run_shards(args, out_dir, manifest, shards, frame_ids, dataset, teacher, codec, stride,
                   rank, world_size, guard)
    finally:
        lock.release()


def run_shards(args, out_dir, manifest, shards, frame_ids, dataset, teacher, codec, stride,
               rank, world_size, guard):
    """Label this rank's shards that are not complete; rank 0 records
    them in the manifest and prints the summary."""
    from mmengine.dist import all_gather_object, barrier

    from d3l.pseudo_labels import shards_of_rank
    from d3l.pseudo_labels.session import Progress, finish_run, plan_work

    todo, kept, redone = plan_work(out_dir, manifest, shards_of_rank(len(shards), world_size,
                                                                     rank))
    num_todo = sum(shards[i][1] - shards[i][0] for i in todo)
    if rank == 0:
        print(f'[generate_pseudo_labels] {len(frame_ids)} frames in {len(shards)} shards, '
              f'{world_size} process(es); teacher {type(teacher).__name__} '
              f'({teacher.num_classes} classes) on {teacher.device}; rank 0 labels {num_todo} '
              f'frames, keeps {len(kept)} complete shard(s)', flush=True)
    for name, reason in redone:
        print(f'[generate_pseudo_labels] rank {rank} redoes {name}: {reason}', flush=True)
    progress = Progress(num_todo, rank == 0)
    started = time.time()
    labelled, failures, vis_left = 0, [], args.vis
    for index in todo:
        start, stop = shards[index]
        done, failed, vis_left = label_shard(index, start, stop, frame_ids, dataset, teacher,
                                             codec, stride, out_dir, vis_left, progress, guard)
        labelled += done
        failures += failed
    stats = dict(rank=rank, labelled=labelled, failed=failures, skipped_shards=len(kept),
                 skipped_frames=sum(shards[i][1] - shards[i][0] for i in kept),
                 redone=redone, written_shards=len(todo), seconds=time.time() - started)
    all_stats = all_gather_object(stats) if world_size > 1 else [stats]
    if world_size > 1:
        barrier()
    if rank == 0:
        finish_run(out_dir, manifest, len(shards), all_stats, world_size)


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
