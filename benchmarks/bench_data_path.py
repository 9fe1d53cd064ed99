"""The whole training sample, disk -> network-ready batch, per stage, per CPU
worker (one thread), at the real sizes.

    OMP_NUM_THREADS=1 python benchmarks/bench_data_path.py [--repeats 3] [--batch 4]
        [--max-size 2048] [--no-sweep] [--datasets sun mp3d s3d scannet]
        [--normals stored|estimated|both]

Datasets, written to a temporary directory in each one's real on-disk format
from the real samples of ``../shared/realdata`` (synthetic stand-ins of the
same size when absent):

- SUN RGB-D (``SUNRGBD/`` layout: JPEG colour, 3-bit-rotated 16-bit depth,
  intrinsics, extrinsics): the 4 real frames resized to 640x480;
- Matterport3D (HoHoNet layout, quarter-millimetre PNG depth) and
  Structured3D (official layout, millimetre depth, semantic.png): the real
  1024x512 panorama of ``pano_hohonet`` (and turned copies);
- ScanNet (Pointcept layout) for fine-tuning: the real scene0000_00 and
  _01 vertex clouds, 150,000 vertices.

Soft labels are stored by ``tools/generate_pseudo_labels.py`` (a
``PrecomputedTeacher`` over label maps: top-3 fp16, stride 2, as the
configs, with the per-pixel normals of the config's ``pseudo_label_cfg.normals``,
whose labelling-time cost is printed), and each sample runs the
``train_pipeline`` of the dataset's config (``configs/_base_/datasets/
pretrain_*.py``, ``scannet.py``): with ``StoredNormals`` (the configs') and,
for comparison, with ``DepthNormals`` in its place (normals estimated per
sample, as before). Stages: reading
and decoding the files (``LoadRGBD``), each transform, and ``point_collate``
of ``--batch`` samples. Figures are medians of CPU time of this thread
(``time.thread_time``; wall-clock medians beside them), after a warm-up.

The sweep lifts one panorama resized from 256x128 up to 2048x1024 through the
Matterport3D pipeline and prints time and peak memory (tracemalloc) per
megapixel: constant figures mean linear growth.
"""
import argparse
import glob
import os
import os.path as osp
import subprocess
import sys
import tempfile
import time
import tracemalloc

os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from data_path_samples import (  # noqa: E402
    NUM_CLASSES,
    REAL,
    write_matterport,
    write_scannet,
    write_structured3d,
    write_sunrgbd,
)


def generate_labels(tmp, name, source, labels_root, normals=None):
    """Store the soft labels of ``source`` with the real generation tool (and
    its per-pixel normals when ``normals`` is the config's
    ``pseudo_label_cfg.normals``)."""
    out = osp.join(tmp, f'labels_{name}')
    config = osp.join(tmp, f'gen_{name}.py')
    with open(config, 'w') as f:
        f.write(f"default_scope = 'd3l'\n"
                f"teacher = dict(type='PrecomputedTeacher', num_classes={NUM_CLASSES}, "
                f"source='files', root={labels_root!r}, label_smoothing=0.1)\n"
                f"pseudo_label_cfg = dict(source={source!r}, codec=dict(topk=3), stride=2, "
                f"shard_size=64{'' if normals is None else f', normals={dict(normals)!r}'})\n")
    subprocess.run([sys.executable, osp.join(REPO, 'tools', 'generate_pseudo_labels.py'), config,
                    '--out', out, '--device', 'cpu'], check=True, stdout=subprocess.DEVNULL)
    return out


def train_pipeline(config_name, revision=None):
    """The config's ``train_pipeline``: of the working tree, or of a git
    ``revision`` (when the working copy is mid-edit)."""
    from mmengine.config import Config
    path = osp.join('configs', '_base_', 'datasets', config_name)
    if revision is None:
        return [dict(t) for t in Config.fromfile(osp.join(REPO, path)).train_pipeline]
    text = subprocess.run(['git', '-C', REPO, 'show', f'{revision}:{path}'], check=True,
                          capture_output=True, text=True).stdout
    with tempfile.NamedTemporaryFile('w', suffix='.py', delete=False) as f:
        f.write(text)
    try:
        return [dict(t) for t in Config.fromfile(f.name).train_pipeline]
    finally:
        os.unlink(f.name)


def estimated_normals(pipeline):
    """The pipeline with ``DepthNormals`` where it reads ``StoredNormals``
    (the path before normals were stored)."""
    return [dict(type='DepthNormals') if t['type'] == 'StoredNormals' else t for t in pipeline]


def build_dataset(cfg, config_name, edit=None):
    """``cfg`` with the config's train pipeline (through ``edit``); the
    committed one (HEAD) when the working copy names a transform that does
    not exist yet."""
    from d3l.registry import DATASETS
    edit = edit or (lambda pipeline: pipeline)
    try:
        return DATASETS.build(dict(cfg, pipeline=edit(train_pipeline(config_name))))
    except KeyError as exc:
        print(f'  ({config_name} of the working tree does not build: {exc.args[0][:80]}...; '
              'using its committed version, HEAD)')
        return DATASETS.build(dict(cfg, pipeline=edit(train_pipeline(config_name, 'HEAD'))))


def normals_settings(config_name):
    """The config's ``pseudo_label_cfg.normals`` (None: it stores none)."""
    from mmengine.config import Config
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'datasets', config_name))
    normals = cfg.pseudo_label_cfg.get('normals')
    return None if normals is None else dict(normals)


class StageClock:
    """Per-stage lists of CPU (this thread) and wall seconds."""

    def __init__(self):
        self.cpu, self.wall, self.on = {}, {}, True

    def __call__(self, name, fn, *args):
        cpu, wall = time.thread_time(), time.perf_counter()
        out = fn(*args)
        if self.on:
            self.cpu.setdefault(name, []).append(time.thread_time() - cpu)
            self.wall.setdefault(name, []).append(time.perf_counter() - wall)
        return out


def run_stages(dataset, repeats, batch, pretrain=True):
    """One pass of warm-up, then ``repeats`` passes over the dataset, each
    stage timed; collate per batch of ``batch`` packed samples."""
    from d3l.datasets.collate import point_collate
    clock = StageClock()
    for rep in range(repeats + 1):
        clock.on = rep > 0
        packed = []
        for idx in range(len(dataset)):
            if pretrain:
                info = dataset.get_data_info(idx)
                sample = clock('read + decode (LoadRGBD)', dataset.source.prepare_data,
                               info['source_index'])
                sample['soft_label_record'] = clock('stored-label record', dataset.store.get,
                                                    info['frame_id'])
            else:
                sample = clock('read (npy)', dataset.get_data_info, idx)
            for transform in dataset.pipeline.transforms:
                sample = clock(type(transform).__name__, transform, sample)
            packed.append(sample)
        for start in range(0, len(packed), batch):
            group = packed[start:start + batch]
            clock('point_collate (per sample)', point_collate, group)
            if clock.on:  # per sample, like every other row
                for times in (clock.cpu, clock.wall):
                    times['point_collate (per sample)'][-1] /= len(group)
                    times['point_collate (per sample)'].extend(
                        [times['point_collate (per sample)'][-1]] * (len(group) - 1))
    return clock


def whole_samples(dataset, repeats):
    """CPU and wall seconds per ``dataset[i]`` (the data loader's call)."""
    dataset[0]
    cpu, wall = time.thread_time(), time.perf_counter()
    points = []
    for _ in range(repeats):
        for idx in range(len(dataset)):
            points.append(int(dataset[idx]['inputs']['coord'].shape[0]))
    count = repeats * len(dataset)
    return ((time.thread_time() - cpu) / count, (time.perf_counter() - wall) / count,
            int(np.median(points)))


def print_stages(title, clock, whole, target_ms=None):
    cpu = {k: 1e3 * float(np.median(v)) for k, v in clock.cpu.items()}
    wall = {k: 1e3 * float(np.median(v)) for k, v in clock.wall.items()}
    total = sum(cpu.values())
    print(f'\n== {title} ==')
    print(f'  {"stage":<34}{"CPU ms":>9}{"wall ms":>9}{"share":>8}')
    for name in cpu:
        print(f'  {name:<34}{cpu[name]:9.2f}{wall[name]:9.2f}{100 * cpu[name] / total:7.1f}%')
    print(f'  {"sum of stages":<34}{total:9.2f}{sum(wall.values()):9.2f}')
    cpu_s, wall_s, points = whole
    line = (f'  whole sample (dataset[i] + collate): {1e3 * cpu_s + cpu[list(cpu)[-1]]:.1f} ms '
            f'CPU, {1e3 * wall_s:.1f} ms wall -> {1 / (cpu_s + cpu[list(cpu)[-1]] / 1e3):.1f} '
            f'samples/s per worker ({points} points out)')
    if target_ms is not None:
        done = 1e3 * cpu_s + cpu[list(cpu)[-1]] <= target_ms
        line += f'; target <= {target_ms} ms: {"met" if done else "NOT met"}'
    print(line)


def sweep(tmp, max_size, repeats):
    """Time and peak memory of one Matterport3D sample per image size."""
    sizes = [(w // 2, w) for w in (256, 512, 1024, 2048, 4096) if w <= max_size]
    root, labels = osp.join(tmp, 'sweep'), osp.join(tmp, 'sweep_labels')
    write_matterport(root, labels, sizes, copies=1)
    source = dict(type='Matterport3DPanoDataset', data_root=root, split='train')
    dataset = build_dataset(dict(type='PretrainRGBDDataset', source=source,
                                 label_dir=generate_labels(
                                     tmp, 'sweep', source, labels,
                                     normals_settings('pretrain_matterport_pano.py'))),
                            'pretrain_matterport_pano.py')
    dataset[0]
    print('\n== time and memory vs image size (Matterport3D pipeline, one sample) ==')
    print(f'  {"size":<11}{"pixels":>9}{"points":>9}{"CPU ms":>9}{"ms/Mpx":>9}'
          f'{"peak MB":>9}{"B/px":>7}')
    widths = [int(dataset.get_data_info(i)['frame_id'].split('/p')[1].split('_')[0])
              for i in range(len(dataset))]
    for width, idx in sorted(zip(widths, range(len(dataset)))):
        pixels = width * width // 2
        times = []
        for _ in range(repeats):
            cpu = time.thread_time()
            out = dataset[idx]
            times.append(time.thread_time() - cpu)
        tracemalloc.start()
        dataset[idx]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        ms = 1e3 * float(np.median(times))
        print(f'  {width}x{width // 2:<6}{pixels:9d}{len(out["inputs"]["coord"]):9d}{ms:9.1f}'
              f'{ms / pixels * 1e6:9.1f}{peak / 2 ** 20:9.1f}{peak / pixels:7.1f}')


def scannet(root, repeats):
    vertices = write_scannet(root)
    dataset = build_dataset(dict(type='ScanNetDataset', data_root=root, split='train'),
                            'scannet.py')
    clock = run_stages(dataset, repeats, 1, pretrain=False)
    print_stages(f'ScanNet scene, {vertices} vertices (fine-tuning; config scannet.py)',
                 clock, whole_samples(dataset, repeats))


def variants(which):
    """(name, pipeline edit) of the normals paths to time."""
    out = []
    if which in ('estimated', 'both'):
        out.append(('estimated per sample (DepthNormals)', estimated_normals))
    if which in ('stored', 'both'):
        out.append(('stored at labelling time (StoredNormals)', None))
    return out


def report_labelling_normals(label_dir):
    """The labelling-time cost of the stored normals (the tool's pass)."""
    import json
    with open(osp.join(label_dir, 'manifest.json')) as f:
        normals = json.load(f).get('normals')
    if not normals:
        print(f'  {label_dir}: no normals stored')
        return
    size = sum(osp.getsize(p) for p in glob.glob(osp.join(label_dir, '*.normals.np*')))
    labels = sum(osp.getsize(p) for p in glob.glob(osp.join(label_dir, 'shard_*'))) - size
    frames = max(normals['frames'], 1)
    print(f'  labelling-time normals: {1e3 * normals["cpu_seconds"] / frames:.1f} ms CPU '
          f'({1e3 * normals["seconds"] / frames:.1f} ms wall) per frame, '
          f'{size / frames / 2 ** 20:.2f} MB per frame on disk (labels '
          f'{labels / frames / 2 ** 20:.2f} MB)')


def load():
    return open('/proc/loadavg').read().split()[0] if osp.exists('/proc/loadavg') else '?'


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--batch', type=int, default=4)
    parser.add_argument('--max-size', type=int, default=2048, help='largest sweep width')
    parser.add_argument('--no-sweep', action='store_true')
    parser.add_argument('--normals', choices=['stored', 'estimated', 'both'], default='both',
                        help='pre-training samples with the normals stored beside the labels '
                             '(StoredNormals, the configs\' path), estimated per sample '
                             '(DepthNormals, the path before), or both, one after the other')
    parser.add_argument('--datasets', nargs='+', default=['sun', 'mp3d', 's3d', 'scannet'],
                        choices=['sun', 'mp3d', 's3d', 'scannet'])
    args = parser.parse_args()
    import cv2
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from mmengine.registry import init_default_scope
    init_default_scope('d3l')
    print(f'one thread per worker (OMP_NUM_THREADS={os.environ["OMP_NUM_THREADS"]}, torch 1, '
          f'OpenCV 1); {os.cpu_count()} CPUs; load average {load()} at start; real samples: '
          f'{"yes" if osp.isdir(REAL) else "no (synthetic stand-ins)"}')
    with tempfile.TemporaryDirectory() as tmp:
        labels = osp.join(tmp, 'label_maps')
        write_sunrgbd(osp.join(tmp, 'SUNRGBD'), labels)
        write_matterport(osp.join(tmp, 'mp3d'), labels)
        write_structured3d(osp.join(tmp, 's3d'), labels)
        sources = [
            ('SUN RGB-D 640x480 frame', 'sun', 30, 'pretrain_sunrgbd.py',
             dict(type='SUNRGBDDataset', data_root=osp.join(tmp, 'SUNRGBD'))),
            ('Matterport3D 1024x512 panorama', 'mp3d', 100, 'pretrain_matterport_pano.py',
             dict(type='Matterport3DPanoDataset', data_root=osp.join(tmp, 'mp3d'),
                  split='train')),
            ('Structured3D 1024x512 panorama', 's3d', 100, 'pretrain_matterport_pano.py',
             dict(type='Structured3DPanoDataset', data_root=osp.join(tmp, 's3d'),
                  split='train')),
        ]
        for title, name, target, config, source in sources:
            if name not in args.datasets:
                continue
            label_dir = generate_labels(tmp, name, source, labels, normals_settings(config))
            report_labelling_normals(label_dir)
            for variant, edit in variants(args.normals):
                dataset = build_dataset(dict(type='PretrainRGBDDataset', source=source,
                                             label_dir=label_dir), config, edit)
                clock = run_stages(dataset, args.repeats, args.batch)
                print_stages(f'{title} (pre-training, {len(dataset)} frames x {args.repeats}; '
                             f'config {config}; normals {variant})', clock,
                             whole_samples(dataset, args.repeats), target)
        if 'scannet' in args.datasets:
            scannet(osp.join(tmp, 'scannet'), 2 * args.repeats)
        if not args.no_sweep:
            sweep(tmp, args.max_size, args.repeats)
    print(f'\nload average {load()} at the end')


if __name__ == '__main__':
    main()
