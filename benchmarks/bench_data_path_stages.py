"""Issue 16's faster data-path stages against their previous code, one
thread, interleaved in one run, on the real-format frames of
``bench_data_path.py`` (SUN RGB-D 640x480, Matterport3D and Structured3D
1024x512 panoramas from ``../shared/realdata``).

    OMP_NUM_THREADS=1 python benchmarks/bench_data_path_stages.py [--repeats 15]

Stages, each "before" (the previous code, still in the tree as the fallback:
``USE_NUMBA = False`` / ``USE_OPENCV = False``, or the reference kept here)
and "after" (today's default), checked equal on every call:

- ``read_color`` (PIL -> OpenCV for 8-bit RGB JPEG / PNG);
- ``LoadRGBD``'s depth check (``isfinite`` + ``where`` -> min / max);
- ``depth_edge_mask`` (NumPy slices -> one numba loop);
- ``grid_sample_indices`` 2 cm, train mode, and the ``GridSample`` transform
  (packed NumPy sort -> keys + LSD radix sort + runs in numba);
- ``LimitPoints`` 120k sphere (argpartition + sort -> partition + mask);
- ``ElasticDistortion`` with the pre-training configs' lattices (float64
  (N, 3) expressions around the trilinear kernel -> one numba pass per
  lattice, ``interpolation.USE_FUSED``) and ``RandomScale`` (three NumPy
  passes -> one numba pass, ``augmentation.USE_NUMBA``), on the grid-sampled
  points.

Figures: medians of CPU time of this thread (``time.thread_time``) in ms.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

os.environ.setdefault('OMP_NUM_THREADS', '1')
import numpy as np  # noqa: E402

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)


def _fixture_writers():
    """The fixture writers of ``bench_data_path.py`` (``data_path_samples.py``:
    the same files as the whole-sample benchmark)."""
    sys.path.insert(0, osp.join(REPO, 'benchmarks'))
    import data_path_samples
    return data_path_samples


def _old_depth_check(depth):
    finite = np.isfinite(depth)
    bad = ~finite | (np.where(finite, depth, 0) < 0)
    return np.where(bad, np.float32(0), depth) if bad.any() else depth


def _new_depth_check(depth):
    if depth.size and not (depth.min() >= 0 and depth.max() < np.inf):
        return _old_depth_check(depth)
    return depth


def _equal(a, b):
    if isinstance(a, dict):
        return all(_equal(a[k], b[k]) for k in ('points', 'colors', 'pixel_index'))
    if isinstance(a, tuple):
        return all(_equal(x, y) for x, y in zip(a, b))
    return (a is None and b is None) or np.array_equal(a, b)


def _switch(module, name):
    def set_flag(value):
        setattr(module, name, value)
    return set_flag


def stage_cases(sample, lifted, gridded, info):
    """(stage, flag setter or None, before, after) for one frame."""
    from d3l.datasets.rgbd import io
    from d3l.datasets.transforms import (
        ElasticDistortion,
        GridSample,
        LimitPoints,
        RandomScale,
        augmentation,
    )
    from d3l.geometry import depth_edge_mask, depth_image, grid_sample_indices, interpolation, voxel

    class PreviousLimitPoints(LimitPoints):
        def _nearest(self, points, center):  # the code before: argpartition + sort
            dist = (points[:, 0].astype(np.float64) - center[0]) ** 2
            for axis in (1, 2):
                dist += (points[:, axis].astype(np.float64) - center[axis]) ** 2
            return np.sort(np.argpartition(dist, self.max_points - 1)[:self.max_points])

    wrap = sample.get('projection') == 'equirect'
    depth, points = sample['depth'], lifted['points']
    rng = np.random.default_rng
    cases = [
        ('read_color', _switch(io, 'USE_OPENCV'), lambda: io.read_color(info['img_path'])),
        ('LoadRGBD depth check', None, (lambda: _old_depth_check(depth),
                                        lambda: _new_depth_check(depth))),
        ('depth_edge_mask', _switch(depth_image, 'USE_NUMBA'),
         lambda: depth_edge_mask(depth, 0.05, 0.05, wrap)),
        ('grid_sample_indices (train, 2 cm)', _switch(voxel, 'USE_NUMBA'),
         lambda: grid_sample_indices(points, 0.02, 'train', rng(0), return_inverse=False)),
        ('GridSample transform', _switch(voxel, 'USE_NUMBA'),
         lambda: GridSample(0.02, 'train', seed=0)(dict(lifted))),
        ('ElasticDistortion (configs\')', _switch(interpolation, 'USE_FUSED'),
         lambda: ElasticDistortion(((1.024, 2.048), (4.096, 8.192)), prob=1.0, seed=0,
                                   smoothing_passes=2)(dict(gridded))),
        ('RandomScale', _switch(augmentation, 'USE_NUMBA'),
         lambda: RandomScale(seed=0)(dict(gridded))),
    ]
    if wrap:
        cases.append(('LimitPoints (120k, sphere)', None,
                      (lambda: PreviousLimitPoints(120000, seed=0)(dict(gridded)),
                       lambda: LimitPoints(120000, seed=0)(dict(gridded)))))
    return cases


def time_cases(cases, repeats):
    """Interleaved before / after calls; medians of thread CPU ms."""
    rows = []
    for name, flag, call in cases:
        calls = call if flag is None else (call, call)
        times = ([], [])
        for rep in range(repeats + 1):
            outs = []
            for which in (0, 1):
                if flag is not None:
                    flag(bool(which))
                start = time.thread_time()
                outs.append(calls[which]())
                if rep:  # the first pass warms up (numba compiles or loads its cache)
                    times[which].append(time.thread_time() - start)
            if flag is not None:
                flag(True)
            if not _equal(*outs):
                raise AssertionError(f'{name}: before and after differ')
        before, after = (1e3 * float(np.median(t)) for t in times)
        rows.append((name, before, after))
    return rows


def frames(tmp):
    """(title, source dataset config, lifting config) per frame kind."""
    bench = _fixture_writers()
    labels = osp.join(tmp, 'labels')
    bench.write_sunrgbd(osp.join(tmp, 'SUNRGBD'), labels)
    bench.write_matterport(osp.join(tmp, 'mp3d'), labels, copies=1)
    bench.write_structured3d(osp.join(tmp, 's3d'), labels, copies=1)
    return [
        ('SUN RGB-D 640x480', dict(type='SUNRGBDDataset', data_root=osp.join(tmp, 'SUNRGBD')),
         [dict(type='FilterDepthEdges'),
          dict(type='LiftPerspective', with_normals=False, max_depth=8.0)]),
        ('Matterport3D 1024x512', dict(type='Matterport3DPanoDataset',
                                       data_root=osp.join(tmp, 'mp3d'), split='train'),
         [dict(type='LiftEquirect', with_normals=False, max_depth=10.0)]),
        ('Structured3D 1024x512', dict(type='Structured3DPanoDataset',
                                       data_root=osp.join(tmp, 's3d'), split='train'),
         [dict(type='LiftEquirect', with_normals=False, max_depth=10.0)]),
    ]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=15)
    args = parser.parse_args()
    import cv2
    import torch
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    from mmengine.registry import init_default_scope

    from d3l.datasets.transforms import GridSample
    from d3l.registry import DATASETS, TRANSFORMS
    init_default_scope('d3l')
    print(f'load average {open("/proc/loadavg").read().split()[0]} at start; '
          f'{os.cpu_count()} CPUs; one thread')
    with tempfile.TemporaryDirectory() as tmp:
        for title, source, lifting in frames(tmp):
            dataset = DATASETS.build(dict(source, pipeline=[dict(type='LoadRGBD')]))
            info = dataset.get_data_info(0)
            sample = dataset.prepare_data(0)
            lifted = dict(sample)
            for cfg in lifting:
                lifted = TRANSFORMS.build(cfg)(lifted)
            gridded = GridSample(0.02, 'train', seed=0)(dict(lifted))
            print(f'\n== {title}: {len(lifted["points"])} lifted points, '
                  f'{len(gridded["points"])} after GridSample ==')
            print(f'  {"stage":<36}{"before ms":>10}{"after ms":>10}{"speed-up":>10}')
            for name, before, after in time_cases(stage_cases(sample, lifted, gridded, info),
                                                  args.repeats):
                print(f'  {name:<36}{before:10.2f}{after:10.2f}{before / after:9.2f}x')
    print(f'\nload average {open("/proc/loadavg").read().split()[0]} at the end '
          '(before == after checked on every call)')


if __name__ == '__main__':
    main()
