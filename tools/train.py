"""Train a d3l model (pre-training, fine-tuning) with an MMEngine Runner.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                          [--cfg-options k=v ...] [--launcher none|pytorch|slurm]

``load_from`` (fine-tuning from a pre-training checkpoint) logs what loaded,
and must fill the whole backbone: a checkpoint of another architecture is an
error, unless the config says why it is fine at its top level,
``allow_partial = 'stem widened to 9 input channels'`` (logged with the
tensors left at their initialisation).
"""
import argparse
import os
import os.path as osp

from d3l.engine.cli import (
    CLIError,
    DictAction,
    adapt_to_device,
    check_checkpoint,
    check_out_dir,
    check_runner_config,
    enable_amp,
    fill_scheduler_ends,
    find_resume_checkpoint,
    load_config,
    run_cli,
)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a d3l model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint of the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override config keys, e.g. train_cfg.max_epochs=2; '
                        'prefix a new key with "+"')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main(argv=None):
    args = parse_args(argv)
    check_out_dir(args.work_dir, '--work-dir')
    cfg = load_config(args.config, args.cfg_options)
    check_runner_config(cfg, args.config)
    allow_partial = cfg.get('allow_partial')
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('work_dirs', cfg.config_name)
    fill_scheduler_ends(cfg)
    adapt_to_device(cfg, args.launcher)
    if args.amp:
        enable_amp(cfg)
    if args.resume == 'auto':
        latest = find_resume_checkpoint(cfg.work_dir)
        if latest is not None:
            check_checkpoint(latest)
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        check_checkpoint(args.resume)
        cfg.resume = True
        cfg.load_from = args.resume
    elif cfg.get('load_from'):
        check_checkpoint(cfg.load_from)

    from mmengine.model import is_model_wrapper
    from mmengine.runner import Runner

    from d3l.models.utils.weight_transfer import WeightTransferError, allow_partial_transfer
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else _build_custom_runner(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    try:
        allow_partial_transfer(model, allow_partial, source=cfg.get('load_from'))
    except WeightTransferError as err:
        raise CLIError(f'{args.config}: {err}') from None
    runner.train()


def _build_custom_runner(cfg):
    from d3l.registry import RUNNERS
    return RUNNERS.build(cfg)


if __name__ == '__main__':
    run_cli(main)
