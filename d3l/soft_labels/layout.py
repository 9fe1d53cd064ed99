"""Names and slices of a label directory (no reading of label data here).

A shard holds frames ``[i * S, (i + 1) * S)`` of the manifest's frame list
(``S`` = ``shard_size``) in three files: its frame table
``shard_{i:05d}.npz`` (the shard's name: it exists only once the shard is
whole) and its label rows ``shard_{i:05d}.indices.npy`` /
``shard_{i:05d}.probs.npy`` (plain ``.npy``, memory-mapped when read). The
table records the sha256 of both row files. Beside them,
``shard_{i:05d}.sha256`` (the ``sha256sum`` format, so ``sha256sum -c``
checks all three files) starts with the digest of the table as its writer
produced it; it is written *before* the shard is renamed into place, so a
complete shard always has its checksum. The manifest collects the table
digests when a generation finishes.
"""
from __future__ import annotations

import glob
import hashlib
import os.path as osp
import re
from typing import Dict, List, Optional, Sequence, Tuple

from d3l.utils import fileio

SHARD_PATTERN = 'shard_{:05d}.npz'
CHECKSUM_SUFFIX = '.sha256'
#: the members stored as ``.npy`` files beside the table, in this order
ROW_MEMBERS = ('indices', 'probs')
_SHARD_RE = re.compile(r'^shard_(\d{5,})\.npz$')


def shard_path(out_dir: str, shard_index: int) -> str:
    return osp.join(out_dir, SHARD_PATTERN.format(shard_index))


def checksum_path(shard_file: str) -> str:
    """``shard_00003.npz`` -> ``shard_00003.sha256``."""
    return shard_file[:-len('.npz')] + CHECKSUM_SUFFIX


def row_path(shard_file: str, member: str) -> str:
    """``shard_00003.npz``, ``'probs'`` -> ``shard_00003.probs.npy``."""
    return f'{shard_file[:-len(".npz")]}.{member}.npy'


def shard_files(shard_file: str) -> List[str]:
    """The files of a shard: its table, then its row files."""
    return [shard_file] + [row_path(shard_file, m) for m in ROW_MEMBERS]


def plan_shards(num_frames: int, shard_size: int) -> List[Tuple[int, int]]:
    """``[(start, stop), ...]`` slices of the frame list, one per shard."""
    if shard_size < 1:
        raise ValueError(f'shard_size must be >= 1, got {shard_size}')
    return [(start, min(start + shard_size, num_frames))
            for start in range(0, num_frames, shard_size)]


def shards_of_rank(num_shards: int, world_size: int, rank: int) -> List[int]:
    """Shards a rank labels: a pure function of (number of shards, world
    size, rank), round-robin, so that every shard has exactly one owner and
    the output does not depend on how many processes ran."""
    if world_size < 1 or not 0 <= rank < world_size:
        raise ValueError(f'invalid rank {rank} for world size {world_size}')
    return list(range(rank, num_shards, world_size))


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()


def grid_shape(image_shape: Sequence[int], stride: int) -> Tuple[int, int]:
    """Label-grid size of an image for a pixel stride (ceil division)."""
    height, width = int(image_shape[0]), int(image_shape[1])
    return (height + stride - 1) // stride, (width + stride - 1) // stride


def list_shards(label_dir: str) -> Dict[int, str]:
    """``{shard index: path}`` of the complete shards of a directory."""
    found = {}
    for path in glob.glob(osp.join(label_dir, 'shard_*.npz')):
        match = _SHARD_RE.match(osp.basename(path))
        if match:
            found[int(match.group(1))] = path
    return dict(sorted(found.items()))


def planned_frames(manifest: dict, shard_index: int) -> List[str]:
    """The frames the manifest assigns to shard ``shard_index``."""
    size = int(manifest['shard_size'])
    return list(manifest['frame_ids'][shard_index * size:(shard_index + 1) * size])


def write_checksum(shard_file: str, sha256: str, row_sha256: Sequence[str] = ()) -> str:
    """Write the ``.sha256`` file of a shard atomically: the table's digest
    first, then those of its row files (``ROW_MEMBERS`` order) when given."""
    names = [osp.basename(p) for p in shard_files(shard_file)]
    lines = [f'{digest}  {name}\n' for digest, name in zip([sha256, *row_sha256], names)]
    return fileio.write_text(checksum_path(shard_file), ''.join(lines), encoding='ascii',
                             fsync=True)


def read_checksum(shard_file: str) -> Optional[str]:
    """The digest recorded beside a shard, or ``None`` when there is none
    (or it is unreadable, which is the same for a resume: redo the shard)."""
    try:
        with open(checksum_path(shard_file), encoding='ascii') as f:
            digest = f.read().split()[0]
    except (OSError, IndexError, UnicodeDecodeError):
        return None
    return digest if re.fullmatch(r'[0-9a-f]{64}', digest) else None


def expected_checksum(label_dir: str, manifest: dict, shard_index: int) -> Optional[str]:
    """The digest shard ``shard_index`` must have: the manifest's record
    when it has one (a finished generation), else the shard's ``.sha256``."""
    entry = (manifest.get('shards') or {}).get(SHARD_PATTERN.format(shard_index))
    if isinstance(entry, dict) and entry.get('sha256'):
        return str(entry['sha256'])
    return read_checksum(shard_path(label_dir, shard_index))
