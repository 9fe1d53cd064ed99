"""Whole panorama vs perspective crops: how much do a teacher's labels differ?

    python benchmarks/bench_panorama_modes.py [--model 513] [--stride 2] [--json OUT]

Runs a real 2D model, the DeepLabv3-MobileNetV2 of ../shared/realdata
(Pascal VOC, 8-bit TFLite, run in torch by ``TFLiteTeacher``), on the real
equirectangular panoramas of ../shared/realdata/pano_hohonet in three
``panorama`` modes of ``BaseTeacher.label_frame``:

- ``whole``: the panorama as one image, aspect kept (1024 x 512 -> 513 x 257
  for this model; DPT would see 960 x 480);
- ``whole-square``: the panorama stretched onto the model's square input;
- ``crops``: 24 perspective crops (90 deg, 8 yaws x pitches -60/0/60),
  stitched back with feathered weights (``PanoramaCrops``).

Prints, per panorama and pair of modes: top-1 agreement on every label cell,
weighted by solid angle (cos latitude), in the equator band (|lat| <= 30 deg)
and near the poles (|lat| >= 60 deg); the IoU of the two foreground masks
(VOC non-background; background dominates indoor panoramas) and the mean
total-variation distance of the distributions; the foreground share and
seconds per panorama of each mode. There is no ground truth for these
panoramas, so the figures say how much the choice matters, not which is
right.
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

import numpy as np
import torch

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO_ROOT)

from d3l.teachers import TFLiteTeacher  # noqa: E402

REALDATA = osp.join(os.environ.get('D3L_SHARED_DIR', osp.join(osp.dirname(REPO_ROOT), 'shared')),
                    'realdata')
PANORAMAS = ('pano_asmasuxybohhcj.png', 'horizonnet_demo.png')
CROPS = dict(mode='crops', fov=90, yaws=8, pitches=(-60, 0, 60))
MODES = {'whole': (True, 'whole'), 'whole-square': (False, 'whole'), 'crops': (True, CROPS)}


def latitude(height: int) -> np.ndarray:
    """(H,) latitude in degrees of each label row's centre."""
    return 90 - (np.arange(height) + 0.5) / height * 180


def compare(a: torch.Tensor, b: torch.Tensor) -> dict:
    """Agreement figures of two (C, H, W) distributions on one grid."""
    top_a, top_b = a.argmax(0).numpy(), b.argmax(0).numpy()
    same = top_a == top_b
    lat = latitude(a.shape[1])[:, None] * np.ones((1, a.shape[2]))
    weight = np.cos(np.radians(lat))
    fg_a, fg_b = top_a != 0, top_b != 0
    union = (fg_a | fg_b).sum()
    return {
        'agree': float(same.mean()),
        'agree_solid_angle': float((same * weight).sum() / weight.sum()),
        'agree_equator': float(same[np.abs(lat) <= 30].mean()),
        'agree_poles': float(same[np.abs(lat) >= 60].mean()),
        'foreground_iou': float((fg_a & fg_b).sum() / union) if union else 1.0,
        'mean_tv': float(0.5 * (a - b).abs().sum(0).mean()),
    }


def label_panorama(model_path: str, img: np.ndarray, stride: int) -> dict:
    out = {}
    for mode, (keep_ratio, panorama) in MODES.items():
        teacher = TFLiteTeacher(model_path, keep_ratio=keep_ratio, panorama=panorama,
                                device='cpu')
        start = time.perf_counter()
        probs = teacher.label_frame({'img': img, 'projection': 'equirect'}, stride=stride)
        out[mode] = {'probs': probs, 'seconds': time.perf_counter() - start,
                     'views': 1 if teacher.panorama is None else len(teacher.panorama.views),
                     'classes': teacher.class_names}
    return out


def save_maps(folder: str, pano: str, img: np.ndarray, runs: dict) -> None:
    """The panorama above each mode's top-1 map (background black, classes
    in fixed colours), one PNG per panorama."""
    from PIL import Image
    os.makedirs(folder, exist_ok=True)
    palette = np.random.default_rng(0).integers(64, 256, (256, 3)).astype(np.uint8)
    palette[0] = 0
    rows = [img]
    for run in runs.values():
        top = run['probs'].argmax(0).numpy()
        colour = Image.fromarray(palette[top]).resize(img.shape[1::-1], Image.NEAREST)
        rows.append((0.5 * np.asarray(colour) + 0.5 * img).astype(np.uint8))
    out = osp.join(folder, osp.splitext(pano)[0] + '_modes.png')
    Image.fromarray(np.concatenate(rows, 0)).save(out)
    print(f'  maps ({", ".join(runs)}) -> {out}')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--model', choices=('513', '257'), default='513',
                        help='DeepLab input size (513: output stride 8; 257: 16, 4x faster)')
    parser.add_argument('--stride', type=int, default=2, help='label grid stride (pixels)')
    parser.add_argument('--json', help='also write the figures here')
    parser.add_argument('--save-maps', metavar='DIR',
                        help='write each mode\'s top-1 map under the panorama (PNG) here')
    args = parser.parse_args(argv)
    torch.set_num_threads(int(os.environ.get('OMP_NUM_THREADS', '2')))
    name = 'deeplabv3_mnv2_pascal_513_os8_quant.tflite' if args.model == '513' else \
        'deeplabv3_mnv2_pascal_257_os16_quant.tflite'
    model_path = osp.join(REALDATA, 'seg2d_deeplabv3_mnv2_tflite', name)
    if not osp.isfile(model_path):
        sys.exit(f'{model_path} is absent (needs ../shared/realdata)')
    from PIL import Image
    report = {'model': name, 'stride': args.stride, 'panoramas': {}}
    for pano in PANORAMAS:
        path = osp.join(REALDATA, 'pano_hohonet', pano)
        img = np.asarray(Image.open(path).convert('RGB'))
        runs = label_panorama(model_path, img, args.stride)
        classes = runs['whole']['classes']
        entry = {'size': list(img.shape[:2]), 'modes': {}, 'pairs': {}}
        for mode, run in runs.items():
            top = run['probs'].argmax(0)
            present = {classes[c]: round(float((top == c).float().mean()), 4)
                       for c in top.unique().tolist() if c != 0}
            entry['modes'][mode] = {'seconds': round(run['seconds'], 2), 'views': run['views'],
                                    'foreground': round(float((top != 0).float().mean()), 4),
                                    'classes': present}
        for first, second in (('whole', 'crops'), ('whole-square', 'crops'),
                              ('whole', 'whole-square')):
            entry['pairs'][f'{first} vs {second}'] = {
                k: round(v, 4) for k, v in compare(runs[first]['probs'],
                                                   runs[second]['probs']).items()}
        report['panoramas'][pano] = entry
        if args.save_maps:
            save_maps(args.save_maps, pano, img, runs)
        print(f'\n{pano} ({img.shape[1]}x{img.shape[0]}), {name}, label stride {args.stride}')
        for mode, row in entry['modes'].items():
            print(f'  {mode:13s} {row["views"]:2d} view(s) {row["seconds"]:7.1f} s  '
                  f'foreground {row["foreground"]:.1%}  {row["classes"]}')
        for pair, row in entry['pairs'].items():
            print(f'  {pair:26s} agree {row["agree"]:.1%} (solid angle '
                  f'{row["agree_solid_angle"]:.1%}, equator {row["agree_equator"]:.1%}, poles '
                  f'{row["agree_poles"]:.1%})  foreground IoU {row["foreground_iou"]:.2f}  '
                  f'mean TV {row["mean_tv"]:.3f}')
    if args.json:
        with open(args.json, 'w', encoding='utf-8') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
