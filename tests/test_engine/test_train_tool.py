"""tools/train.py and tools/test.py end to end on a tiny generated dataset."""
import json
import os
import os.path as osp
import subprocess
import sys
import textwrap

import pytest
import torch

from d3l.utils.compat import safe_torch_load

CONFIG = 'configs/debug/segmentor_scratch_shapes_pointmlp.py'
SMALL = ['train_dataloader.dataset.num_samples=8', 'val_dataloader.dataset.num_samples=4',
         'default_hooks.logger.interval=1']


def _log_text(work_dir):
    texts = []
    for root, _, files in os.walk(work_dir):
        texts += [open(osp.join(root, f)).read() for f in files if f.endswith('.log')]
    return '\n'.join(texts)


KILLER = textwrap.dedent('''
    import os
    from mmengine.hooks import Hook
    from d3l.registry import HOOKS

    @HOOKS.register_module()
    class KillAfterEpochHook(Hook):
        """Dies like a killed job right after the checkpoint of an epoch."""
        priority = 'LOWEST'

        def __init__(self, epoch):
            self.epoch = epoch

        def after_train_epoch(self, runner):
            if runner.epoch + 1 == self.epoch:
                os._exit(9)
''')


def test_killed_training_resumes_where_it_stopped(tool, tmp_path):
    (tmp_path / 'killer.py').write_text(KILLER)
    config = tmp_path / 'killed.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{osp.abspath(CONFIG)}']
        custom_imports = dict(imports=['killer'], allow_failed_imports=False)
        custom_hooks = [dict(type='KillAfterEpochHook', epoch=1)]
    '''))
    env = {'PYTHONPATH': f'{tmp_path}{os.pathsep}{os.getcwd()}'}
    options = ['--cfg-options', 'train_cfg.max_epochs=2', *SMALL]

    reference = tmp_path / 'uninterrupted'
    tool('train.py', CONFIG, '--work-dir', reference, *options)

    work_dir = tmp_path / 'killed'
    proc = tool('train.py', config, '--work-dir', work_dir, *options, env=env, check=False)
    assert proc.returncode == 9
    assert (work_dir / 'epoch_1.pth').is_file() and not (work_dir / 'epoch_2.pth').exists()

    tool('train.py', config, '--work-dir', work_dir, '--resume', *options, 'custom_hooks=[]',
         env=env)
    assert 'resumed epoch: 1, iter: 4' in _log_text(work_dir)
    resumed = safe_torch_load(work_dir / 'epoch_2.pth')
    expected = safe_torch_load(reference / 'epoch_2.pth')
    assert resumed['meta']['iter'] == expected['meta']['iter'] == 8
    # same data order, schedule and optimizer state as the uninterrupted run
    for key, value in expected['state_dict'].items():
        assert torch.allclose(resumed['state_dict'][key].float(), value.float(), atol=1e-6), key


def test_resume_from_explicit_checkpoint_and_test_tool(tool, tmp_path):
    work_dir = tmp_path / 'run'
    tool('train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
         'train_cfg.max_epochs=1', *SMALL)
    out = tmp_path / 'eval'
    tool('test.py', CONFIG, work_dir / 'epoch_1.pth', '--out', out, '--work-dir',
         tmp_path / 'test_logs', '--cfg-options', *SMALL[1:])
    metrics = json.loads((out / 'metrics.json').read_text())
    assert 0 <= metrics['mIoU'] <= 100
    classes = ('box', 'cylinder', 'sphere', 'cone', 'torus')
    assert all(f'IoU.{c}' in metrics for c in classes)
    table = (out / 'per_class.txt').read_text()
    assert all(c in table for c in classes) and 'mIoU' in table


@pytest.mark.parametrize('args, message', [
    (['configs/does_not_exist.py'], 'configs/does_not_exist.py does not exist'),
    ([CONFIG, '--cfg-options', 'model.backbone.channel=3'],
     "did you mean model.backbone.channels"),
    ([CONFIG, '--cfg-options', 'model.backbone.type=PointMLPX'],
     "model.backbone.type = 'PointMLPX' is not a registered type"),
])
def test_bad_input_gives_one_line_error(tool, tmp_path, args, message):
    work_dir = tmp_path / 'untouched'
    proc = tool('train.py', *args, '--work-dir', work_dir, check=False)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert 'Traceback' not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not work_dir.exists()


def test_unknown_type_in_config_file_names_file_and_key(tool, tmp_path):
    config = tmp_path / 'bad_type.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{osp.abspath(CONFIG)}']
        val_evaluator = dict(type='NoSuchMetric')
    '''))
    proc = tool('train.py', config, '--work-dir', tmp_path / 'wd', check=False)
    assert proc.returncode == 2
    assert str(config) in proc.stderr and 'val_evaluator.type' in proc.stderr


@pytest.mark.parametrize('damage', ['truncate', 'garbage'])
def test_resume_with_corrupt_checkpoint_leaves_work_dir_untouched(tool, tmp_path, damage):
    work_dir = tmp_path / 'run'
    tool('train.py', CONFIG, '--work-dir', work_dir, '--cfg-options',
         'train_cfg.max_epochs=1', *SMALL)
    checkpoint = work_dir / 'epoch_1.pth'
    data = checkpoint.read_bytes()
    checkpoint.write_bytes(data[: len(data) // 3] if damage == 'truncate' else b'not a zip' * 50)
    before = sorted(os.listdir(work_dir))
    for resume in (['--resume'], ['--resume', str(checkpoint)]):
        proc = tool('train.py', CONFIG, '--work-dir', work_dir, *resume, check=False)
        assert proc.returncode == 2, proc.stderr
        # (the work dir's path holds the word 'corrupt' too: match the message itself)
        expected = 'is corrupt or truncated' if damage == 'truncate' else \
            'is not a checkpoint: neither a torch zip archive nor a pickle'
        assert 'epoch_1.pth' in proc.stderr and expected in proc.stderr, proc.stderr
        assert 'Traceback' not in proc.stderr
    assert sorted(os.listdir(work_dir)) == before


def test_two_process_gloo_training(tmp_path):
    """torchrun with 2 CPU processes: both ranks train on disjoint halves of
    the data, gradients are synchronised, rank 0 alone saves."""
    plugin = tmp_path / 'rank_probe.py'
    plugin.write_text(textwrap.dedent('''
        import json, os
        import torch
        from mmengine.hooks import Hook
        from d3l.registry import HOOKS

        @HOOKS.register_module()
        class RankProbeHook(Hook):
            def __init__(self, out_dir):
                self.out_dir = out_dir
                self.seen = []

            def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
                self.seen += [s['metainfo']['sample_idx'] for s in data_batch['data_samples']]

            def after_train(self, runner):
                model = runner.model.module if hasattr(runner.model, 'module') else runner.model
                checksum = sum(float(p.double().sum()) for p in model.parameters())
                rank = torch.distributed.get_rank()
                with open(os.path.join(self.out_dir, f'rank{rank}.json'), 'w') as f:
                    json.dump({'seen': self.seen, 'checksum': checksum,
                               'world_size': torch.distributed.get_world_size()}, f)
    '''))
    config = tmp_path / 'dist_config.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{osp.abspath(CONFIG)}']
        custom_imports = dict(imports=['rank_probe'], allow_failed_imports=False)
        custom_hooks = [dict(type='RankProbeHook', out_dir='{tmp_path}')]
        train_dataloader = dict(dataset=dict(num_samples=8), batch_size=2)
        train_cfg = dict(max_epochs=1, val_interval=5)
    '''))
    env = dict(os.environ, PYTHONPATH=f'{tmp_path}{os.pathsep}{os.getcwd()}',
               OMP_NUM_THREADS='1')
    work_dir = tmp_path / 'work'
    cmd = [sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node=2',
           '--master_port=29613', 'tools/train.py', str(config), '--launcher', 'pytorch',
           '--work-dir', str(work_dir)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300,
                          cwd=osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))
    assert proc.returncode == 0, proc.stderr[-3000:]
    ranks = [json.loads((tmp_path / f'rank{r}.json').read_text()) for r in (0, 1)]
    assert all(r['world_size'] == 2 for r in ranks)
    seen0, seen1 = set(ranks[0]['seen']), set(ranks[1]['seen'])
    assert len(ranks[0]['seen']) == len(ranks[1]['seen']) == 4
    assert not seen0 & seen1 and seen0 | seen1 == set(range(8))
    assert ranks[0]['checksum'] == pytest.approx(ranks[1]['checksum'], rel=1e-6)
    assert (work_dir / 'epoch_1.pth').is_file()
    assert len([d for d in os.listdir(work_dir) if d[:8].isdigit()]) == 1
