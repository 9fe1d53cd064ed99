"""``python -m d3l.datasets.synthetic`` (deprecated, one release): runs
``python -m d3l.benchmark.world``."""
import sys

from d3l.benchmark.world.__main__ import main

if __name__ == '__main__':
    sys.exit(main())
