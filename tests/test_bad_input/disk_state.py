"""What a bad-input test checks last: nothing on disk changed."""
import hashlib
import os
import os.path as osp
from typing import Dict, Tuple


def snapshot(root: str) -> Dict[str, Tuple[int, str]]:
    """Relative path -> (size, sha1) of every file below ``root`` (the
    folder itself for a file), so a rewritten, added or removed file shows."""
    root = str(root)
    if osp.isfile(root):
        return {osp.basename(root): _digest(root)}
    state = {}
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            path = osp.join(dirpath, name)
            state[osp.relpath(path, root)] = _digest(path)
    return state


def _digest(path: str) -> Tuple[int, str]:
    with open(path, 'rb') as f:
        return os.path.getsize(path), hashlib.sha1(f.read()).hexdigest()
