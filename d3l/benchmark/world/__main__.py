"""Generate the synthetic world from the command line::

    python -m d3l.benchmark.world --out data/synthetic [--preset tiny|default] [--seed 0]

Prints the paths of what was written (JSON). An existing complete world of
the same seed and preset is reused; an interrupted one is resumed.
"""
import argparse
import json
import sys

from .build import WorldMismatchError, build_world
from .presets import PRESETS


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog='python -m d3l.benchmark.world',
                                     description='Generate the synthetic RGB-D world')
    parser.add_argument('--out', required=True, help='output directory')
    parser.add_argument('--preset', default='default', choices=sorted(PRESETS))
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--no-progress', action='store_true', help='no progress bars')
    args = parser.parse_args(argv)
    try:
        paths = build_world(args.out, args.preset, args.seed, progress=not args.no_progress)
    except WorldMismatchError as err:
        print(f'error: {err}', file=sys.stderr)
        return 2
    print(json.dumps(paths, indent=1))
    return 0


if __name__ == '__main__':
    sys.exit(main())
