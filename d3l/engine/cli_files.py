"""Checks of the files and folders a tool is given, before anything runs:
checkpoints that load, output folders that can be made, the checkpoint to
resume from."""
from __future__ import annotations

import os.path as osp
from typing import Optional

from d3l.utils.compat import CorruptCheckpointError, UnsafeCheckpointError, safe_torch_load

from .cli_errors import CLIError


def read_checkpoint(path: str, error: type = CLIError):
    """The checkpoint at ``path`` (weights_only, on the CPU); a missing,
    corrupt, truncated or unsafe file is ``error`` naming it."""
    try:
        return safe_torch_load(path, map_location='cpu')
    except FileNotFoundError:
        raise error(f'checkpoint {path} does not exist') from None
    except (CorruptCheckpointError, UnsafeCheckpointError) as err:
        raise error(str(err)) from None


def check_checkpoint(path: str) -> None:
    """Load a checkpoint once (weights_only) so that a corrupt, truncated or
    unsafe file is reported before the runner touches the work dir."""
    checkpoint = read_checkpoint(path)
    if not isinstance(checkpoint, dict):
        raise CLIError(f'checkpoint {path} holds a {type(checkpoint).__name__}, not a dict')


def check_out_dir(path: Optional[str], option: str = '--out') -> None:
    """An output folder option must name a folder (or a path to create):
    a regular file there is a :class:`CLIError`, before anything runs."""
    if path is None:
        return
    if osp.exists(path) and not osp.isdir(path):
        raise CLIError(f'{option} {path} is a file, not a directory; give a folder for the '
                       'results')
    check_parent_folder(path, option)


def check_parent_folder(path: str, option: str) -> None:
    """The folders above ``path`` can be made: none of them is a file."""
    parent = osp.dirname(osp.abspath(path))
    while parent and not osp.exists(parent):
        parent = osp.dirname(parent)
    if parent and not osp.isdir(parent):
        raise CLIError(f'{option} {path}: {parent} is a file, so the folder cannot be made')


def find_resume_checkpoint(work_dir: str) -> Optional[str]:
    """The checkpoint named in ``work_dir/last_checkpoint``, if any."""
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker, encoding='utf-8') as f:
        path = f.read().strip()
    if path and not osp.isabs(path) and not osp.isfile(path):
        path = osp.join(work_dir, osp.basename(path))
    return path or None
