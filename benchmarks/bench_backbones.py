"""Forward+backward time and peak memory of d3l's U-Net backbones against the
bare libraries.

    python benchmarks/bench_backbones.py [--points 10000 50000] [--repeats 3]
                                         [--backbones ocnn spconv] [--device auto]

For each backbone and cloud size one training step (forward, cross-entropy
over 20 classes, backward) is timed for

- ``d3l``: ``Segmentor`` built from ``configs/_base_/models/{ocnn_unet,
  spconv_unet}.py`` (octree / voxel grid built inside the step), with a
  64-wide hidden layer in the head so that it matches the reference's header;
- ``ref``: the bare library doing the same work: for ocnn, normalising the
  cloud, ``Points`` -> ``Octree.build_octree`` -> ``construct_all_neigh`` ->
  ``get_input_feature`` -> ``ocnn.models.UNet`` (its fixed widths equal the
  config's); for spconv, voxelising with ``torch.unique`` and a plain
  ``spconv`` U-Net of the same widths written out in this file.

Time is the median over ``--repeats`` steps after one warm-up step, with the
two implementations interleaved so that load from other processes hits both.
Peak memory is measured in fresh subprocesses per (implementation, size),
after a 300-point warm-up step: on CPU the growth of resident anonymous
memory (``RssAnon``, sampled every millisecond) during one step, the minimum
over ``--memory-runs`` processes; on GPU ``torch.cuda.max_memory_allocated``. The cloud is the
real ScanNet scene0000_00 from ``../shared/realdata`` when present (random
subsets of its 81k vertices), otherwise a synthetic room. Ratios are
d3l / ref (1.00 = no overhead; the target is <= 1.05, issue 16).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import time

import numpy as np

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
SCENE = osp.join(os.environ.get('D3L_SHARED_DIR', osp.join(osp.dirname(REPO), 'shared')),
                 'realdata', 'scannet_scene0000', 'scannet_train_instance_data',
                 'scene0000_00_vert_all.npy')
NUM_CLASSES = 20


def load_cloud(num_points: int, seed: int = 0):
    """(N, 3) metres and (N, 6) colours + unit normals."""
    rng = np.random.default_rng(seed)
    if osp.isfile(SCENE):
        verts = np.load(SCENE)
        if num_points > len(verts):
            raise SystemExit(f'the real scene has {len(verts)} points; ask for fewer')
        verts = verts[rng.choice(len(verts), num_points, replace=False)]
        xyz, rgb = verts[:, :3], verts[:, 3:6] / 255.0
    else:
        size = np.array([6.0, 5.0, 2.8])
        xyz = rng.random((num_points, 3)) * size
        axis = rng.integers(0, 3, num_points)
        xyz[np.arange(num_points), axis] = 0.0  # floor and two walls
        rgb = rng.random((num_points, 3))
    normals = rng.normal(size=(num_points, 3))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    return (xyz.astype(np.float32),
            np.concatenate([rgb, normals], 1).astype(np.float32))


def config_model(kind: str):
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from d3l.registry import MODELS

    init_default_scope('d3l')
    cfg = Config.fromfile(osp.join(REPO, 'configs', '_base_', 'models', f'{kind}_unet.py'))
    cfg.model.decode_head.update(num_classes=NUM_CLASSES, hidden_channels=64)
    return MODELS.build(cfg.model), cfg.model.backbone


# ----------------------------------------------------------------------------
# the d3l step and the bare-library steps
# ----------------------------------------------------------------------------
def d3l_step(model, coord, feat, labels):
    import torch.nn.functional as F

    from d3l.structures import PointBatch

    batch = PointBatch.from_list([coord], [feat])
    logits = model.decode_head(model.backbone(batch))
    loss = F.cross_entropy(logits, labels)
    loss.backward()
    return loss


class OcnnReference:
    """ocnn's own UNet fed the way O-CNN's scene pipeline feeds it."""

    def __init__(self, backbone_cfg, device):
        import ocnn
        self.ocnn = ocnn
        self.cfg = backbone_cfg
        self.net = ocnn.models.UNet(backbone_cfg.in_channels, NUM_CLASSES, interp='nearest',
                                    nempty=backbone_cfg.nempty).to(device)
        ours = (backbone_cfg.stem_channels, list(backbone_cfg.enc_channels),
                list(backbone_cfg.dec_channels), list(backbone_cfg.enc_blocks),
                list(backbone_cfg.dec_blocks))
        theirs = (self.net.encoder_channel[0], self.net.encoder_channel[1:],
                  self.net.decoder_channel[1:], self.net.encoder_blocks,
                  self.net.decoder_blocks)
        if ours != theirs:
            raise SystemExit(f'configs/_base_/models/ocnn_unet.py widths {ours} differ from '
                             f'ocnn.models.UNet {theirs}: the comparison would be unfair')

    def parameters(self):
        return self.net.parameters()

    def step(self, coord, feat, labels):
        import torch
        import torch.nn.functional as F

        ocnn, cfg = self.ocnn, self.cfg
        center = (coord.min(0).values + coord.max(0).values) / 2
        unit = ((coord - center) / cfg.scale).clamp(-1, 1)
        points = ocnn.octree.Points(unit, features=feat)
        octree = ocnn.octree.Octree(cfg.depth, cfg.full_depth, device=coord.device)
        octree.build_octree(points)
        octree.construct_all_neigh()
        data = octree.get_input_feature('F', nempty=cfg.nempty)
        query = torch.cat([unit, torch.zeros_like(unit[:, :1])], 1)
        logits = self.net(data, octree, cfg.depth, query)
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        return loss


class SpconvReference:
    """A plain spconv U-Net (SpUNet layout) of the config's widths."""

    def __init__(self, backbone_cfg, device):
        import spconv.pytorch as spconv
        from torch import nn

        self.spconv = spconv
        self.voxel_size = backbone_cfg.voxel_size
        enc, dec = list(backbone_cfg.enc_channels), list(backbone_cfg.dec_channels)
        enc_blocks, dec_blocks = list(backbone_cfg.enc_blocks), list(backbone_cfg.dec_blocks)
        stem = backbone_cfg.stem_channels
        self.levels = len(enc)

        class Block(spconv.SparseModule):
            def __init__(self, cin, cout, key):
                super().__init__()
                self.conv1 = spconv.SubMConv3d(cin, cout, 3, padding=1, bias=False,
                                               indice_key=key)
                self.bn1 = nn.BatchNorm1d(cout)
                self.conv2 = spconv.SubMConv3d(cout, cout, 3, padding=1, bias=False,
                                               indice_key=key)
                self.bn2 = nn.BatchNorm1d(cout)
                self.proj = (None if cin == cout else
                             nn.Sequential(nn.Linear(cin, cout, bias=False),
                                           nn.BatchNorm1d(cout)))

            def forward(self, x):
                short = x.features if self.proj is None else self.proj(x.features)
                out = self.conv1(x)
                out = out.replace_feature(self.bn1(out.features).relu())
                out = self.conv2(out)
                return out.replace_feature((self.bn2(out.features) + short).relu())

        def conv_bn(conv, c):
            return spconv.SparseSequential(conv, nn.BatchNorm1d(c), nn.ReLU())

        self.stem = conv_bn(spconv.SubMConv3d(backbone_cfg.in_channels, stem, 3, padding=1,
                                              bias=False, indice_key='stem'), stem)
        self.down, self.enc, skips, prev = nn.ModuleList(), nn.ModuleList(), [stem], stem
        for i, (c, n) in enumerate(zip(enc, enc_blocks)):
            self.down.append(conv_bn(spconv.SparseConv3d(prev, c, 2, 2, bias=False,
                                                         indice_key=f'd{i + 1}'), c))
            self.enc.append(spconv.SparseSequential(*[Block(c, c, f's{i + 1}')
                                                      for _ in range(n)]))
            skips.append(c)
            prev = c
        self.up, self.dec = nn.ModuleList(), nn.ModuleList()
        for i, (c, n) in enumerate(zip(dec, dec_blocks)):
            level = self.levels - i
            self.up.append(conv_bn(spconv.SparseInverseConv3d(prev, c, 2, bias=False,
                                                              indice_key=f'd{level}'), c))
            self.dec.append(spconv.SparseSequential(*[
                Block(skips[level - 1] + c if j == 0 else c, c, f's{level - 1}')
                for j in range(n)]))
            prev = c
        self.head = nn.Sequential(nn.Linear(prev, 64, bias=False), nn.BatchNorm1d(64),
                                  nn.ReLU(), nn.Linear(64, NUM_CLASSES))
        self.modules = nn.ModuleList([self.stem, self.down, self.enc, self.up, self.dec,
                                      self.head]).to(device)

    def parameters(self):
        return self.modules.parameters()

    def step(self, coord, feat, labels):
        import torch
        import torch.nn.functional as F

        spconv = self.spconv
        cell = torch.floor(coord / self.voxel_size).long()
        cell -= cell.min(0).values
        unique, inverse = torch.unique(cell, dim=0, return_inverse=True)
        vfeat = torch.zeros(len(unique), feat.shape[1], device=feat.device)
        vfeat.index_add_(0, inverse, feat)
        vfeat /= torch.bincount(inverse, minlength=len(unique))[:, None]
        shape = ((unique.max(0).values + 1 + 2 ** self.levels - 1)
                 // 2 ** self.levels * 2 ** self.levels).tolist()
        indices = torch.cat([torch.zeros_like(unique[:, :1]), unique], 1).int()
        x = self.stem(spconv.SparseConvTensor(vfeat, indices, shape, 1))
        skips = [x]
        for down, enc in zip(self.down, self.enc):
            x = enc(down(x))
            skips.append(x)
        for i, (up, dec) in enumerate(zip(self.up, self.dec)):
            x = up(x)
            x = dec(x.replace_feature(torch.cat([skips[-i - 2].features, x.features], 1)))
        logits = self.head(x.features)[inverse]
        loss = F.cross_entropy(logits, labels)
        loss.backward()
        return loss


def build(kind: str, impl: str, device):
    import torch
    torch.manual_seed(0)
    model, backbone_cfg = config_model(kind)
    if impl == 'd3l':
        model = model.to(device).train()
        return lambda c, f, y: d3l_step(model, c, f, y), model.parameters
    ref = (OcnnReference if kind == 'ocnn' else SpconvReference)(backbone_cfg, device)
    return ref.step, ref.parameters


def tensors(num_points, device):
    import torch
    xyz, feat = load_cloud(num_points)
    labels = torch.from_numpy(np.random.default_rng(1).integers(0, NUM_CLASSES, num_points))
    return (torch.from_numpy(xyz).to(device), torch.from_numpy(feat).to(device),
            labels.to(device))


def sync(device):
    import torch
    if device.type == 'cuda':
        torch.cuda.synchronize()


def anon_rss_mb() -> float:
    """Resident anonymous memory (heap, tensors) of this process; unlike the
    total RSS it does not move when the kernel drops and re-reads file-backed
    library pages under memory pressure."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('RssAnon:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no RssAnon in /proc/self/status')


class PeakSampler:
    """Samples :func:`anon_rss_mb` every millisecond in a thread."""

    def __init__(self):
        import threading
        self.peak = anon_rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, anon_rss_mb())
            time.sleep(0.001)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, anon_rss_mb())


# ----------------------------------------------------------------------------
def memory_worker(kind, impl, num_points, device_name):
    """One step in this (fresh) process; prints its peak memory in MB."""
    import torch

    import d3l  # noqa: F401
    device = torch.device(device_name)
    step, _ = build(kind, impl, device)
    # a tiny step first: loads kernels and libraries lazily mapped on first use,
    # whose pages would otherwise count as the step's memory
    step(*tensors(300, device))
    coord, feat, labels = tensors(num_points, device)
    if device.type == 'cuda':
        torch.cuda.reset_peak_memory_stats(device)
        base = torch.cuda.memory_allocated(device)
        step(coord, feat, labels)
        sync(device)
        peak = (torch.cuda.max_memory_allocated(device) - base) / 2 ** 20
    else:
        base = anon_rss_mb()
        with PeakSampler() as sampler:
            step(coord, feat, labels)
        peak = sampler.peak - base
    print(json.dumps({'peak_mb': peak}))


def measure_memory(kind, impl, num_points, device_name, runs):
    """Smallest peak over ``runs`` fresh processes (other processes on a
    shared machine can only inflate it)."""
    peaks = []
    for _ in range(runs):
        cmd = [sys.executable, osp.abspath(__file__), '--memory-worker',
               json.dumps([kind, impl, num_points, device_name])]
        proc = subprocess.run(cmd, capture_output=True, text=True, env=dict(os.environ))
        if proc.returncode != 0:
            raise SystemExit(f'memory worker failed:\n{proc.stderr[-3000:]}')
        peaks.append(json.loads(proc.stdout.strip().splitlines()[-1])['peak_mb'])
    return min(peaks)


def measure_time(kind, num_points, device, repeats):
    import torch
    steps = {impl: build(kind, impl, device) for impl in ('d3l', 'ref')}
    coord, feat, labels = tensors(num_points, device)
    times = {'d3l': [], 'ref': []}
    for rep in range(repeats + 1):
        for impl in ('d3l', 'ref') if rep % 2 == 0 else ('ref', 'd3l'):
            step, params = steps[impl]
            for p in params():
                p.grad = None
            sync(device)
            start = time.perf_counter()
            step(coord, feat, labels)
            sync(device)
            if rep > 0:  # the first round warms up (allocations, kernel caches)
                times[impl].append(time.perf_counter() - start)
    del torch
    return {impl: float(np.median(t)) for impl, t in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--points', type=int, nargs='+', default=[10000, 50000])
    parser.add_argument('--backbones', nargs='+', choices=['ocnn', 'spconv'],
                        default=['ocnn', 'spconv'])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--device', default='auto', help="'auto', 'cpu' or 'cuda'")
    parser.add_argument('--memory-runs', type=int, default=2,
                        help='fresh processes per memory figure (the minimum is kept); 0 skips')
    parser.add_argument('--memory-worker', help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_worker:
        memory_worker(*json.loads(args.memory_worker))
        return

    import torch

    import d3l  # noqa: F401
    device_name = args.device
    if device_name == 'auto':
        device_name = 'cuda' if torch.cuda.is_available() else 'cpu'
    device = torch.device(device_name)
    where = (torch.cuda.get_device_name(device) if device.type == 'cuda'
             else f'CPU, {torch.get_num_threads()} torch threads')
    print(f'# bench_backbones: {where}; torch {torch.__version__}')
    if not torch.cuda.is_available():
        print('# no GPU in this environment: CPU figures only (GPU figures: rerun on a GPU '
              'machine)')
    print(f'# cloud: {"ScanNet scene0000_00 subsets" if osp.isfile(SCENE) else "synthetic room"}'
          f'; one step = forward + CE({NUM_CLASSES}) + backward; median of {args.repeats}')
    header = (f'{"backbone":<8} {"points":>7} {"d3l s":>8} {"ref s":>8} {"ratio":>6} '
              f'{"d3l MB":>8} {"ref MB":>8} {"ratio":>6}  reference')
    print(header)
    refs = {'ocnn': 'ocnn.models.UNet', 'spconv': 'plain spconv U-Net'}
    for kind in args.backbones:
        for num_points in args.points:
            t = measure_time(kind, num_points, device, args.repeats)
            if args.memory_runs < 1:
                mem = {'d3l': float('nan'), 'ref': float('nan')}
            else:
                mem = {impl: measure_memory(kind, impl, num_points, device_name,
                                            args.memory_runs)
                       for impl in ('d3l', 'ref')}
            print(f'{kind:<8} {num_points:>7} {t["d3l"]:>8.3f} {t["ref"]:>8.3f} '
                  f'{t["d3l"] / t["ref"]:>6.2f} {mem["d3l"]:>8.1f} {mem["ref"]:>8.1f} '
                  f'{mem["d3l"] / mem["ref"]:>6.2f}  {refs[kind]}', flush=True)


if __name__ == '__main__':
    main()
