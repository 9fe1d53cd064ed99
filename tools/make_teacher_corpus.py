"""Generate the labelled 2D corpus of the shipped teacher (docs/model_zoo.md).

    python tools/make_teacher_corpus.py [--out data/teacher_corpus] [--spec default]
        [--workers 2] [--no-progress]

Photos and panorama crops of synthetic rooms from world seeds >= 1000 (which
no demo or evaluation uses), in mmsegmentation's folder format
(``img_dir/{train,val}``, ``ann_dir/{train,val}``). Deterministic (whatever
``--workers``), resumable: rerun the same command after an interruption.
"""
import argparse
import json
import os.path as osp
import sys


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--out', default='data/teacher_corpus', help='output folder')
    parser.add_argument('--spec', default='default', help='corpus spec (CORPORA)')
    parser.add_argument('--workers', type=int, default=1, help='generating processes')
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    from d3l.benchmark.corpus import build_teacher_corpus
    args = parse_args(argv)
    manifest = build_teacher_corpus(args.out, args.spec, progress=not args.no_progress,
                                    workers=args.workers)
    print(json.dumps(dict(out=osp.abspath(args.out), counts=manifest['counts'],
                          world_seeds=manifest['world_seeds'])))
    return manifest


if __name__ == '__main__':
    repo_root = osp.dirname(osp.dirname(osp.abspath(__file__)))
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    from d3l.engine.cli import run_cli
    run_cli(main)
