"""Speed and size of soft-label fusion (``d3l.fusion``, docs/fusion.md).

    python benchmarks/bench_fusion.py [--repeats 5] [--classes 150] [--topk 3]

Measured on the real ScanNet scene0000_00 (81k vertices, its 3 real camera
poses; ``../shared/realdata``), with 640 x 480 depth rendered from the
vertices at ScanNet's depth intrinsics and random top-k soft labels of
``--classes`` classes (the teacher's output is not timed: fusion reads
stored labels). Parts, each the median of ``--repeats`` runs:

- ``fuse``: one frame's depth test, label decode and accumulation
  (``SoftLabelFuser.fuse_frame`` minus loading) at 81k vertices and at 150k
  (the cloud doubled with 1 cm jitter); vertices x views per second;
- ``load``: ``LoadRGBD`` of one ScanNet frame (1296 x 968 JPEG resampled
  into the 640 x 480 depth camera, 16-bit depth PNG);
- ``store``: encoding a 150k-vertex scene and writing its shard;
  bytes per vertex stored.

The ScanNet-sized estimate is 150k vertices and 2000 frames of which every
10th is used: 200 x (load + fuse at 150k) + store, for one process.
"""
import argparse
import os.path as osp
import sys
import tempfile
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

DEPTH_K = np.array([[577.87, 0.0, 319.5], [0.0, 577.87, 239.5], [0.0, 0.0, 1.0]])


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return float(np.median(times))


def zbuffer_depth(points, K, cam2world, shape):
    height, width = shape
    world2cam = np.linalg.inv(cam2world)
    cam = points @ world2cam[:3, :3].T + world2cam[:3, 3]
    z = cam[:, 2]
    ok = z > 0.1
    u = np.rint(K[0, 0] * cam[ok, 0] / z[ok] + K[0, 2]).astype(np.int64)
    v = np.rint(K[1, 1] * cam[ok, 1] / z[ok] + K[1, 2]).astype(np.int64)
    inside = (u >= 0) & (u < width) & (v >= 0) & (v < height)
    depth = np.full(height * width, np.inf)
    np.minimum.at(depth, v[inside] * width + u[inside], z[ok][inside])
    depth[~np.isfinite(depth)] = 0
    return depth.reshape(shape).astype(np.float32)


def load_scene(realdata):
    root = osp.join(realdata, 'scannet_scene0000')
    verts = np.load(osp.join(root, 'scannet_train_instance_data', 'scene0000_00_vert_all.npy'))
    cams = np.load(osp.join(root, 'cameras_scene0000_00.npz'))
    poses = [cams['axis_align_matrix'] @ p for p in cams['extrinsics_cam2world']]
    image = osp.join(root, 'posed_images', 'scene0000_00', '00000.jpg')
    return verts[:, :3].astype(np.float64), poses, cams['intrinsics'][:3, :3], image


def random_record(num_classes, topk, shape, rng):
    import torch

    from d3l.soft_labels import SoftLabelCodec, SoftLabelRecord
    logits = torch.from_numpy(rng.normal(0, 3, (shape[0] * shape[1], num_classes)))
    encoded = SoftLabelCodec(topk).encode(logits.float().softmax(1))
    return SoftLabelRecord('bench', encoded['indices'].numpy(), encoded['probs'].numpy(),
                           shape, shape, 1, num_classes)


def bench_fuse(points, poses, record, num_classes, repeats):
    from d3l.fusion import ViewAccumulator, visible_vertices
    depths = [zbuffer_depth(points, DEPTH_K, pose, (480, 640)) for pose in poses]

    def run():
        accumulator = ViewAccumulator(len(points), num_classes)
        for depth, pose in zip(depths, poses):
            vertex, pixel = visible_vertices(points, depth, DEPTH_K, pose)
            accumulator.add(vertex, record.decode(pixel, depth.shape))
        return accumulator
    seconds = median_time(run, repeats) / len(poses)
    seen = (run().views > 0).mean()
    return seconds, seen


def bench_load(image, repeats):
    from PIL import Image

    from d3l.datasets.transforms.rgbd_loading import LoadRGBD
    tmp = tempfile.mkdtemp(prefix='bench_fusion_')
    depth_path = osp.join(tmp, 'depth.png')
    Image.fromarray(np.full((480, 640), 2000, np.uint16)).save(depth_path)
    color_K = np.array([[1169.6, 0, 646.3], [0, 1167.1, 489.9], [0, 0, 1]])
    info = dict(img_path=image, depth_path=depth_path, projection='perspective',
                intrinsics=DEPTH_K, color_intrinsics=color_K, depth_encoding='uint16',
                depth_scale=1000.0)
    load = LoadRGBD(with_labels=False)
    return median_time(lambda: load(dict(info)), repeats)


def bench_store(num_vertices, num_classes, topk, repeats, rng):
    import torch

    from d3l.fusion import FusedShardWriter
    from d3l.soft_labels import SoftLabelCodec
    codec = SoftLabelCodec(topk)
    fused = torch.from_numpy(rng.normal(0, 3, (num_vertices, num_classes))).float().softmax(1)
    views = rng.integers(0, 30, num_vertices)
    tmp = tempfile.mkdtemp(prefix='bench_fusion_store_')

    def run():
        encoded = {k: v.numpy() for k, v in codec.encode(fused).items()}
        writer = FusedShardWriter(tmp, 0)
        writer.add_scene('scene', encoded, views)
        writer.close()
        return writer.num_bytes
    seconds = median_time(run, repeats)
    return seconds, run() / num_vertices


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--repeats', type=int, default=5)
    parser.add_argument('--classes', type=int, default=150)
    parser.add_argument('--topk', type=int, default=3)
    parser.add_argument('--realdata', default=osp.join(osp.dirname(REPO), 'shared', 'realdata'))
    args = parser.parse_args()
    if not osp.isdir(osp.join(args.realdata, 'scannet_scene0000')):
        sys.exit(f'bench_fusion: the real ScanNet sample is not under {args.realdata}')
    rng = np.random.default_rng(0)
    points, poses, _, image = load_scene(args.realdata)
    record = random_record(args.classes, args.topk, (480, 640), rng)
    doubled = np.concatenate([points, points + rng.normal(0, 0.01, points.shape)])
    print(f'bench_fusion: {args.classes} classes, top-{args.topk} fp16 labels, 640 x 480 depth, '
          f'median of {args.repeats}')
    fuse = {}
    for name, cloud in (('81k', points), ('150k', doubled[:150000])):
        seconds, seen = bench_fuse(cloud, poses, record, args.classes, args.repeats)
        fuse[name] = seconds
        print(f'  fuse {name} vertices: {seconds * 1e3:.1f} ms per frame, '
              f'{len(cloud) / seconds / 1e6:.2f} M vertices x views / s '
              f'({100 * seen:.0f} % of the vertices seen by the 3 frames)')
    load = bench_load(image, args.repeats)
    print(f'  load one ScanNet frame (LoadRGBD): {load * 1e3:.1f} ms')
    store, per_vertex = bench_store(150000, args.classes, args.topk, args.repeats, rng)
    print(f'  encode + write a 150k-vertex scene: {store:.2f} s; {per_vertex:.2f} bytes per '
          f'vertex stored (top-{args.topk} labels + uint16 view count)')
    frames = 2000 // 10
    total = frames * (load + fuse['150k']) + store
    print(f'  estimate, ScanNet-sized scene (150k vertices, {frames} of 2000 frames): '
          f'{total:.1f} s = {frames} x ({load * 1e3:.0f} + {fuse["150k"] * 1e3:.0f}) ms + '
          f'{store:.1f} s, one process; x 1201 training scenes: '
          f'{total * 1201 / 3600:.1f} h')


if __name__ == '__main__':
    main()
