"""Lifting throughput (points per second) of d3l against Open3D, and the time
of the whole RGB-D loading + lifting + augmentation pipeline per sample.

    OMP_NUM_THREADS=1 python benchmarks/bench_lifting.py [--repeats 20]

Frames: a real 640x480 PrimeSense frame (uint16 mm) and a real 1024x512
panorama (HoHoNet, uint16 mm) from ``../shared/realdata`` when present,
otherwise synthetic depth of the same size.

Rows:

- ``d3l lift_perspective`` / ``lift_equirect``: points + pixel indices from a
  float depth image in metres (what ``LiftRGBD`` calls);
- ``d3l lift + colours``: plus the per-point colours, the same output as
  Open3D's;
- ``open3d create_from_rgbd_image``: Open3D's ``PointCloud.
  create_from_rgbd_image`` on the same frame (Open3D has no equirectangular
  lifting), skipped with a line saying so when Open3D is not installed
  (``pip install open3d-cpu``, needs Debian's ``libusb-1.0-0``);
- ``pipeline``: one sample through ``LoadRGBD`` (file decoding included) ->
  ``FilterDepthEdges`` -> ``LiftRGBD`` (normals) -> ``GridSample(0.02)`` ->
  ``RandomRotate`` -> ``RandomScale`` -> ``ElasticDistortion`` ->
  ``ChromaticAutoContrast`` -> ``ChromaticJitter`` -> ``PackPointInputs``,
  plus the same pipeline with the cheaper ``normal_method='cross'``.

Times are the median and the best of ``--repeats`` calls after a warm-up, in
blocks that alternate between d3l and Open3D so that load from other
processes hits both. Throughput and the ratio (Open3D time / d3l time, > 1:
d3l faster) use the best times, which a shared, oversubscribed machine
distorts least. Target: d3l perspective lifting no slower than Open3D
(ratio >= 1).
"""
import argparse
import os
import os.path as osp
import sys
import tempfile
import time

import numpy as np
from PIL import Image

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
REAL = osp.join(osp.dirname(REPO), 'shared', 'realdata')
PERSP_DEPTH = osp.join(REAL, 'open3d_rgbd', 'depth', '00000.png')
PERSP_COLOR = osp.join(REAL, 'open3d_rgbd', 'color', '00000.jpg')
PANO_DEPTH = osp.join(REAL, 'pano_hohonet', 'pano_asmasuxybohhcj.depth.png')
PANO_COLOR = osp.join(REAL, 'pano_hohonet', 'pano_asmasuxybohhcj.png')
K = np.array([[525.0, 0, 319.5], [0, 525.0, 239.5], [0, 0, 1]])


def frames(tmp: str):
    """(depth path, colour path) of the perspective frame and the panorama;
    synthetic stand-ins are written to ``tmp`` when the real ones are absent."""
    out = {}
    rng = np.random.default_rng(0)
    for name, depth, color, shape in (('perspective', PERSP_DEPTH, PERSP_COLOR, (480, 640)),
                                      ('equirect', PANO_DEPTH, PANO_COLOR, (512, 1024))):
        if not (osp.isfile(depth) and osp.isfile(color)):
            depth, color = osp.join(tmp, f'{name}_d.png'), osp.join(tmp, f'{name}_c.png')
            mm = rng.uniform(500, 6000, shape).astype(np.uint16)
            mm[rng.random(shape) < 0.13] = 0
            Image.fromarray(mm).save(depth)
            Image.fromarray((rng.random(shape + (3,)) * 255).astype(np.uint8)).save(color)
        out[name] = (depth, color)
    return out


def median_ms(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * float(np.median(times)), 1000 * float(np.min(times))


def interleaved(fns, repeats, rounds=4):
    """Median ms of each function. Blocks of consecutive calls alternate
    between the implementations (``rounds`` times), so that load drift hits
    all of them, while no call runs right after another library's call
    (Open3D leaves worker threads spinning for a while after each call)."""
    for fn in fns.values():
        fn()  # warm-up (caches, lazy imports)
    times = {name: [] for name in fns}
    block = max(1, repeats // rounds)
    for _ in range(rounds):
        for name, fn in fns.items():
            fn()  # first call of a block: not timed
            for _ in range(block):
                start = time.perf_counter()
                fn()
                times[name].append(time.perf_counter() - start)
    return {name: (1000 * float(np.median(t)), 1000 * float(np.min(t)))
            for name, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=20)
    args = parser.parse_args()

    from d3l.datasets.transforms import LoadRGBD
    from d3l.geometry import lift_equirect, lift_perspective
    from d3l.registry import TRANSFORMS

    print(f'threads: OMP_NUM_THREADS={os.environ.get("OMP_NUM_THREADS", "unset")}, '
          f'{os.cpu_count()} CPUs')
    with tempfile.TemporaryDirectory() as tmp:
        paths = frames(tmp)
        rows = []
        # ---------------------------------------------------------- lifting
        depth_path, color_path = paths['perspective']
        raw = np.asarray(Image.open(depth_path), np.uint16)
        depth = raw.astype(np.float32) / 1000
        color = np.asarray(Image.open(color_path).convert('RGB'))
        n_persp = int((depth > 0).sum())

        def d3l_persp():
            return lift_perspective(depth, K)

        def d3l_persp_color():  # as LiftRGBD gathers colours
            points, index = lift_perspective(depth, K)
            colors = np.take(color.reshape(-1, 3), index, axis=0)
            return points, np.divide(colors, np.float32(255), dtype=np.float32)

        fns = {'d3l lift_perspective': d3l_persp, 'd3l lift + colours': d3l_persp_color}
        try:
            import open3d as o3d
            intrinsic = o3d.camera.PinholeCameraIntrinsic(640, 480, K[0, 0], K[1, 1], K[0, 2],
                                                          K[1, 2])
            rgbd = o3d.geometry.RGBDImage.create_from_color_and_depth(
                o3d.geometry.Image(np.ascontiguousarray(color)), o3d.geometry.Image(raw),
                depth_scale=1000.0, depth_trunc=1e6, convert_rgb_to_intensity=False)
            fns['open3d create_from_rgbd_image'] = (
                lambda: o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, intrinsic))
            o3d_points = len(o3d.geometry.PointCloud.create_from_rgbd_image(rgbd, intrinsic).points)
            assert o3d_points == n_persp, (o3d_points, n_persp)
        except ImportError:
            print('open3d: skipped: open3d not installed (pip install open3d-cpu)')
        persp = interleaved(fns, args.repeats)
        ref = persp.get('open3d create_from_rgbd_image')
        for name, (ms, best) in persp.items():
            ratio = f'{ref[1] / best:6.2f}' if ref else '   n/a'
            rows.append(('640x480 perspective', name, ms, best, n_persp / best * 1e3, ratio))

        pano_depth_path, pano_color_path = paths['equirect']
        pano = np.asarray(Image.open(pano_depth_path), np.uint16).astype(np.float32) / 1000
        n_pano = int((pano > 0).sum())
        ms = interleaved({'d3l lift_equirect': lambda: lift_equirect(pano)}, args.repeats)
        for name, (value, best) in ms.items():
            rows.append(('1024x512 equirect', name, value, best, n_pano / best * 1e3, '   n/a'))
        rows.append(('1024x512 equirect', 'open3d (no equirect lifting)', float('nan'),
                     float('nan'), float('nan'), '   n/a'))

        # --------------------------------------------------------- pipeline
        for projection, (dpath, cpath) in paths.items():
            for method in ('pca', 'cross'):
                pipeline = [TRANSFORMS.build(t) for t in (
                    dict(type='FilterDepthEdges'),
                    dict(type='LiftRGBD', normal_method=method),
                    dict(type='GridSample', grid_size=0.02, mode='train'),
                    dict(type='RandomRotate'), dict(type='RandomScale'),
                    dict(type='ElasticDistortion', prob=1.0),
                    dict(type='ChromaticAutoContrast', prob=1.0),
                    dict(type='ChromaticJitter', prob=1.0),
                    dict(type='PackPointInputs', feat_keys=('colors', 'normals')))]
                info = dict(img_path=cpath, depth_path=dpath, projection=projection,
                            depth_encoding='uint16', depth_scale=1000.0, frame_id='bench',
                            intrinsics=K if projection == 'perspective' else None)
                load = LoadRGBD()
                holder = {}

                def run(info=info, load=load, pipeline=pipeline, holder=holder):
                    results = load(dict(info))
                    for transform in pipeline:
                        results = transform(results)
                    holder['n'] = len(results['inputs']['coord'])

                ms, best = median_ms(run, max(3, args.repeats // 4))
                size = '640x480' if projection == 'perspective' else '1024x512'
                rows.append((f'{size} {projection}', f'pipeline, {method} normals '
                             f'({holder["n"]} pts out)', ms, best, float('nan'), '   n/a'))

    def num(value):
        return f'{value:9.2f}' if np.isfinite(value) else '      n/a'

    print(f'{"frame":<22}{"implementation":<44}{"median ms":>10}{"best ms":>9}'
          f'{"Mpts/s":>9}{"o3d/d3l":>9}')
    for frame, name, ms, best, pps, ratio in rows:
        print(f'{frame:<22}{name:<44} {num(ms)}{num(best)}{num(pps / 1e6)}{ratio:>9}')
    if ref:
        best = persp['d3l lift + colours'][1]
        print(f'target (perspective lifting + colours no slower than Open3D, best times): '
              f'{"met" if best <= ref[1] else "NOT met"} ({ref[1] / best:.2f}x)')


if __name__ == '__main__':
    main()
