"""Score a 2D teacher (default: the shipped d3l.model_zoo.SYNTHETIC_DPT).

    python tools/score_teacher.py [--config CFG --checkpoint CKPT] [--out scores.json]
        [--held-out-seeds 5000 5001 ...] [--photos 100] [--worlds 0 1 2] [--rooms 10]
        [--demo-config configs/demo/pretrainer_dpt-synthetic_synthetic-rgbd_ocnn.py]

1. mIoU / pixel accuracy on photos of world seeds the teacher never saw
   (the teacher corpus' held-out seeds, 5000+), rendered in memory;
2. agreement of its top-1 with the ground truth of the pre-training frames
   (perspective and panoramas, separately) of default worlds ``--worlds``,
   labelled the way the demo's pre-training config feeds them (its
   ``teacher.scale`` and ``teacher.panorama``). The frames are rendered once
   into ``--cache`` (resumable).
"""
import argparse
import json
import os.path as osp
import sys
import time


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--config', default=None, help='mmseg config (default: the zoo entry)')
    parser.add_argument('--checkpoint', default=None, help='weights (default: the zoo entry)')
    parser.add_argument('--held-out-seeds', type=int, nargs='*', default=[5000, 5001, 5002],
                        help='world seeds of the held-out photos (the corpus uses 1000-4999)')
    parser.add_argument('--photos', type=int, default=100, help='held-out photos per seed')
    parser.add_argument('--worlds', type=int, nargs='*', default=[0, 1],
                        help='default-world seeds whose pre-training frames are scored')
    parser.add_argument('--rooms', type=int, default=10, help='pre-training rooms per world')
    parser.add_argument('--demo-config',
                        default='configs/demo/pretrainer_dpt-synthetic_synthetic-rgbd_ocnn.py',
                        help='pre-training config whose teacher.scale / teacher.panorama apply')
    parser.add_argument('--cache', default='work_dirs/score_teacher',
                        help='where the pre-training frames are rendered')
    parser.add_argument('--out', default=None, help='write the scores as JSON')
    return parser.parse_args(argv)


def demo_feeding(path: str) -> dict:
    """``scale`` and ``panorama`` of the demo's teacher."""
    from mmengine.config import Config
    teacher = Config.fromfile(path).get('teacher') or {}
    feeding = dict(scale=teacher.get('scale', 'config'), panorama=teacher.get('panorama'))
    return json.loads(json.dumps(feeding))


def render_pretrain_frames(cache: str, seed: int, rooms: int) -> str:
    """The default world's pre-training rooms 0..rooms-1 of ``seed`` (as
    build_world renders them) under ``cache``; returns the rgbd root."""
    from d3l.benchmark.world import build as synthetic_world
    from d3l.benchmark.world import writers
    from d3l.benchmark.world.presets import get_preset
    preset = get_preset('default')
    paths = synthetic_world.world_paths(osp.join(cache, f'default_seed{seed}'))
    for i in range(min(rooms, preset.pretrain_rooms)):
        room_id = f'room{i:04d}'
        persp = writers.rgbd_room_complete(paths['rgbd_perspective'], room_id,
                                           preset.pretrain_frames_per_room)
        pano = writers.rgbd_room_complete(paths['rgbd_panorama'], room_id,
                                          preset.pretrain_panoramas_per_room)
        if not (persp and pano):
            synthetic_world._pretrain_room(paths, preset, seed, i, persp, pano)
    return paths['rgbd']


def main(argv=None) -> dict:
    args = parse_args(argv)
    from d3l.benchmark.corpus import held_out_photos
    from d3l.model_zoo import SYNTHETIC_DPT, zoo_checkpoint
    from d3l.model_zoo.evaluate import score_photos, score_rgbd_folder
    from d3l.teachers import MMSegTeacher

    config = args.config or SYNTHETIC_DPT.config
    checkpoint = args.checkpoint or zoo_checkpoint(SYNTHETIC_DPT.name)
    feeding = demo_feeding(args.demo_config)
    teacher = MMSegTeacher(config, checkpoint, device='cpu', **feeding)
    start = time.perf_counter()
    report = dict(config=config, checkpoint=checkpoint, feeding=feeding, held_out={},
                  pretrain_frames={})
    for seed in args.held_out_seeds:
        report['held_out'][seed] = score_photos(teacher, held_out_photos(seed, args.photos))
        print(f'held-out photos, world seed {seed}: mIoU {report["held_out"][seed]["miou"]}, '
              f'pixel acc {report["held_out"][seed]["pixel_acc"]} %', flush=True)
    for seed in args.worlds:
        rgbd = render_pretrain_frames(args.cache, seed, args.rooms)
        report['pretrain_frames'][seed] = score_rgbd_folder(teacher, rgbd, args.rooms)
        for kind, result in report['pretrain_frames'][seed].items():
            print(f'pre-training {kind}, default world seed {seed}: pixel agreement '
                  f'{result["pixel_acc"]} %, mIoU {result["miou"]} ({result["frames"]} frames)',
                  flush=True)
    report['seconds'] = round(time.perf_counter() - start, 1)
    if args.out:
        from d3l.benchmark.world.writers import save_json
        save_json(args.out, report)
    return report


if __name__ == '__main__':
    repo_root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    from d3l.engine.cli import run_cli
    run_cli(main)
