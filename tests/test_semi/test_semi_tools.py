"""Semi-supervised fine-tuning and confident pseudo-labels through the tools."""
import json
import os
import os.path as osp
import textwrap

import numpy as np
import pytest
import torch
from conftest import tool_module
from mmengine.registry import DefaultScope

from d3l.datasets.semi import num_kept
from d3l.utils.compat import safe_torch_load

MT = 'configs/debug/meanteacher-entmin_scratch_shapes_pointmlp.py'
ENTMIN = 'configs/debug/entmin_scratch_shapes_pointmlp.py'
PSEUDO = 'configs/debug/pseudolabel-entmin_scratch_shapes_pointmlp.py'
SMALL = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.labeled.num_samples=4',
         'train_dataloader.dataset.unlabeled.num_samples=4',
         'val_dataloader.dataset.num_samples=2', 'default_hooks.logger.interval=1']


def _tool_main():
    """``main`` of tools/make_confident_pseudo_labels.py, run in this process."""
    return tool_module('make_confident_pseudo_labels').main


def _log(work_dir):
    return '\n'.join(open(osp.join(root, f)).read() for root, _, files in os.walk(work_dir)
                     for f in files if f.endswith('.log'))


@pytest.mark.parametrize('config, terms', [
    (MT, ['loss_seg', 'loss_entropy', 'loss_consistency', 'cons_matched', 'w_consistency',
          'ema_alpha']),
    (ENTMIN, ['loss_seg', 'loss_entropy']),
])
def test_semi_supervised_fine_tuning_runs_through_the_tools(tool, tmp_path, config, terms):
    work_dir = tmp_path / 'run'
    tool('train.py', config, '--work-dir', work_dir, '--cfg-options', *SMALL)
    log = _log(work_dir)
    assert 'Epoch(train) [1][2/2]' in log and 'mIoU' in log
    assert all(f'{term}: ' in log for term in terms), log[-2000:]
    checkpoint = safe_torch_load(work_dir / 'epoch_1.pth')
    state = checkpoint['state_dict']
    has_teacher = any(k.startswith('teacher.') for k in state)
    assert has_teacher == (config == MT)
    if has_teacher:
        assert int(state['ema_steps']) == 2
        assert not torch.equal(state['teacher.decode_head.classifier.weight'],
                               state['student.decode_head.classifier.weight'])
        out = tmp_path / 'eval_teacher'
        tool('test.py', config, work_dir / 'epoch_1.pth', '--out', out, '--work-dir',
             tmp_path / 'test_logs', '--cfg-options', 'model.test_with=teacher',
             'val_dataloader.dataset.num_samples=2')
        assert 0 <= json.loads((out / 'metrics.json').read_text())['mIoU'] <= 100


def _pseudo_config(tmp_path, out_dir, num_samples=3):
    config = tmp_path / 'pseudo.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{osp.abspath(PSEUDO)}']
        unlabeled_scenes = dict(_base_.unlabeled_scenes, num_samples={num_samples})
        pseudo_label = dict(dataset=dict(num_samples={num_samples}), out_dir='{out_dir}')
        train_dataloader = dict(dataset=dict(
            labeled=[dict(_base_.train_dataloader.dataset.labeled[0], num_samples=4),
                     dict(type='PseudoLabelDataset', dataset=unlabeled_scenes,
                          label_root='{out_dir}')],
            unlabeled=unlabeled_scenes))
        train_cfg = dict(max_epochs=1)
        val_dataloader = dict(dataset=dict(num_samples=2))
    '''))
    return config


def _checkpoint(tmp_path):
    from d3l.engine.cli import load_config
    from d3l.registry import MODELS
    cfg = load_config('configs/debug/segmentor_scratch_shapes_pointmlp.py')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('d3l'):
        model = MODELS.build(cfg.model)
    path = tmp_path / 'supervised.pth'
    torch.save({'state_dict': model.state_dict(), 'meta': {}}, path)
    return model.eval(), path


def test_pseudo_label_tool_writes_resumes_and_feeds_training(tool, tmp_path):
    from d3l.datasets import point_collate
    from d3l.datasets.semi import select_confident
    from d3l.datasets.synthetic_shapes import SyntheticShapesDataset
    model, checkpoint = _checkpoint(tmp_path)
    out_dir = tmp_path / 'pseudo_labels'
    config = _pseudo_config(tmp_path, out_dir)

    proc = tool('make_confident_pseudo_labels.py', config, checkpoint)
    assert '3 scenes labelled, 0 skipped' in proc.stdout
    with DefaultScope.overwrite_default_scope('d3l'):
        scenes = SyntheticShapesDataset(task='seg', num_samples=3, num_points=512, seed=100,
                                        pipeline=[dict(type='PackPointInputs',
                                                       feat_keys=('colors', 'normals'))])
    kept = 0
    for i in range(3):
        written = np.load(out_dir / f'sample_{i:06d}' / 'segment20.npy')
        assert written.dtype == np.int16 and written.shape == (512,)
        data = model.data_preprocessor(point_collate([scenes[i]]))
        probs = model(data['inputs'], mode='tensor').softmax(1).detach()
        confidence, pred = probs.max(1)
        expected = select_confident(pred.numpy(), confidence.numpy(), 0.2)
        assert np.array_equal(np.where(written < 0, 255, written), expected)
        for c in np.unique(pred.numpy()):
            assert (written == c).sum() == num_kept(int((pred == c).sum()), 0.2)
        kept += int((written >= 0).sum())
    meta = json.loads((out_dir / 'meta.json').read_text())
    assert meta['kept_points'] == kept == sum(meta['kept_per_class'].values())
    assert meta['scenes'] == 3 and meta['ratio'] == 0.2

    # resumable: done scenes are skipped, a missing one is redone
    first = out_dir / 'sample_000001' / 'segment20.npy'
    stamp = os.stat(out_dir / 'sample_000000' / 'segment20.npy').st_mtime_ns
    first.unlink()
    meta = _tool_main()([str(config), str(checkpoint)])
    assert (meta['written'], meta['skipped']) == (1, 2)
    assert first.is_file()
    assert os.stat(out_dir / 'sample_000000' / 'segment20.npy').st_mtime_ns == stamp

    # training combines labelled, pseudo-labelled and unlabelled scenes
    work_dir = tmp_path / 'train'
    tool('train.py', config, '--work-dir', work_dir, '--cfg-options',
         'default_hooks.logger.interval=1')
    log = _log(work_dir)
    assert 'loss_entropy: ' in log and 'Epoch(train) [1][4/4]' in log  # (4 + 3) / 2


def test_pseudo_label_tool_errors(tmp_path):
    from d3l.engine.cli import CLIError
    main = _tool_main()
    _, checkpoint = _checkpoint(tmp_path)
    plain = 'configs/debug/segmentor_scratch_shapes_pointmlp.py'
    with pytest.raises(CLIError, match='has no pseudo_label'):
        main([plain, str(checkpoint)])
    config = tmp_path / 'inside.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{osp.abspath(PSEUDO)}']
        pseudo_label = dict(dataset=dict(data_root='{tmp_path}'), out_dir='{tmp_path}/labels')
    '''))
    with pytest.raises(CLIError, match='never beside ground truth'):
        main([str(config), str(checkpoint)])
    assert not (tmp_path / 'labels').exists()
    # weights of another model are refused, not silently half-loaded
    other = tmp_path / 'other.pth'
    torch.save({'state_dict': {'backbone.x': torch.zeros(1)}}, other)
    with pytest.raises(CLIError, match='weights are missing'):
        main([str(_pseudo_config(tmp_path, tmp_path / 'pl')), str(other)])
    with pytest.raises(CLIError, match='ratio'):
        main([str(_pseudo_config(tmp_path, tmp_path / 'pl')), str(checkpoint), '--ratio', '0'])
