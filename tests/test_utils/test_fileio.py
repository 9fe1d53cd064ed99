"""Atomic writes: the final name only ever holds a whole file, a failed write
leaves the previous content and no temporary behind."""
import json
import os

import numpy as np
import pytest

from d3l.utils import fileio


def _listing(folder):
    return sorted(os.listdir(folder))


def test_write_text_bytes_json_round_trip(tmp_path):
    text = fileio.write_text(str(tmp_path / 'a' / 'b.txt'), 'héllo\nworld\n')
    assert open(text, encoding='utf-8').read() == 'héllo\nworld\n'
    raw = fileio.write_bytes(str(tmp_path / 'c.bin'), b'\x00\xff\x10', fsync=True)
    assert open(raw, 'rb').read() == b'\x00\xff\x10'
    payload = {'b': [1, 2.5], 'a': 'x'}
    path = fileio.write_json(str(tmp_path / 'd.json'), payload, indent=1, sort_keys=True)
    # the same bytes json.dumps gives (the format callers document)
    assert open(path, encoding='utf-8').read() == json.dumps(payload, indent=1, sort_keys=True)
    assert _listing(tmp_path) == ['a', 'c.bin', 'd.json']


def test_save_npy_writes_exactly_the_name(tmp_path):
    array = np.arange(12, dtype=np.int16).reshape(3, 4)
    path = fileio.save_npy(str(tmp_path / 'labels.npy'), array)
    assert _listing(tmp_path) == ['labels.npy']  # no 'labels.npy.tmp-<pid>.npy' left
    loaded = np.load(path)
    assert loaded.dtype == np.int16 and np.array_equal(loaded, array)
    # a name without .npy stays without it (np.save(name) would append one)
    fileio.save_npy(str(tmp_path / 'raw'), array)
    assert np.array_equal(np.load(str(tmp_path / 'raw')), array)


def test_failed_write_keeps_the_old_file_and_no_temporary(tmp_path):
    path = str(tmp_path / 'm.json')
    fileio.write_json(path, {'ok': 1})
    with pytest.raises(TypeError):
        fileio.write_json(path, {'bad': object()})  # fails half-way through json.dump
    assert json.load(open(path)) == {'ok': 1}
    assert _listing(tmp_path) == ['m.json']
    with pytest.raises(RuntimeError):
        with fileio.atomic_open(path, 'wb') as f:
            f.write(b'partial')
            raise RuntimeError('killed')
    assert json.load(open(path)) == {'ok': 1}
    assert _listing(tmp_path) == ['m.json']


def test_atomic_path_temporary_is_in_the_same_folder_with_suffix(tmp_path):
    path = str(tmp_path / 'plot.png')
    with fileio.atomic_path(path, suffix='.png') as tmp:
        assert os.path.dirname(tmp) == str(tmp_path)
        assert tmp == f'{path}.tmp-{os.getpid()}.png'
        assert not os.path.exists(path)  # nothing under the final name while writing
        open(tmp, 'wb').write(b'png')
    assert open(path, 'rb').read() == b'png' and _listing(tmp_path) == ['plot.png']


def test_atomic_open_rejects_append(tmp_path):
    with pytest.raises(ValueError, match='mode'):
        with fileio.atomic_open(str(tmp_path / 'x'), 'a'):
            pass


def test_atomic_open_fsyncs_when_asked(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, 'fsync', lambda fd: (synced.append(fd), real(fd)))
    fileio.write_text(str(tmp_path / 'a'), 'x')
    assert synced == []
    fileio.write_text(str(tmp_path / 'b'), 'x', fsync=True)
    assert len(synced) == 1


def test_atomic_dir_replaces_a_folder_whole(tmp_path):
    final = tmp_path / 'scene'
    final.mkdir()
    (final / 'old.npy').write_bytes(b'old')
    with fileio.atomic_dir(str(final)) as tmp:
        assert os.path.basename(tmp).startswith('.scene.tmp-')  # hidden from listings
        assert os.listdir(tmp) == []
        open(os.path.join(tmp, 'new.npy'), 'wb').write(b'new')
        assert _listing(final) == ['old.npy']  # the old folder stays until the commit
    assert _listing(final) == ['new.npy']
    assert _listing(tmp_path) == ['scene']


def test_atomic_dir_failure_leaves_the_old_folder(tmp_path):
    final = tmp_path / 'out'
    final.mkdir()
    (final / 'keep').write_text('k')
    with pytest.raises(RuntimeError):
        with fileio.atomic_dir(str(final)) as tmp:
            open(os.path.join(tmp, 'half'), 'w').write('h')
            raise RuntimeError('interrupted')
    assert _listing(final) == ['keep'] and _listing(tmp_path) == ['out']
    with pytest.raises(FileExistsError, match='out'):
        with fileio.atomic_dir(str(final), overwrite=False):
            pass
    assert _listing(final) == ['keep'] and _listing(tmp_path) == ['out']
