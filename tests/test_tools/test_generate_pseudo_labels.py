"""tools/generate_pseudo_labels.py: 1 vs 2 processes, kill + --resume, errors."""
import json
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from conftest import REPO_ROOT, run_tool, tool_module
from pseudo_label_data import make_rgbd_folder, tiny_dpt_checkpoint, write_tiny_dpt_config

from d3l.soft_labels import SoftLabelCodec, SoftLabelStore, iter_records, list_shards

SLOW_DATASET = '''
import time
from d3l.datasets.rgbd import RGBDFolderDataset
from d3l.registry import DATASETS


@DATASETS.register_module()
class SlowRGBDFolderDataset(RGBDFolderDataset):
    """Sleeps per frame so that a test can kill the generation mid-way."""

    def prepare_data(self, idx):
        time.sleep(0.4)
        return super().prepare_data(idx)
'''


@pytest.fixture(scope='module')
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp('gen')
    make_rgbd_folder(str(root / 'data'), num_frames=7, bad_frames=(4,))
    _, ckpt = tiny_dpt_checkpoint(root)
    model_cfg = write_tiny_dpt_config(root)
    (root / 'slow_dataset.py').write_text(SLOW_DATASET)

    def write_config(name, dataset='RGBDFolderDataset', shard_size=2, stride=1, extra=''):
        path = root / name
        imports = ("custom_imports = dict(imports=['slow_dataset'], "
                   "allow_failed_imports=False)\n" if dataset.startswith('Slow') else '')
        path.write_text(
            f"default_scope = 'd3l'\n{imports}"
            f"teacher = dict(type='MMSegTeacher', config={model_cfg!r}, checkpoint={ckpt!r}, "
            f"scale=None, device='cpu')\n"
            f"pseudo_label_cfg = dict(source=dict(type={dataset!r}, data_root="
            f"{str(root / 'data')!r}, pipeline=[dict(type='LoadRGBD')]), codec=dict(topk=3), "
            f"stride={stride}, shard_size={shard_size}{extra})\n")
        return str(path)

    return root, write_config


def load_tool():
    """The tool as a module, to run main() in-process (no start-up cost)."""
    return tool_module('generate_pseudo_labels')


def env_for(root):
    env = dict(os.environ, OMP_NUM_THREADS='1')
    env['PYTHONPATH'] = os.pathsep.join([REPO_ROOT, str(root), env.get('PYTHONPATH', '')])
    return env


def records(label_dir):
    return {r.frame_id: (np.asarray(r.indices).copy(), np.asarray(r.probs).copy())
            for r in iter_records(label_dir)}


def shard_digests(label_dir):
    """sha256 of every shard file: the same labels give the same bytes."""
    from d3l.soft_labels import file_sha256
    return {osp.basename(path): file_sha256(path)
            for path in list_shards(str(label_dir)).values()}


def assert_same_labels(a, b):
    assert sorted(a) == sorted(b)
    for frame_id in a:
        assert np.array_equal(a[frame_id][0], b[frame_id][0]), frame_id
        assert np.array_equal(a[frame_id][1], b[frame_id][1]), frame_id


@pytest.fixture(scope='module')
def single_run(setup):
    root, write_config = setup
    out = root / 'single'
    proc = run_tool('generate_pseudo_labels.py', write_config('cfg.py'), '--out', out, '--vis', '1',
                env=env_for(root))
    return out, proc


def test_single_process_output(single_run):
    out, proc = single_run
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['counts'] == {'frames': 7, 'labelled': 6, 'failed': 1}
    assert manifest['complete'] and manifest['num_shards'] == 4
    assert [f for f, _ in manifest['failed']] == ['scene0/0004']
    assert 'scene0/0004' in proc.stdout and '1 failed' in proc.stdout
    assert manifest['teacher']['type'] == 'MMSegTeacher'
    assert len(manifest['teacher']['weights_sha256']['tiny_dpt.pth']) == 64
    assert manifest['codec'] == {'type': 'SoftLabelCodec', 'topk': 3, 'prob_dtype': 'float16'}
    assert len(os.listdir(out / 'vis')) == 1
    store = SoftLabelStore(str(out))
    assert len(store) == 6 and 'scene0/0004' not in store
    record = store.get('scene0/0002')
    assert record.grid_shape == (36, 48) and record.image_shape == (36, 48)
    dense = record.decode_grid()
    np.testing.assert_allclose(dense.sum(-1), 1.0, atol=1e-5)
    # the stored labels are the teacher's: rerun it on that frame
    from mmengine.config import Config

    from d3l.datasets.rgbd import RGBDFolderDataset
    from d3l.registry import MODELS
    cfg = Config.fromfile(str(out.parent / 'cfg.py'))
    dataset = RGBDFolderDataset(data_root=str(out.parent / 'data'),
                                pipeline=[dict(type='LoadRGBD')])
    sample = dataset.prepare_data(dataset.frame_ids().index('scene0/0002'))
    probs = MODELS.build(cfg.teacher).label_frame(sample).numpy()
    np.testing.assert_array_equal(dense.argmax(-1), probs.argmax(0))
    expected = SoftLabelCodec(3).encode(
        __import__('torch').from_numpy(probs.reshape(150, -1).T))
    np.testing.assert_array_equal(np.asarray(record.indices), expected['indices'].numpy())


def test_two_processes_match_one(setup, single_run):
    root, write_config = setup
    out2 = root / 'double'
    port = 29500 + os.getpid() % 1000
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
           '--master_port', str(port), osp.join(REPO_ROOT, 'tools', 'generate_pseudo_labels.py'),
           write_config('cfg.py'), '--out', str(out2), '--launcher', 'pytorch']
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env_for(root),
                          cwd=REPO_ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert '2 process(es)' in proc.stdout
    assert_same_labels(records(str(single_run[0])), records(str(out2)))
    assert shard_digests(out2) == shard_digests(single_run[0])
    manifest = json.loads((out2 / 'manifest.json').read_text())
    assert manifest['counts'] == {'frames': 7, 'labelled': 6, 'failed': 1}
    # the manifest records each shard's sha256, as written by either rank
    assert {name: entry['sha256'] for name, entry in manifest['shards'].items()} == \
        shard_digests(out2)


def test_kill_and_resume(setup, single_run, capsys):
    root, write_config = setup
    config = write_config('slow.py', dataset='SlowRGBDFolderDataset', shard_size=1)
    out = root / 'killed'
    script = osp.join(REPO_ROOT, 'tools', 'generate_pseudo_labels.py')
    proc = subprocess.Popen([sys.executable, script, config, '--out', str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            env=env_for(root), cwd=REPO_ROOT)
    deadline = time.time() + 300
    while time.time() < deadline and len(list_shards(str(out))) < 2:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    written = len(list_shards(str(out)))
    assert 2 <= written < 7, 'the job should have been killed mid-way'
    # a partial shard as a kill during writing leaves it
    (out / 'shard_00006.npz.tmp-12345').write_bytes(b'PK\x03\x04 partial')
    manifest = json.loads((out / 'manifest.json').read_text())
    assert manifest['complete'] is False and manifest['counts'] is None

    tool_module = load_tool()
    sys.path.insert(0, str(root))  # the slow dataset's module, for custom_imports
    try:
        # without --resume the directory is refused
        with pytest.raises(tool_module.CLIError, match='--resume'):
            tool_module.main([config, '--out', str(out)])
        capsys.readouterr()
        # one torch thread, as the uninterrupted run (OMP_NUM_THREADS=1): the
        # teacher's float sums then match bit for bit
        threads = torch.get_num_threads()
        torch.set_num_threads(1)
        try:
            tool_module.main([config, '--out', str(out), '--resume'])
        finally:
            torch.set_num_threads(threads)
        resumed = capsys.readouterr().out
        assert f'keeps {written} complete shard(s)' in resumed
        assert not [f for f in os.listdir(out) if '.tmp' in f]
        assert len(list_shards(str(out))) == 7
        # no duplicates, nothing corrupt, same labels as an uninterrupted run
        frame_ids = [r.frame_id for r in iter_records(str(out))]
        assert len(frame_ids) == len(set(frame_ids)) == 6
        assert_same_labels(records(str(single_run[0])), records(str(out)))
        manifest = json.loads((out / 'manifest.json').read_text())
        assert manifest['complete'] and manifest['counts']['labelled'] == 6
        # resuming a finished directory does nothing
        tool_module.main([config, '--out', str(out), '--resume'])
        again = capsys.readouterr().out
        assert 'keeps 7 complete shard(s)' in again and '0 frames labelled now' in again
    finally:
        sys.path.remove(str(root))


def test_bad_settings_are_refused(setup, single_run):
    root, write_config = setup
    out, _ = single_run
    tool_module = load_tool()
    with pytest.raises(tool_module.CLIError, match='stride'):
        tool_module.main([write_config('stride2.py', stride=2), '--out', str(out), '--resume'])
    bad = root / 'no_teacher.py'
    bad.write_text("pseudo_label_cfg = dict(source=dict(type='RGBDFolderDataset'))\n")
    with pytest.raises(tool_module.CLIError, match='teacher'):
        tool_module.main([str(bad), '--out', str(root / 'x')])
    with pytest.raises(tool_module.CLIError, match='pseudo_label_cfg: stride'):
        tool_module.main([write_config('stride0.py', stride=0), '--out', str(root / 'y')])


def test_missing_checkpoint_is_a_clear_error(setup, tmp_path):
    root, write_config = setup
    text = open(write_config('cfg.py')).read().replace('tiny_dpt.pth', 'missing.pth')
    path = tmp_path / 'missing.py'
    path.write_text(text)
    tool_module = load_tool()
    with pytest.raises(tool_module.CLIError, match='missing.pth does not exist'):
        tool_module.main([str(path), '--out', str(tmp_path / 'o')])
    assert not (tmp_path / 'o').exists()  # nothing written before the error


# ----------------------------------------------------------------------------
# stopping a run: SIGTERM, and torchrun killed under its workers
# ----------------------------------------------------------------------------
@pytest.fixture(scope='module')
def slow_labels(setup):
    """A slow-dataset config with the fast ground-truth teacher, and the
    shards of an uninterrupted run of it."""
    root, _ = setup
    data = root / 'gt_data'
    make_rgbd_folder(str(data), num_frames=7, with_labels=True, height=12, width=16)
    config = root / 'slow_gt.py'
    config.write_text(
        "default_scope = 'd3l'\n"
        "custom_imports = dict(imports=['slow_dataset'], allow_failed_imports=False)\n"
        "teacher = dict(type='PrecomputedTeacher', num_classes=5)\n"
        f"pseudo_label_cfg = dict(source=dict(type='SlowRGBDFolderDataset', data_root="
        f"{str(data)!r}, pipeline=[dict(type='LoadRGBD')]), shard_size=1)\n")
    reference = root / 'slow_gt_reference'
    sys.path.insert(0, str(root))  # the slow dataset's module, for custom_imports
    try:
        load_tool().main([str(config), '--out', str(reference)])
    finally:
        sys.path.remove(str(root))
    return str(config), shard_digests(reference)


def wait_for_shards(out, count, proc, timeout=300):
    deadline = time.time() + timeout
    while time.time() < deadline and len(list_shards(str(out))) < count:
        assert proc.poll() is None, 'the run ended before it could be stopped'
        time.sleep(0.05)


def processes_writing(out):
    """Pids of the live (not zombie) processes whose command line names
    ``out`` (torchrun puts each worker in its own session)."""
    pids = []
    for entry in filter(str.isdigit, os.listdir('/proc')):
        try:
            with open(f'/proc/{entry}/cmdline', 'rb') as f:
                argv = f.read().split(b'\0')
            with open(f'/proc/{entry}/stat') as f:
                state = f.read().rsplit(')', 1)[1].split()[0]
        except (OSError, IndexError):
            continue
        if str(out).encode() in argv and state != 'Z':
            pids.append(int(entry))
    return pids


def assert_store_is_clean(out):
    from d3l.soft_labels import LOCK_NAME, verify_store
    assert not [f for f in os.listdir(out) if '.tmp' in f]
    assert not (out / LOCK_NAME).exists(), (out / LOCK_NAME).read_text()
    report = verify_store(str(out))
    assert report['bad'] == [] and report['good'], report


def test_sigterm_stops_cleanly(setup, slow_labels):
    root, _ = setup
    config, _ = slow_labels
    out = root / 'terminated'
    proc = subprocess.Popen([sys.executable, osp.join(REPO_ROOT, 'tools',
                                                      'generate_pseudo_labels.py'), config,
                             '--out', str(out)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env_for(root), cwd=REPO_ROOT)
    wait_for_shards(out, 1, proc)
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 128 + signal.SIGTERM
    assert len(list_shards(str(out))) < 7
    assert_store_is_clean(out)  # no partial shard, no lock left behind


@pytest.mark.skipif(not osp.isdir('/proc'), reason='needs /proc to find the workers')
def test_killed_torchrun_workers_stop_and_the_run_resumes(setup, slow_labels):
    root, _ = setup
    config, reference = slow_labels
    out = root / 'orphaned'
    port = 29700 + os.getpid() % 1000
    proc = subprocess.Popen(
        [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2',
         '--master_port', str(port), osp.join(REPO_ROOT, 'tools', 'generate_pseudo_labels.py'),
         config, '--out', str(out), '--launcher', 'pytorch'],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env_for(root), cwd=REPO_ROOT)
    wait_for_shards(out, 1, proc)
    workers = [pid for pid in processes_writing(out) if pid != proc.pid]
    assert len(workers) == 2
    proc.send_signal(signal.SIGKILL)  # torchrun only: its workers are orphaned
    proc.wait()
    written = len(list_shards(str(out)))
    deadline = time.time() + 60
    while time.time() < deadline and processes_writing(out):
        time.sleep(0.1)
    assert processes_writing(out) == [], 'orphaned workers kept running'
    # at most the shard each worker was committing when torchrun died
    assert len(list_shards(str(out))) <= min(written + 2, 6)
    assert_store_is_clean(out)
    tool_module = load_tool()
    sys.path.insert(0, str(root))
    try:
        tool_module.main([config, '--out', str(out), '--resume'])
    finally:
        sys.path.remove(str(root))
    assert shard_digests(out) == reference
