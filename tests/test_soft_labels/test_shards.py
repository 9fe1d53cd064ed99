"""Shard writer / reader, manifest checks, rank assignment."""
import hashlib
import json
import os

import numpy as np
import pytest
import torch

from d3l.soft_labels import (
    LabelStoreError,
    ShardFile,
    ShardWriter,
    SoftLabelCodec,
    SoftLabelStore,
    list_shards,
    make_manifest,
    manifest_differences,
    plan_shards,
    shards_of_rank,
    verify_store,
    write_manifest,
)
from d3l.soft_labels.layout import row_path
from d3l.soft_labels.shards import write_npz


def fake_probs(num_classes, height, width, seed):
    rng = np.random.default_rng(seed)
    return torch.from_numpy(rng.dirichlet([0.1] * num_classes, size=height * width)).float()


def write_store(root, frames, num_classes=20, stride=1, shard_size=2, prob_dtype='float16',
                failed=()):
    codec = SoftLabelCodec(3, prob_dtype)
    frame_ids = [f for f, _ in frames]
    shards = plan_shards(len(frames), shard_size)
    write_manifest(str(root), make_manifest(
        teacher={'type': 'Fake'}, num_classes=num_classes, class_names=[], codec=codec.config(),
        stride=stride, panorama={'mode': 'whole'}, source={}, frame_ids=frame_ids,
        shard_size=shard_size, num_shards=len(shards)))
    dense = {}
    for index, (start, stop) in enumerate(shards):
        writer = ShardWriter(str(root), index, start)
        for frame_id, (height, width) in frames[start:stop]:
            if frame_id in failed:
                writer.add_failure(frame_id, 'OSError: unreadable\nsecond line')
                continue
            grid = ((height + stride - 1) // stride, (width + stride - 1) // stride)
            probs = fake_probs(num_classes, *grid, seed=hash(frame_id) % 1000)
            dense[frame_id] = probs
            writer.add(frame_id, codec.encode(probs), (height, width), stride)
        writer.close()
    return dense


def test_round_trip_lookup_and_memmap(tmp_path):
    frames = [(f'scene/{i}', (6 + i, 9)) for i in range(5)]
    dense = write_store(tmp_path, frames, stride=2, failed=('scene/3',))
    assert sorted(os.listdir(tmp_path)) == ['manifest.json'] + [
        f'shard_0000{i}.{ext}' for i in range(3)
        for ext in ('indices.npy', 'npz', 'probs.npy', 'sha256')]
    # the .sha256 files are sha256sum's format, of the three files as written
    for index in range(3):
        lines = (tmp_path / f'shard_0000{index}.sha256').read_text().splitlines()
        names = [f'shard_0000{index}.{ext}' for ext in ('npz', 'indices.npy', 'probs.npy')]
        assert [line.split('  ')[1] for line in lines] == names
        digests = [line.split('  ')[0] for line in lines]
        assert digests == [hashlib.sha256((tmp_path / n).read_bytes()).hexdigest()
                           for n in names]
        # the table records its row files' digests: its own digest covers the shard
        assert ShardFile(str(tmp_path / names[0])).row_sha256 == digests[1:]
    store = SoftLabelStore(str(tmp_path))
    assert len(store) == 4 and store.failed == [('scene/3', 'OSError: unreadable second line')]
    record = store.get('scene/4')
    assert record.grid_shape == (5, 5) and record.image_shape == (10, 9)
    assert isinstance(record.indices, np.memmap)  # mapped, not loaded
    assert record.indices.filename == str(tmp_path / 'shard_00002.indices.npy')
    # pixel (row, col) -> cell (row // 2, col // 2), row-major
    pixels = np.array([0, 1, 9, 10, 89])  # (0,0) (0,1) (1,0) (1,1) (9,8)
    cells = np.array([0, 0, 0, 0, 4 * 5 + 4])
    expected = SoftLabelCodec.decode(SoftLabelCodec(3).encode(dense['scene/4'][cells]), 20)
    np.testing.assert_allclose(record.decode(pixels), expected.numpy())
    assert record.decode(pixels).argmax(1).tolist() == dense['scene/4'][cells].argmax(1).tolist()
    with pytest.raises(LabelStoreError, match='computed for'):
        record.lookup(pixels, image_shape=(10, 10))
    with pytest.raises(LabelStoreError, match='out of range'):
        record.lookup(np.array([90]))
    with pytest.raises(KeyError, match='scene/3'):
        store.get('scene/3')
    # the memmap is valid after pickling (data-loader workers)
    import pickle
    shard = pickle.loads(pickle.dumps(store.shards[0]))
    assert np.array_equal(shard.record(1, 20).indices, store.get('scene/1').indices)


def test_uint8_storage_size(tmp_path):
    write_store(tmp_path, [('a', (32, 32))], prob_dtype='uint8', shard_size=1)
    indices = np.load(tmp_path / 'shard_00000.indices.npy')
    probs = np.load(tmp_path / 'shard_00000.probs.npy')
    assert indices.dtype == np.uint8 and probs.dtype == np.uint8
    assert indices.nbytes + probs.nbytes == 32 * 32 * 6
    assert 'indices' not in np.load(tmp_path / 'shard_00000.npz').files


def test_incomplete_and_corrupt_directories(tmp_path):
    write_store(tmp_path, [(str(i), (4, 4)) for i in range(4)])
    os.remove(tmp_path / 'shard_00001.npz')
    with pytest.raises(LabelStoreError, match='1 of 2 shards are missing'):
        SoftLabelStore(str(tmp_path))
    assert len(SoftLabelStore(str(tmp_path), allow_incomplete=True)) == 2
    (tmp_path / 'shard_00001.npz').write_bytes(b'PK\x03\x04 truncated')
    assert list(list_shards(str(tmp_path))) == [0, 1]
    with pytest.raises(LabelStoreError, match='corrupt or incomplete'):
        ShardFile(str(tmp_path / 'shard_00001.npz'))
    with pytest.raises(LabelStoreError, match='manifest.json is missing'):
        SoftLabelStore(str(tmp_path / 'elsewhere'))


def test_writer_validates_and_leaves_no_temporary_file(tmp_path):
    writer = ShardWriter(str(tmp_path), 0)
    codec = SoftLabelCodec(3)
    with pytest.raises(ValueError, match='label grid'):
        writer.add('f', codec.encode(fake_probs(5, 2, 2, 0)), (3, 3))
    writer.add('f', codec.encode(fake_probs(5, 3, 3, 0)), (3, 3))
    with pytest.raises(ValueError, match='twice'):
        writer.add('f', codec.encode(fake_probs(5, 3, 3, 0)), (3, 3))
    writer.close()
    assert sorted(os.listdir(tmp_path)) == ['shard_00000.indices.npy', 'shard_00000.npz',
                                            'shard_00000.probs.npy', 'shard_00000.sha256']
    assert writer.num_bytes == sum(os.path.getsize(tmp_path / n) for n in os.listdir(tmp_path)
                                   if not n.endswith('.sha256'))


def test_old_storage_format_is_an_error_that_says_regenerate(tmp_path):
    write_store(tmp_path, [('a', (4, 4))], shard_size=1)
    manifest = json.loads((tmp_path / 'manifest.json').read_text())
    (tmp_path / 'manifest.json').write_text(json.dumps(dict(manifest, format_version=2)))
    with pytest.raises(LabelStoreError, match=r'manifest .*manifest.json has storage format 2, '
                                              r'.*inside the .npz.*regenerate'):
        SoftLabelStore(str(tmp_path))
    # a format 2 shard (rows inside the .npz) among format 3 files
    (tmp_path / 'manifest.json').write_text(json.dumps(manifest))
    table = str(tmp_path / 'shard_00000.npz')
    with np.load(table) as data:
        old = {k: data[k] for k in data.files if k != 'row_sha256'}
    old.update(format_version=np.int64(2), indices=np.load(row_path(table, 'indices')),
               probs=np.load(row_path(table, 'probs')))
    write_npz(table, old)
    with pytest.raises(LabelStoreError, match=r'shard .*shard_00000.npz is in storage format 2 '
                                              r'\(label rows inside the .npz\).*regenerate'):
        SoftLabelStore(str(tmp_path))


def test_missing_or_truncated_row_file_is_named(tmp_path):
    write_store(tmp_path, [(str(i), (4, 4)) for i in range(2)], shard_size=1)
    os.remove(tmp_path / 'shard_00000.probs.npy')
    store = SoftLabelStore(str(tmp_path))  # the tables open; rows are mapped when first read
    with pytest.raises(LabelStoreError, match=r'shard .*shard_00000.npz: its row file '
                                              r'.*shard_00000.probs.npy is missing'):
        store.get('0')
    assert verify_store(str(tmp_path))['bad'] == [
        ('shard_00000.npz', 'row file shard_00000.probs.npy is missing')]
    rows = tmp_path / 'shard_00001.indices.npy'
    rows.write_bytes(rows.read_bytes()[:-5])
    with pytest.raises(LabelStoreError, match=r'row file .*shard_00001.indices.npy is corrupt or '
                                              'truncated'):
        store.get('1')
    assert 'sha256' in dict(verify_store(str(tmp_path))['bad'])['shard_00001.npz']


@pytest.mark.parametrize('num_shards', [1, 5, 16])
def test_every_shard_has_exactly_one_rank(num_shards):
    for world_size in (1, 2, 3, 8):
        owned = [shards_of_rank(num_shards, world_size, r) for r in range(world_size)]
        flat = sorted(i for shards in owned for i in shards)
        assert flat == list(range(num_shards))
    assert plan_shards(5, 2) == [(0, 2), (2, 4), (4, 5)]
    with pytest.raises(ValueError):
        shards_of_rank(4, 2, 2)


def test_manifest_differences():
    base = dict(teacher={'type': 'A'}, num_classes=3, class_names=[], codec={'topk': 3},
                stride=1, panorama={'mode': 'whole'}, source={}, frame_ids=['a', 'b'],
                shard_size=2, num_shards=1)
    one, two = make_manifest(**base), make_manifest(**dict(base, stride=2, frame_ids=['a']))
    assert manifest_differences(one, make_manifest(**base)) == []
    assert manifest_differences(one, two) == ['stride', 'frame_ids']
