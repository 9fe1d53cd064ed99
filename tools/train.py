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

from d3l.apis.runner import train
from d3l.engine.cli import parse_with_launcher, run_cli


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a d3l model')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config name>)')
    parser.add_argument('--resume', nargs='?', const='auto', default=None, metavar='CKPT',
                        help='resume from CKPT, or from the latest checkpoint of the work dir')
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision (GPU)')
    return parse_with_launcher(parser, argv, 'override config keys, e.g. '
                               'train_cfg.max_epochs=2; prefix a new key with "+"')


def main(argv=None):
    args = parse_args(argv)
    train(args.config, work_dir=args.work_dir, resume=args.resume, amp=args.amp,
          launcher=args.launcher, cfg_options=args.cfg_options)


if __name__ == '__main__':
    run_cli(main)
