"""Cost of the semi-supervised techniques against plain supervised training.

    python benchmarks/bench_semi.py [--points 10000] [--batch 2] [--repeats 3]
                                    [--backbones spconv ocnn] [--device auto]

1. **EMA update** of the mean teacher (``d3l.engine.hooks.ema_update_``, fused
   ``torch._foreach_lerp_``) against the per-tensor loop most implementations
   use (``t.mul_(a).add_(s, alpha=1 - a)`` for every parameter and buffer), on
   the full-width U-Nets of ``configs/_base_/models``. Ratio d3l / loop.
2. **One training step** (forward, losses, backward, optimizer step, EMA) with
   ``batch`` labelled clouds of ``points`` points:

   - ``sup``: the plain ``Segmentor`` on the labelled clouds;
   - ``sup2x``: the plain ``Segmentor`` on as many clouds as the semi batch
     (labelled + unlabelled), the reference for the data the methods add;
   - ``entmin``: ``MeanTeacherEntMin`` + entropy on labelled + unlabelled clouds;
   - ``meanteacher``: ``MeanTeacherEntMin`` + consistency on two views of them,
     teacher forward and EMA included.

   Ratios are against ``sup2x``: what the technique costs beyond reading the
   unlabelled data (entmin should be ~1.0, mean teacher adds one no-grad
   forward of the teacher, ~1.3-1.5).

Times are medians over ``--repeats`` after one warm-up, implementations
interleaved. Clouds are random subsets of the real ScanNet scene0000_00 when
``../shared/realdata`` is present, otherwise synthetic rooms.
"""
import argparse
import copy
import os.path as osp
import statistics
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

import torch  # noqa: E402

SCENE = osp.join(osp.dirname(REPO), 'shared', 'realdata', 'scannet_scene0000',
                 'scannet_train_instance_data', 'scene0000_00_vert_all.npy')
MODELS_CFG = {'ocnn': 'configs/_base_/models/ocnn_unet.py',
              'spconv': 'configs/_base_/models/spconv_unet.py'}


def _sync(device):
    if device.type == 'cuda':
        torch.cuda.synchronize()


def _clouds(count, points, seed):
    rng = np.random.default_rng(seed)
    if osp.isfile(SCENE):
        vert = np.load(SCENE)
        xyz, rgb = vert[:, :3], vert[:, 3:6] / 255.0
    else:
        xyz = rng.uniform([0, 0, 0], [6, 5, 2.5], (100000, 3))
        rgb = rng.random((100000, 3))
    out = []
    for _ in range(count):
        keep = rng.choice(len(xyz), points, replace=False)
        normals = rng.normal(size=(points, 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        out.append((xyz[keep].astype(np.float32),
                    np.concatenate([rgb[keep], normals], 1).astype(np.float32)))
    return out


def _batch(clouds, device, views=1, labeled=None):
    from d3l.structures import PointBatch
    coords = [torch.from_numpy(c) for c, _ in clouds]
    feats = [torch.from_numpy(f) for _, f in clouds]
    rng = np.random.default_rng(0)
    samples = []
    for i, (c, _) in enumerate(clouds):
        is_labeled = labeled is None or i < labeled
        labels = torch.from_numpy(rng.integers(0, 20, len(c))) if is_labeled else \
            torch.full((len(c),), 255)
        sample = {'labels': labels.to(device), 'point_index': torch.arange(len(c), device=device)}
        if views > 1:
            sample['views'] = [sample, sample]
        samples.append(sample)
    batch = PointBatch.from_list(coords, feats).to(device)
    if views == 1:
        return batch, samples
    # the teacher's view: same points, jittered features (no shared voxel cache)
    jitter = type(batch)(batch.coord, batch.feat + 0.01 * torch.randn_like(batch.feat),
                         batch.batch, batch.batch_size)
    return [batch, jitter], samples


def _step(model, optimizer, inputs, samples, after=None):
    losses = model.loss(inputs, samples)
    loss = sum(v for k, v in losses.items() if 'loss' in k)
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    if after is not None:
        after()


def _time(fn, device):
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


def bench_ema(backbone, device, repeats):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from d3l.engine.hooks import ema_update_
    from d3l.registry import MODELS
    with DefaultScope.overwrite_default_scope('d3l'):
        student = MODELS.build(Config.fromfile(osp.join(REPO, MODELS_CFG[backbone])).model)
    student.to(device)
    teacher = copy.deepcopy(student)
    tensors = sum(1 for _ in student.parameters()) + sum(1 for _ in student.buffers())
    params = sum(p.numel() for p in student.parameters())

    @torch.no_grad()
    def loop():
        for t, s in zip(teacher.parameters(), student.parameters()):
            t.mul_(0.999).add_(s, alpha=0.001)
        for t, s in zip(teacher.buffers(), student.buffers()):
            if t.is_floating_point():
                t.mul_(0.999).add_(s, alpha=0.001)
            else:
                t.copy_(s)

    fused = lambda: ema_update_(teacher, student, 0.999)  # noqa: E731
    fused(), loop()
    times = {'d3l': [], 'loop': []}
    for _ in range(repeats * 5):
        times['d3l'].append(_time(fused, device))
        times['loop'].append(_time(loop, device))
    d3l, ref = (statistics.median(times[k]) * 1e3 for k in ('d3l', 'loop'))
    print(f'EMA {backbone:6s} {params / 1e6:5.1f} M params, {tensors} tensors: '
          f'd3l {d3l:7.2f} ms  loop {ref:7.2f} ms  ratio {d3l / ref:.2f}')


def bench_step(backbone, device, points, batch_size, repeats):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from d3l.engine.hooks import ema_update_
    from d3l.registry import MODELS
    model_cfg = Config.fromfile(osp.join(REPO, MODELS_CFG[backbone])).model.to_dict()
    labeled = _clouds(batch_size, points, 0)
    unlabeled = _clouds(batch_size, points, 1)
    runs = {}
    with DefaultScope.overwrite_default_scope('d3l'):
        torch.manual_seed(0)
        sup = MODELS.build(model_cfg).to(device).train()
        entmin = MODELS.build(dict(type='MeanTeacherEntMin', model=model_cfg,
                                   entropy_loss=dict(type='EntropyLoss'))).to(device).train()
        mt = MODELS.build(dict(type='MeanTeacherEntMin', model=model_cfg,
                               consistency_loss=dict(type='ConsistencyLoss'))).to(device).train()
    mt.ema_hook_attached = True
    data = {
        'sup': (sup, *_batch(labeled, device), None),
        'sup2x': (sup, *_batch(labeled + unlabeled, device), None),
        'entmin': (entmin, *_batch(labeled + unlabeled, device, labeled=batch_size), None),
        'meanteacher': (mt, *_batch(labeled + unlabeled, device, views=2, labeled=batch_size),
                        lambda: ema_update_(mt.teacher, mt.student, 0.999)),
    }
    optimizers = {name: torch.optim.Adam(m.parameters(), 1e-3) for name, (m, *_) in data.items()}
    for name, (model, inputs, samples, after) in data.items():  # warm-up
        _step(model, optimizers[name], inputs, samples, after)
    for name in data:
        runs[name] = []
    for _ in range(repeats):
        for name, (model, inputs, samples, after) in data.items():
            runs[name].append(_time(
                lambda m=model, o=optimizers[name], i=inputs, s=samples, a=after:
                _step(m, o, i, s, a), device))
    ref = statistics.median(runs['sup2x'])
    medians = {name: statistics.median(t) for name, t in runs.items()}
    line = ', '.join(f'{name} {t * 1e3:7.1f} ms ({t / ref:.2f})' for name, t in medians.items())
    print(f'step {backbone:6s} {batch_size}+{batch_size} clouds x {points} points: {line}')


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--points', type=int, default=10000)
    parser.add_argument('--batch', type=int, default=2)
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--backbones', nargs='+', default=['spconv', 'ocnn'])
    parser.add_argument('--device', default='auto')
    args = parser.parse_args()
    device = torch.device(('cuda' if torch.cuda.is_available() else 'cpu')
                          if args.device == 'auto' else args.device)
    print(f'device {device}, torch {torch.__version__}, threads {torch.get_num_threads()}')
    for backbone in args.backbones:
        bench_ema(backbone, device, args.repeats)
    for backbone in args.backbones:
        bench_step(backbone, device, args.points, args.batch, args.repeats)


if __name__ == '__main__':
    main()
