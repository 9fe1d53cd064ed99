"""Integrity pieces of the label store: deterministic shard bytes, per-frame
CRC-32, the float16 range check, source fingerprints, the writer lock."""
import json
import os
import zlib

import numpy as np
import pytest
import torch

from d3l.soft_labels import (
    LOCK_NAME,
    ShardFile,
    ShardWriter,
    SoftLabelCodec,
    StoreLock,
    StoreLockError,
    frame_crc32,
    read_checksum,
)
from d3l.soft_labels.layout import shard_files
from d3l.soft_labels.shards import write_npz
from d3l.soft_labels.source import frame_changes, parse_stats
from d3l.soft_labels.store import _bad_probs


def test_npz_is_what_numpy_reads_and_the_same_bytes_every_time(tmp_path):
    arrays = dict(a=np.arange(7, dtype=np.int64), b=np.array(['x', 'yz']),
                  c=np.ones((3, 2), np.float16))
    write_npz(str(tmp_path / 'one.npz'), arrays)
    os.utime(tmp_path, None)
    write_npz(str(tmp_path / 'two.npz'), arrays)
    assert (tmp_path / 'one.npz').read_bytes() == (tmp_path / 'two.npz').read_bytes()
    with np.load(tmp_path / 'one.npz') as data:
        for key, value in arrays.items():
            np.testing.assert_array_equal(data[key], value)


def test_frame_crc32_is_zlib_crc_of_indices_then_probs(tmp_path):
    codec = SoftLabelCodec(2)
    probs = torch.distributions.Dirichlet(torch.full((6,), 0.5)).sample((12,))
    encoded = codec.encode(probs)
    indices, values = encoded['indices'].numpy(), encoded['probs'].numpy()
    assert frame_crc32(indices, values) == zlib.crc32(indices.tobytes() + values.tobytes())
    writer = ShardWriter(str(tmp_path), 0)
    writer.add('f', encoded, (3, 4))
    path = writer.close()
    shard = ShardFile(path)
    assert int(shard.frame_crc32[0]) == zlib.crc32(indices.tobytes() + values.tobytes())
    assert read_checksum(path) == writer.sha256
    assert writer.num_bytes == sum(os.path.getsize(p) for p in shard_files(path))
    shard.check_frame(0)  # the stored rows pass


def test_float16_range_check_against_float32_reference():
    patterns = np.arange(1 << 16, dtype=np.uint32).astype(np.uint16)
    halves = patterns.view(np.float16)
    as_float = halves.astype(np.float32)
    expected = ~(np.isfinite(as_float) & (as_float >= 0) & (as_float <= np.float32(1.01)))
    # -0.0 (0x8000) is the one pattern flagged that the float check keeps: no encoder writes it
    expected[patterns == 0x8000] = True
    got = np.array([_bad_probs(h.reshape(1, 1)) for h in halves])
    assert np.array_equal(got, expected)


def test_source_fingerprint_changes():
    old = 'depth_path=100@5 img_path=200@6'
    assert parse_stats(old) == {'depth_path': (100, 5), 'img_path': (200, 6)}
    new = ['depth_path=100@5 img_path=200@6', 'depth_path=101@5 img_path=200@6',
           'depth_path=100@9 img_path=200@6', 'img_path=200@6 depth_path=missing', 'img_path=200@6']
    frames = ['a', 'b', 'c', 'd', 'e']
    changes = frame_changes(frames, [old] * 5, new)
    assert changes == [('b', ['depth_path 100 -> 101 bytes']),
                       ('c', ['depth_path modified (mtime 5 -> 9 ns)']),
                       ('d', ['depth_path file missing']), ('e', ['depth_path gone'])]
    assert [f for f, _ in frame_changes(frames, [old] * 5, new, sizes_only=True)] == \
        ['b', 'd', 'e']


def test_lock_cycle(tmp_path):
    lock = StoreLock(str(tmp_path)).acquire()
    owner = json.loads((tmp_path / LOCK_NAME).read_text())
    assert owner['pid'] == os.getpid() and owner['run_id'] == lock.run_id
    StoreLock(str(tmp_path), run_id=lock.run_id).check_owner()  # another rank of the run
    with pytest.raises(StoreLockError, match='no longer holds'):
        StoreLock(str(tmp_path), run_id='other').check_owner()
    with pytest.raises(StoreLockError, match='being written by another process'):
        StoreLock(str(tmp_path)).acquire()
    lock.release()
    assert not (tmp_path / LOCK_NAME).exists()
    with StoreLock(str(tmp_path)):
        assert (tmp_path / LOCK_NAME).exists()
    assert not (tmp_path / LOCK_NAME).exists()
