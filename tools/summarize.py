"""Gather the test metrics of several runs into the paper's tables.

    python tools/summarize.py WORK_DIR [WORK_DIR ...] [--out table.md] [--metric KEY]

Each WORK_DIR is a training work dir or a ``tools/test.py --out`` folder.
Its metrics come from ``metrics.json`` (written by ``tools/test.py --out``;
the newest one below the folder), else from the last evaluation line of the
MMEngine json logs (``*/vis_data/scalars.json`` or ``<timestamp>.json``).
Its config name comes from ``run.json`` (``tools/test.py --out``), else
the dumped config ``*.py`` of the work dir, else the folder name, and is read
as ``{algorithm}_{init}_{dataset}_{backbone}[_{setting}]``.

One markdown table per dataset / setting family, as Tables 1 and 2 of the
paper: rows = methods (``algorithm``, ``init``, ``backbone``), columns =
settings (20/50/100/200 points for ScanNet LA, 1/5/10/20 % scenes for LR,
1/5/20 % shapes for ModelNet40 / ShapeNet part). Several runs of one cell
(e.g. seeds) are shown as mean ± std (n).
"""
import argparse
import glob
import json
import math
import os.path as osp
import re
import sys
from collections import defaultdict
from typing import Dict, List, Optional, Tuple

from d3l.utils import fileio, markdown

#: primary metric per dataset token (first match wins)
DEFAULT_METRICS = [('scannet', 'mIoU'), ('modelnet', 'OA'), ('shapenet', 'ins_mIoU'),
                   ('', 'mIoU')]
SETTING = re.compile(r'^(la|lr)(\d+(?:\.\d+)?)$|^(\d+(?:\.\d+)?)pct$|^full$')


def parse_config_name(name: str) -> dict:
    """Split ``{algorithm}_{init}_{dataset}_{backbone}[_{setting}]``."""
    parts = name.split('_')
    setting = parts[-1] if len(parts) >= 5 and SETTING.match(parts[-1]) else None
    if setting is not None:
        parts = parts[:-1]
    if len(parts) < 4:
        return dict(method=name, dataset='', backbone='', setting=setting or 'full', name=name)
    algorithm, init, dataset = parts[0], parts[1], parts[2]
    backbone = '_'.join(parts[3:])
    return dict(method=f'{algorithm} ({init})', algorithm=algorithm, init=init,
                dataset=dataset, backbone=backbone, setting=setting or 'full', name=name)


def setting_family(setting: str) -> Tuple[str, float, str]:
    """(family, sort key, column header) of a setting token."""
    match = SETTING.match(setting)
    if match is None or setting == 'full':
        return 'full', math.inf, 'full'
    if match.group(1):
        kind, value = match.group(1), float(match.group(2))
        header = f'{value:g} pts' if kind == 'la' else f'{value:g}%'
        return kind.upper(), value, header
    value = float(match.group(3))
    return 'subset', value, f'{value:g}%'


# ----------------------------------------------------------------------------
def _newest(paths: List[str]) -> Optional[str]:
    return max(paths, key=osp.getmtime) if paths else None


def find_metrics(folder: str, metric: str) -> Optional[Dict[str, float]]:
    """Test metrics of one work dir (see the module docstring)."""
    direct = osp.join(folder, 'metrics.json')
    path = direct if osp.isfile(direct) else _newest(
        glob.glob(osp.join(folder, '**', 'metrics.json'), recursive=True))
    if path:
        with open(path, encoding='utf-8') as f:
            return json.load(f)
    logs = [p for p in glob.glob(osp.join(folder, '**', '*.json'), recursive=True)
            if osp.basename(p) == 'scalars.json' or re.match(r'\d{8}_\d{6}\.json$',
                                                             osp.basename(p))]
    for log in sorted(logs, key=osp.getmtime, reverse=True):
        last = None
        with open(log, encoding='utf-8') as f:
            for line in f:
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if isinstance(record, dict) and metric in record:
                    last = record
        if last is not None:
            return last
    return None


def find_config_name(folder: str) -> str:
    run = glob.glob(osp.join(folder, '**', 'run.json'), recursive=True)
    if run:
        with open(_newest(run), encoding='utf-8') as f:
            name = json.load(f).get('config_name')
        if name:
            return name
    dumped = glob.glob(osp.join(folder, '*.py'))
    if len(dumped) == 1:
        return osp.splitext(osp.basename(dumped[0]))[0]
    base = osp.basename(osp.normpath(folder))
    if base == 'test':  # tools/test.py's default work_dirs/<config>/test
        base = osp.basename(osp.dirname(osp.normpath(folder)))
    return base


def metric_for(dataset: str, override: Optional[str]) -> str:
    if override:
        return override
    return next(key for token, key in DEFAULT_METRICS if token in dataset)


def collect(folders: List[str], override: Optional[str]) -> Tuple[list, list]:
    runs, missing = [], []
    for folder in folders:
        if not osp.isdir(folder):
            raise FileNotFoundError(f'work dir {folder} does not exist')
        info = parse_config_name(find_config_name(folder))
        metric = metric_for(info['dataset'], override)
        metrics = find_metrics(folder, metric)
        if metrics is None or metrics.get(metric) is None:
            missing.append(f'{folder} (no {metric!r} in metrics.json or the json logs)')
            continue
        runs.append(dict(info, metric=metric, value=float(metrics[metric]), folder=folder))
    return runs, missing


def make_tables(runs: List[dict]) -> str:
    groups = defaultdict(list)
    for run in runs:
        family = setting_family(run['setting'])[0]
        groups[(run['dataset'], family, run['metric'])].append(run)
    blocks = []
    for (dataset, family, metric), members in sorted(groups.items()):
        columns = sorted({setting_family(r['setting'])[1:] for r in members})
        rows = defaultdict(lambda: defaultdict(list))
        for run in members:
            row = f'{run["method"]}, {run["backbone"]}' if run['backbone'] else run['method']
            rows[row][setting_family(run['setting'])[2]].append(run['value'])
        title = dataset or 'runs'
        if family not in ('full', 'subset'):
            title += f' {family}'
        cells = [[row] + [markdown.mean_std_of(rows[row][h]) if rows[row][h] else None
                          for _, h in columns] for row in sorted(rows)]
        table = markdown.table(['method'] + [h for _, h in columns], cells,
                               align='-' + 'r' * len(columns), missing='–')
        blocks.append(f'### {title} ({metric})\n\n{table}')
    return '\n\n'.join(blocks) + '\n'


def main(argv=None) -> str:
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('work_dirs', nargs='+')
    parser.add_argument('--out', help='write the markdown here (default: print only)')
    parser.add_argument('--metric', help='metric key for every table (default: mIoU for '
                        'ScanNet, OA for ModelNet40, ins_mIoU for ShapeNet part)')
    args = parser.parse_args(argv)
    runs, missing = collect(args.work_dirs, args.metric)
    for line in missing:
        print(f'warning: skipped {line}', file=sys.stderr)
    if not runs:
        raise ValueError('no work dir had test metrics')
    text = make_tables(runs)
    print(text)
    if args.out:
        fileio.write_text(args.out, text)
    return text


if __name__ == '__main__':
    try:
        main()
    except (FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
