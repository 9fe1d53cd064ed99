"""The whole method end to end on the synthetic world, in minutes on a CPU.

    python tools/demo.py --out DIR [--preset tiny|default] [--seeds N] [--workers N]
                         [--world-seed S] [--teacher zoo|train|oracle] [--fusion]

The world, 2D teacher, pseudo-labels, 3D pre-training, fine-tuning from
scratch and pre-trained, and the report (``DIR/results.{json,md,png}``,
``DIR/ply``): :func:`d3l.benchmark.demo.run_demo`, whose docstring lists the
stages. Every stage's output is cached in ``DIR``: a re-run resumes; a folder
made with another preset, teacher or world seed is refused.
"""
from __future__ import annotations

import argparse
import sys

from d3l.benchmark.plan import SCHEDULES, TEACHERS, DemoError


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Run the whole method end to end on the synthetic world: 2D teacher, '
        'pseudo-labels, 3D pre-training, fine-tuning from scratch and pre-trained')
    parser.add_argument('--out', required=True, help='output folder (cached stages resume)')
    parser.add_argument('--preset', default='default', choices=sorted(SCHEDULES),
                        help='world size and schedules (tiny: a smoke test in ~1 minute)')
    parser.add_argument('--seeds', type=int, default=3,
                        help='fine-tuning seeds (split files and training randomness)')
    parser.add_argument('--world-seed', type=int, default=0, help='seed of the world')
    parser.add_argument('--teacher', default='zoo', choices=TEACHERS,
                        help='zoo: the 2D teacher shipped with d3l (the method, as with an '
                        'off-the-shelf DPT); train: train a small DPT on the world\'s photos '
                        'first; oracle: pre-train on the frames\' ground-truth 2D labels '
                        '(ablation: what a perfect 2D teacher would give)')
    parser.add_argument('--fusion', action='store_true',
                        help='add the row pre-trained on the teacher\'s labels fused onto the '
                        'training rooms from their own rendered RGB-D frames (issue 17; '
                        'docs/fusion.md), with the same fine-tuning runs and seeds')
    parser.add_argument('--workers', type=int, default=None,
                        help='worker processes (default: one per CPU core, at most 2)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per worker (default: cores / workers)')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    from d3l.benchmark.demo import run_demo
    return run_demo(args.out, preset=args.preset, seeds=args.seeds,
                    world_seed=args.world_seed, teacher=args.teacher, workers=args.workers,
                    threads=args.threads, fusion=args.fusion)


if __name__ == '__main__':
    try:
        main()
    except DemoError as err:
        print(f'[demo] error: {err}', file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print('[demo] interrupted; run the same command again to resume', file=sys.stderr)
        sys.exit(130)
