"""Evaluate a checkpoint on a config's test set.

    python tools/test.py CONFIG CHECKPOINT [--out DIR] [--work-dir DIR]
                         [--cfg-options k=v ...] [--launcher ...]

``--out DIR`` writes ``metrics.json`` (every metric, per-class IoU included)
and ``per_class.txt`` (the per-class table).
"""
import argparse
import json
import math
import os
import os.path as osp

from d3l.engine.cli import (
    DictAction,
    adapt_to_device,
    check_checkpoint,
    check_config_types,
    fill_scheduler_ends,
    load_config,
    run_cli,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a d3l model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='directory for metrics.json and per_class.txt')
    parser.add_argument('--work-dir', help='where logs go (default: work_dirs/<config>/test)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={})
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def write_results(metrics: dict, out_dir: str) -> None:
    os.makedirs(out_dir, exist_ok=True)
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v)
             for k, v in metrics.items()}
    tmp = osp.join(out_dir, 'metrics.json.tmp')
    with open(tmp, 'w', encoding='utf-8') as f:
        json.dump(clean, f, indent=2)
    os.replace(tmp, osp.join(out_dir, 'metrics.json'))
    per_class = {k.split('.', 1)[1]: v for k, v in clean.items() if '.' in k}
    lines = [f'{"class":<24} {"score":>8}']
    for name, value in per_class.items():
        lines.append(f'{name:<24} {"absent" if value is None else f"{value:8.2f}":>8}')
    for key, value in clean.items():
        if '.' not in key and isinstance(value, (int, float)):
            lines.append(f'{key:<24} {value:8.2f}')
    with open(osp.join(out_dir, 'per_class.txt'), 'w', encoding='utf-8') as f:
        f.write('\n'.join(lines) + '\n')


def main(argv=None):
    args = parse_args(argv)
    cfg = load_config(args.config, args.cfg_options)
    check_config_types(cfg, args.config)
    check_checkpoint(args.checkpoint)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', cfg.config_name, 'test')
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg, args.launcher)
    cfg.load_from = args.checkpoint
    cfg.resume = False

    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and runner.rank == 0:
        write_results(metrics, args.out)
    return metrics


if __name__ == '__main__':
    run_cli(main)
