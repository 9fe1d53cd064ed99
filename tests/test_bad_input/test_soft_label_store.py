"""Bad input to the soft-label store: another source on --resume, corrupt or
swapped shards, an edited manifest, a dataset that is not the labelled one,
NaN teacher output, a second writer. Each case asserts the error class, that
the message names the directory / shard / frame, and that nothing on disk
changed (or, for --resume, that the store is repaired byte for byte)."""
import json
import os
import os.path as osp
import shutil
import socket
import subprocess
import sys

import numpy as np
import pytest
import torch
from conftest import run_tool, tool_module
from disk_state import snapshot
from pseudo_label_data import make_rgbd_folder

from d3l.registry import DATASETS
from d3l.soft_labels import (
    LOCK_NAME,
    LabelStoreError,
    SoftLabelCodec,
    SoftLabelError,
    SoftLabelStore,
    StoreLock,
    StoreLockError,
    verify_store,
)
from d3l.soft_labels.layout import row_path
from d3l.utils.errors import D3LError

NUM_CLASSES = 5
SIZE = dict(height=12, width=16)


def load_tool():
    return tool_module('generate_pseudo_labels')


TOOL = load_tool()


def write_config(path, data_root, teacher=None, shard_size=2):
    teacher = teacher or (f"dict(type='PrecomputedTeacher', num_classes={NUM_CLASSES}, "
                          "label_smoothing=0.2)")
    path.write_text(
        "default_scope = 'd3l'\n"
        f"teacher = {teacher}\n"
        f"pseudo_label_cfg = dict(source=dict(type='RGBDFolderDataset', data_root="
        f"{str(data_root)!r}, pipeline=[dict(type='LoadRGBD')]), codec=dict(topk=2), "
        f"shard_size={shard_size})\n")
    return str(path)


@pytest.fixture
def store(tmp_path):
    """(data root, config, label dir) of a finished 5-frame, 3-shard store."""
    data = tmp_path / 'data'
    make_rgbd_folder(str(data), num_frames=5, with_labels=True,
                     num_label_classes=NUM_CLASSES, **SIZE)
    config = write_config(tmp_path / 'gen.py', data)
    out = tmp_path / 'labels'
    TOOL.main([config, '--out', str(out)])
    return data, config, out


def shards_state(out):
    return {name: digest for name, digest in snapshot(str(out)).items()
            if name.startswith('shard_')}


def flip_byte(path, member, row, mask=0x01, byte=0):
    """XOR one byte of row ``row`` of shard ``path``'s ``indices`` / ``probs``."""
    path = row_path(str(path), member)
    mapped = np.load(path, mmap_mode='r')
    offset = mapped.offset + row * mapped.strides[0] + byte
    del mapped
    with open(path, 'r+b') as f:
        f.seek(offset)
        value = f.read(1)[0]
        f.seek(offset)
        f.write(bytes([value ^ mask]))


# ----------------------------------------------------------------------------
# the source
# ----------------------------------------------------------------------------
def test_resume_with_another_data_root_keeps_no_old_labels(store, tmp_path):
    data, _, out = store
    other = tmp_path / 'other'
    make_rgbd_folder(str(other), num_frames=5, with_labels=True, seed=7,
                     num_label_classes=NUM_CLASSES, **SIZE)  # the same frame ids
    before = snapshot(str(out))
    config = write_config(tmp_path / 'other.py', other)
    with pytest.raises(D3LError) as err:
        TOOL.main([config, '--out', str(out), '--resume'])
    message = str(err.value)
    assert str(out) in message and 'source' in message
    assert osp.realpath(str(data)) in message and osp.realpath(str(other)) in message
    assert "'scene0/0000'" in message  # the first frame whose files differ
    assert snapshot(str(out)) == before


def test_resume_after_a_source_file_changed_is_refused(store, tmp_path):
    data, config, out = store
    depth = data / 'scene0' / 'depth' / '0003.png'
    os.utime(depth, ns=(1_000_000_000, 1_000_000_000))  # same bytes, other mtime
    before = snapshot(str(out))
    with pytest.raises(D3LError, match=r"1 of 5 frames changed \(first: 'scene0/0003': "
                                       r'depth_path modified'):
        TOOL.main([config, '--out', str(out), '--resume'])
    # --verify with the config compares the source files too; the shards are fine
    with pytest.raises(LabelStoreError, match=r"1 of 5 frames changed \(first: 'scene0/0003'"):
        TOOL.main([config, '--out', str(out), '--verify'])
    TOOL.main([str(out), '--verify'])
    assert snapshot(str(out)) == before


@DATASETS.register_module(force=True)
class OtherFolderDataset(DATASETS.get('RGBDFolderDataset')):
    """The same files read through another dataset type."""


def pretrain_cfg(data, out, source_type='RGBDFolderDataset'):
    return dict(type='PretrainRGBDDataset', label_dir=str(out),
                source=dict(type=source_type, data_root=str(data),
                            pipeline=[dict(type='LoadRGBD')]),
                pipeline=[dict(type='LiftPerspective'), dict(type='LoadSoftLabels')])


def test_pretrain_dataset_compares_its_source_with_the_manifest(store, tmp_path):
    data, _, out = store
    before = snapshot(str(out))
    with pytest.raises(LabelStoreError, match='made from a RGBDFolderDataset.*the dataset '
                                              'given is a OtherFolderDataset') as err:
        DATASETS.build(pretrain_cfg(data, out, 'OtherFolderDataset'))
    assert str(out) in str(err.value)
    # other files under the same frame ids: another size is an error naming frame and file
    other = tmp_path / 'other'
    make_rgbd_folder(str(other), num_frames=5, with_labels=True, seed=7,
                     num_label_classes=NUM_CLASSES, **SIZE)
    with pytest.raises(LabelStoreError, match=r"5 of 5 frames are not those.*frame "
                                              r"'scene0/0000': .*bytes") as err:
        DATASETS.build(pretrain_cfg(other, out))
    assert osp.realpath(str(data)) in str(err.value)
    # the same data copied elsewhere (mtimes lost, sizes kept) are accepted
    copied = tmp_path / 'copied'
    shutil.copytree(data, copied, copy_function=shutil.copyfile)
    dataset = DATASETS.build(pretrain_cfg(copied, out))
    assert len(dataset) == 5 and dataset[0]['soft_labels'].shape[1] == NUM_CLASSES
    assert snapshot(str(out)) == before


# ----------------------------------------------------------------------------
# corrupt, swapped and re-planned shards
# ----------------------------------------------------------------------------
def test_flipped_probability_byte_is_detected_on_read_verify_and_resume(store):
    data, config, out = store
    good = shards_state(out)
    shard = out / 'shard_00001.npz'
    # the low (mantissa) byte of frame 2's first probability: still a valid
    # value, so only the checksums can tell
    flip_byte(shard, 'probs', row=0)
    corrupt = snapshot(str(out))
    with pytest.raises(LabelStoreError, match="shard .*shard_00001.npz, frame 'scene0/0002': "
                                              'its label rows fail their checksum'):
        SoftLabelStore(str(out)).get('scene0/0002')
    report = verify_store(str(out))
    assert [name for name, _ in report['bad']] == ['shard_00001.npz']
    assert 'sha256' in report['bad'][0][1] and len(report['good']) == 2
    with pytest.raises(LabelStoreError, match=r'1 bad shard\(s\): shard_00001.npz \(sha256'):
        TOOL.main([str(out), '--verify'])
    assert snapshot(str(out)) == corrupt  # reading and verifying change nothing
    # --resume redoes that shard (counted) and only it: back to the same bytes
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        TOOL.main([config, '--out', str(out), '--resume'])
    finally:
        torch.set_num_threads(threads)
    assert shards_state(out) == good
    assert verify_store(str(out))['bad'] == []


def test_verify_exits_2_listing_the_bad_shards(store):
    _, _, out = store
    flip_byte(out / 'shard_00002.npz', 'indices', row=3, mask=0x80)
    before = snapshot(str(out))
    proc = run_tool('generate_pseudo_labels.py', str(out), '--verify', check=False)
    assert proc.returncode == 2, proc.stderr
    assert 'BAD shard_00002.npz' in proc.stdout and '2 of 3 shards good' in proc.stdout
    assert proc.stderr.startswith('error: ') and 'shard_00002.npz' in proc.stderr
    assert snapshot(str(out)) == before


def test_flipped_class_index_names_shard_and_frame(store):
    _, _, out = store
    flip_byte(out / 'shard_00000.npz', 'indices', row=5, mask=0xC0)  # class >= 64 of 5
    before = snapshot(str(out))
    with pytest.raises(LabelStoreError, match="shard_00000.npz, frame 'scene0/0000': its label "
                                              'rows fail their checksum'):
        SoftLabelStore(str(out)).get('scene0/0000')
    # without the CRC (as for shards of format 1) the decode check still names both
    record = SoftLabelStore(str(out), verify=False).get('scene0/0000')
    with pytest.raises(LabelStoreError, match=r"shard .*shard_00000.npz, frame 'scene0/0000': "
                                              r'class index \d+ \(row 0\) is out of range'):
        record.lookup(np.array([5]))
    assert snapshot(str(out)) == before


def test_nan_written_into_a_shard_is_caught_even_without_the_crc(store):
    _, _, out = store
    shard = out / 'shard_00001.npz'
    flip_byte(shard, 'probs', row=2, mask=0x7E, byte=1)  # high byte: exponent all ones
    before = snapshot(str(out))
    record = SoftLabelStore(str(out), verify=False).get('scene0/0002')
    pixels = np.array([0, 1, 2, 3])
    with pytest.raises(LabelStoreError, match=r"shard .*shard_00001.npz, frame 'scene0/0002': "
                                              r'1 stored probabilities are not in \[0, 1\]'):
        record.lookup(pixels)
    with pytest.raises(LabelStoreError, match="frame 'scene0/0002'"):
        record.decode_grid()
    assert snapshot(str(out)) == before


@pytest.mark.parametrize('shard_size', [1, 3])
def test_edited_shard_size_is_detected_on_open(store, shard_size):
    _, _, out = store
    manifest = json.loads((out / 'manifest.json').read_text())
    manifest['shard_size'] = shard_size
    (out / 'manifest.json').write_text(json.dumps(manifest))
    before = snapshot(str(out))
    for allow_incomplete in (False, True):
        with pytest.raises(LabelStoreError, match='shard_00000.npz does not hold the frames the '
                                                  f'manifest assigns to it.*shard_size '
                                                  f'{shard_size}'):
            SoftLabelStore(str(out), allow_incomplete=allow_incomplete)
    assert 'shard_00000.npz' in dict(verify_store(str(out))['bad'])
    assert snapshot(str(out)) == before


def test_shard_replaced_by_a_copy_of_another_is_detected(store):
    _, _, out = store
    # the copy comes with its own rows and checksum file
    for suffix in ('.npz', '.indices.npy', '.probs.npy', '.sha256'):
        shutil.copyfile(out / f'shard_00000{suffix}', out / f'shard_00001{suffix}')
    before = snapshot(str(out))
    with pytest.raises(LabelStoreError, match=r'shard_00001.npz does not hold the frames.*'
                                              r'written as shard 0 from frame 0') as err:
        SoftLabelStore(str(out))
    assert "'scene0/0000'" in str(err.value)  # an unexpected frame, named
    bad = dict(verify_store(str(out))['bad'])
    assert list(bad) == ['shard_00001.npz']  # the manifest's sha256 differs as well
    assert snapshot(str(out)) == before


# ----------------------------------------------------------------------------
# teacher output
# ----------------------------------------------------------------------------
def test_codec_rejects_nan_and_non_distributions():
    probs = torch.full((4, NUM_CLASSES), 1.0 / NUM_CLASSES)
    probs[2, 1] = float('nan')
    probs[3, 0] = float('inf')
    with pytest.raises(SoftLabelError, match=r"frame 'a/1': 2 non-finite teacher probabilities "
                                             r'\(NaN or inf\) in 2 of 4 rows \(first: row 2\)'):
        SoftLabelCodec(2).encode(probs, name="frame 'a/1'")
    with pytest.raises(SoftLabelError, match='outside \\[0, 1\\].*not logits'):
        SoftLabelCodec(2).encode(torch.randn(3, NUM_CLASSES) * 5)
    with pytest.raises(SoftLabelError, match='do not sum to 1'):
        SoftLabelCodec(2).encode(torch.full((2, NUM_CLASSES), 0.1))
    # stored NaN (a corrupt file) no longer decodes as "no label" with a class
    encoded = {'indices': np.array([[1, 2]], np.uint8), 'probs': np.array([[np.nan, 0]],
                                                                          np.float16)}
    with pytest.raises(SoftLabelError, match='stored probabilities are not in'):
        SoftLabelCodec.top1(encoded)
    with pytest.raises(SoftLabelError, match='stored probabilities are not in'):
        SoftLabelCodec.decode(encoded, NUM_CLASSES)


def test_nan_teacher_frame_is_listed_not_stored(tmp_path):
    data = tmp_path / 'data'
    make_rgbd_folder(str(data), num_frames=3, **SIZE)
    probs_root = tmp_path / 'probs' / 'scene0'
    probs_root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(3):
        probs = rng.dirichlet([0.5] * NUM_CLASSES, size=(SIZE['height'], SIZE['width']))
        if i == 1:
            probs[4, 5, :] = np.nan
        np.save(probs_root / f'{i:04d}.npy', probs.astype(np.float32))
    teacher = (f"dict(type='PrecomputedTeacher', num_classes={NUM_CLASSES}, source='files', "
               f"root={str(tmp_path / 'probs')!r}, pattern='{{frame_id}}.npy', kind='probs')")
    out = tmp_path / 'labels'
    TOOL.main([write_config(tmp_path / 'gen.py', data, teacher=teacher), '--out', str(out)])
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['counts'] == {'frames': 3, 'labelled': 2, 'failed': 1}
    [(frame_id, reason)] = manifest['failed']
    assert frame_id == 'scene0/0001'
    assert f"frame 'scene0/0001': {NUM_CLASSES} non-finite teacher probabilities" in reason
    assert 'scene0/0001' not in SoftLabelStore(str(out))


# ----------------------------------------------------------------------------
# writers
# ----------------------------------------------------------------------------
def write_lock(out, **owner):
    out.mkdir(parents=True, exist_ok=True)
    content = dict(pid=os.getpid(), host=socket.gethostname(), run_id='r0', started='t',
                   command='generate_pseudo_labels.py other.py')
    content.update(owner)
    (out / LOCK_NAME).write_text(json.dumps(content))


def test_second_writer_is_refused(store, tmp_path):
    _, config, out = store
    write_lock(out)  # this very process: alive
    before = snapshot(str(out))
    with pytest.raises(D3LError, match=f'is being written by another process.*pid {os.getpid()} '
                                       f'on host {socket.gethostname()!r}') as err:
        TOOL.main([config, '--out', str(out), '--resume'])
    assert str(out) in str(err.value)
    write_lock(out, host='elsewhere.example')  # cannot be checked: never taken over
    before = snapshot(str(out))
    with pytest.raises(D3LError, match="another host's, so it cannot be checked"):
        TOOL.main([config, '--out', str(out), '--resume'])
    assert snapshot(str(out)) == before
    # a fresh directory is locked too: two runs cannot both create it
    fresh = tmp_path / 'fresh'
    write_lock(fresh)
    with pytest.raises(StoreLockError, match='is being written by another process'):
        TOOL.main([config, '--out', str(fresh)])
    assert sorted(os.listdir(fresh)) == [LOCK_NAME]


def test_stale_lock_of_a_dead_process_is_taken_over(store, capsys):
    _, config, out = store
    dead = subprocess.Popen([sys.executable, '-c', 'pass'])
    dead.wait()
    write_lock(out, pid=dead.pid)
    good = shards_state(out)
    TOOL.main([config, '--out', str(out), '--resume'])
    captured = capsys.readouterr()
    assert f'taking over the stale lock of pid {dead.pid}' in captured.err
    assert 'keeps 3 complete shard(s)' in captured.out
    assert not (out / LOCK_NAME).exists() and shards_state(out) == good


def test_a_writer_that_lost_the_lock_commits_nothing(tmp_path):
    from d3l.soft_labels import ShardWriter
    from d3l.soft_labels.session import WriterGuard

    out = tmp_path / 'labels'
    old_run = StoreLock(str(out)).acquire()
    guard = WriterGuard(StoreLock(str(out), run_id=old_run.run_id))
    guard()  # still the owner
    os.remove(out / LOCK_NAME)
    new_run = StoreLock(str(out)).acquire()  # e.g. a --resume after torchrun was killed
    writer = ShardWriter(str(out), 0, before_commit=guard)
    writer.add('f', SoftLabelCodec(2).encode(torch.full((4, NUM_CLASSES), 0.2)), (2, 2))
    with pytest.raises(StoreLockError, match=f'no longer holds .*taken by pid {os.getpid()}.*'
                                             f'run {new_run.run_id}'):
        writer.close()
    assert sorted(os.listdir(out)) == [LOCK_NAME]  # no shard, no checksum, no temporary file
    new_run.release()
    assert os.listdir(out) == []


def test_out_that_is_a_file(store, tmp_path):
    _, config, _ = store
    target = tmp_path / 'a_file'
    target.write_text('x')
    with pytest.raises(D3LError, match=f'--out {target} is a file'):
        TOOL.main([config, '--out', str(target)])
    assert target.read_text() == 'x'
