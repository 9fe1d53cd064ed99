"""Inference speed on CPU, and the cost of sliding windows.

    python benchmarks/bench_inference.py [--repeats 2] [--threads 1] [--json OUT]

1. Points per second of :func:`d3l.apis.inference_segmentor` (the whole
   path: test pipeline with 2 cm / 4 cm voxel subsampling, normal estimation,
   network, mapping back to every point) for the demo's network
   (``configs/demo/..._ocnn_la20.py``: depth 6 over 9 m) and the paper's
   (``configs/scannet_la/segmentor_scratch_scannet_ocnn_la20.py``: depth 9,
   2 cm leaves over 10.24 m), randomly initialised, on a real-size scene:
   ScanNet scene0000_00 + scene0000_01 (the same room scanned twice,
   167k vertices, 7.5 m across) from ``../shared/realdata``, or a synthetic
   room of 160k points when that is absent. The forward pass alone is timed
   too.
2. Sliding windows against a single window on that scene (it fits in one
   10 m window): ``test_cfg.mode='slide'`` / ``'whole'``, as a ratio; the
   target is <= 1.3 at the default 10 m / 5 m. Windows are placed only
   where a scene needs them, so this is ~1.0.
3. What windows cost on a scene that needs them: the scene beside a copy of
   itself 12 m along x (19.5 m long) with a SparseUNet (no extent limit, so
   one window is possible for comparison): slide / whole time.

Times are medians over ``--repeats`` runs after a warm-up.
"""
import argparse
import json
import os.path as osp
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
DATA = osp.join(osp.dirname(REPO), 'shared', 'realdata', 'scannet_scene0000',
                'scannet_train_instance_data')
NETWORKS = {
    'demo': 'configs/demo/segmentor_scratch_synthetic-scannet_ocnn_la20.py',
    'paper': 'configs/scannet_la/segmentor_scratch_scannet_ocnn_la20.py',
}
SPCONV = 'configs/scannet_la/segmentor_scratch_scannet_spconv_la20.py'


def load_scene():
    """(N, 3) metres, (N, 3) colours in [0, 1], and where it came from."""
    names = [osp.join(DATA, f'scene0000_0{i}_vert_all.npy') for i in (0, 1)]
    if all(osp.isfile(n) for n in names):
        verts = np.concatenate([np.load(n) for n in names])
        return verts[:, :3], verts[:, 3:6] / 255.0, 'ScanNet scene0000_00 + scene0000_01'
    rng = np.random.default_rng(0)
    pts = rng.random((160000, 3)) * [7.5, 7.0, 3.0]
    face = rng.integers(0, 5, len(pts))
    pts[face == 0, 2] = 0
    pts[face == 1, 0] = 0
    pts[face == 2, 0] = 7.5
    pts[face == 3, 1] = 0
    pts[face == 4, 1] = 7.0
    return pts.astype(np.float32), rng.random(pts.shape).astype(np.float32), 'synthetic room'


def median_time(fn, repeats):
    fn()  # warm-up (allocations, lazy imports)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def forward_time(model, points, colors, repeats):
    from d3l.apis.inference import _forward_probs, prepare_sample

    packed = prepare_sample(model, points, colors)
    return median_time(lambda: _forward_probs(model, [packed]), repeats), \
        int(packed['inputs']['coord'].shape[0])


def slide_ratio(model, points, colors, repeats):
    from d3l.apis import inference_segmentor

    predictor = getattr(model, 'predictor', model)
    times = {}
    for mode in ('whole', 'slide'):
        predictor.test_cfg['mode'] = mode
        times[mode] = median_time(lambda: inference_segmentor(model, points, colors), repeats)
    predictor.test_cfg['mode'] = 'slide'
    return times


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--repeats', type=int, default=2)
    parser.add_argument('--threads', type=int, default=1, help='torch CPU threads')
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument('--parts', nargs='+', choices=['networks', 'long'],
                        default=['networks', 'long'], help='which measurements to run')
    args = parser.parse_args(argv)
    import torch

    from d3l.apis import init_model

    torch.set_num_threads(args.threads)
    points, colors, source = load_scene()
    span = points.max(0) - points.min(0)
    print(f'scene: {source}, {len(points)} points, {span[0]:.1f} x {span[1]:.1f} x '
          f'{span[2]:.1f} m; CPU, {args.threads} thread(s), median of {args.repeats}')
    figures = {'points': int(len(points)), 'source': source, 'threads': args.threads}
    for name, config in (NETWORKS.items() if 'networks' in args.parts else ()):
        torch.manual_seed(0)
        model = init_model(osp.join(REPO, config))
        times = slide_ratio(model, points, colors, args.repeats)
        total = times['slide']  # the default test_cfg
        forward, net_points = forward_time(model, points, colors, args.repeats)
        figures[name] = dict(seconds=total, points_per_s=len(points) / total,
                             forward_seconds=forward, network_points=net_points,
                             slide_over_whole=times['slide'] / times['whole'])
        print(f'{name:>5} network: {len(points) / total:9.0f} points/s end to end '
              f'({total:.2f} s), forward {forward:.2f} s on {net_points} voxel points; '
              f'slide / whole on this scene (fits one window) = '
              f'{times["slide"] / times["whole"]:.3f}')
    if 'long' in args.parts:
        figures['long_scene'] = long_scene(points, colors, max(1, args.repeats - 1))
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(figures, f, indent=2)
    return figures


def long_scene(points, colors, repeats):
    import torch

    from d3l.apis import init_model

    long_points = np.concatenate([points, points + np.float32([12.0, 0.0, 0.0])])
    long_colors = np.concatenate([colors, colors])
    torch.manual_seed(0)
    sparse = init_model(osp.join(REPO, SPCONV))
    times = slide_ratio(sparse, long_points, long_colors, repeats)
    print(f'long scene ({np.ptp(long_points[:, 0]):.1f} m, {len(long_points)} points, '
          f'SparseUNet): slide {times["slide"]:.2f} s / whole {times["whole"]:.2f} s = '
          f'{times["slide"] / times["whole"]:.2f}x')
    return dict(points=int(len(long_points)), length=float(np.ptp(long_points[:, 0])),
                **times, slide_over_whole=times['slide'] / times['whole'])


if __name__ == '__main__':
    main()
