"""Shared plumbing of ``tools/train.py``, ``tools/test.py`` and friends.

Bad input (a missing config, an unknown ``type``, a typo in
``--cfg-options``, a corrupt checkpoint) raises :class:`CLIError` with one
line that names the file or key; the tools print it and exit non-zero
without a traceback, before anything is written to the work dir.

This module holds the tools' entry plumbing (:func:`parse_with_launcher`,
:func:`run_cli`) and re-exports the rest, which lives by component:
:mod:`.cli_errors` (:class:`CLIError`), :mod:`.cli_config` (loading and the
checks before the Runner), :mod:`.cli_types` (registered types and their
arguments), :mod:`.cli_runtime` (scheduler ends, device, AMP) and
:mod:`.cli_files` (checkpoints, output folders, resume).
"""
from __future__ import annotations

import os
import sys
from typing import Optional

from mmengine.config import DictAction

from d3l.utils.errors import D3LError

from .cli_config import (
    KNOWN_TOP_LEVEL_KEYS,
    RUNNER_SUFFIXES,
    check_cfg_options,
    check_config_values,
    check_runner_config,
    check_top_level_keys,
    load_config,
)
from .cli_errors import CLIError
from .cli_files import (
    check_checkpoint,
    check_out_dir,
    check_parent_folder,
    find_resume_checkpoint,
    read_checkpoint,
)
from .cli_runtime import adapt_to_device, enable_amp, fill_scheduler_ends
from .cli_types import check_config_types


def parse_with_launcher(parser, argv=None, cfg_options_help: Optional[str] = None):
    """Add ``--cfg-options``, ``--launcher`` and ``--local_rank`` (older
    launchers pass it; torchrun sets ``LOCAL_RANK``) to a tool's parser,
    parse ``argv`` and export ``LOCAL_RANK``."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help=cfg_options_help)
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def run_cli(main) -> None:
    """Run ``main()``. A user error (:class:`~d3l.utils.errors.D3LError`, a
    missing file, a registry miss raised while the runner builds a component
    lazily) becomes one line on stderr and exit code 2; ``D3L_DEBUG=1``
    shows the traceback instead."""
    if os.environ.get('D3L_DEBUG') == '1':
        main()
        return
    try:
        main()
    except (D3LError, FileNotFoundError) as err:
        message = str(err) or type(err).__name__
        print(f'error: {message.splitlines()[0] if len(message) < 2000 else message[:2000]}',
              file=sys.stderr)
        sys.exit(2)
    except KeyError as err:
        message = str(err.args[0]) if err.args else ''
        if 'registry' not in message:
            raise
        print(f'error: {message.splitlines()[0]}', file=sys.stderr)
        sys.exit(2)
    except TypeError as err:
        # a component built inside the Runner with arguments it does not
        # take (the config checks above cover d3l's own components)
        message = str(err)
        if not any(marker in message for marker in _ARGUMENT_ERRORS):
            raise
        print(f'error: {message.splitlines()[0]} (check that component\'s arguments in the '
              'config; D3L_DEBUG=1 shows the traceback)', file=sys.stderr)
        sys.exit(2)


#: TypeError texts of a call with arguments the callee does not take
_ARGUMENT_ERRORS = ('unexpected keyword argument', 'got unexpected arguments',
                    'required positional argument', 'required keyword-only argument')

__all__ = ['CLIError', 'DictAction', 'load_config', 'check_cfg_options', 'check_config_types',
           'check_top_level_keys', 'check_config_values', 'check_out_dir', 'check_runner_config',
           'fill_scheduler_ends', 'adapt_to_device', 'enable_amp', 'read_checkpoint',
           'check_checkpoint', 'find_resume_checkpoint', 'check_parent_folder',
           'parse_with_launcher', 'run_cli', 'KNOWN_TOP_LEVEL_KEYS', 'RUNNER_SUFFIXES']
