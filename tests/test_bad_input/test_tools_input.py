"""Bad input to tools/train.py, tools/test.py and tools/export_backbone.py:
checkpoints that do not fit, configs with typos or wrong value types, output
paths that are files, a file that is not a checkpoint. The tools run in
process through ``run_cli`` (one line on stderr, exit 2), so the cases stay
fast; each checks that nothing on disk changed."""
import copy
import os.path as osp
import textwrap

import pytest
from conftest import REPO_ROOT, tool_module
from disk_state import snapshot
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner.checkpoint import save_checkpoint

from d3l.engine.cli import CLIError, run_cli
from d3l.registry import MODELS

CONFIG = osp.join(REPO_ROOT, 'configs/debug/segmentor_scratch_shapes_pointmlp.py')
SMALL = ['test_dataloader.dataset.num_samples=2', 'train_dataloader.dataset.num_samples=2',
         'val_dataloader.dataset.num_samples=2']


def _tool(name):
    return tool_module(name)


def _exit_line(capsys, main, argv):
    """Run a tool's main as the command line does; returns its one stderr line."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        run_cli(lambda: main(argv))
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert 'Traceback' not in err and len(err.strip().splitlines()) == 1, err
    return err


def _checkpoint(path, model_cfg):
    init_default_scope('d3l')
    model = MODELS.build(copy.deepcopy(model_cfg))
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, str(path))
    return str(path)


def _model_cfg(**changes):
    cfg = Config.fromfile(CONFIG).model.to_dict()
    for dotted, value in changes.items():
        node = cfg
        *parents, last = dotted.split('.')
        for part in parents:
            node = node[part]
        node[last] = value
    return cfg


# --------------------------------------------------------------------------- tools/test.py
@pytest.mark.parametrize('changes,message', [
    ({'model.backbone': dict(type='PointMLP', in_channels=6, channels=(32, 64, 64))},
     r'missing keys .*unexpected keys|unexpected keys'),
    ({'model.decode_head.num_classes': 7},
     r'heads that do not fit \(another class count\?\): decode_head\.classifier\.weight'),
])
def test_test_tool_refuses_a_checkpoint_that_does_not_fill_the_model(tmp_path, capsys, changes,
                                                                    message):
    other = {k.split('.', 1)[1]: v for k, v in changes.items()}
    ckpt = _checkpoint(tmp_path / 'other.pth', _model_cfg(**other))
    out = tmp_path / 'eval'
    before = snapshot(tmp_path)
    err = _exit_line(capsys, _tool('test').main,
                     [CONFIG, ckpt, '--out', str(out), '--work-dir', str(tmp_path / 'logs'),
                      '--cfg-options', *SMALL])
    assert 'other.pth does not fit the model Segmentor' in err
    import re
    assert re.search(message, err), err
    assert not out.exists()  # no metrics.json of a random network
    assert {k: v for k, v in snapshot(tmp_path).items() if not k.startswith('logs')} == before


TTA = """
tta_pipeline = [dict(type='mmcv.TestTimeAug', transforms=[
    [dict(type='RandomRotate', angle_range=(0.0, 0.0), tilt_range=(0.0, 0.0))] * 2,
    [dict(type='PackPointInputs', feat_keys=('colors', 'normals'))]])]
"""


def test_test_tool_loads_the_matching_checkpoint_with_and_without_tta(tmp_path):
    ckpt = _checkpoint(tmp_path / 'same.pth', _model_cfg())
    config = _write_config(tmp_path, TTA)
    test = _tool('test').main
    plain = test([config, ckpt, '--work-dir', str(tmp_path / 'logs'), '--cfg-options', *SMALL])
    # two identical views vote for what the plain model predicts: the voting
    # model holds the checkpoint's weights too (not a fresh initialisation)
    voted = test([config, ckpt, '--work-dir', str(tmp_path / 'logs'), '--tta',
                  '--cfg-options', *SMALL])
    assert 0 <= plain['mIoU'] <= 100 and voted == pytest.approx(plain, nan_ok=True)


@pytest.mark.parametrize('kind', ['file_out', 'random_bytes'])
def test_test_tool_bad_paths(tmp_path, capsys, kind):
    ckpt = tmp_path / 'model.pth'
    out = tmp_path / 'results'
    if kind == 'file_out':
        _checkpoint(ckpt, _model_cfg())
        out.write_text('not a folder')
        expected = f'--out {out} is a file, not a directory'
    else:
        ckpt.write_bytes(bytes(range(7, 256)) * 40)
        expected = f'{ckpt} is not a checkpoint: neither a torch zip archive nor a pickle'
    before = snapshot(tmp_path)
    err = _exit_line(capsys, _tool('test').main, [CONFIG, str(ckpt), '--out', str(out),
                                                  '--work-dir', str(tmp_path / 'logs')])
    assert expected in err and 'unsafe' not in err
    assert snapshot(tmp_path) == before


# --------------------------------------------------------------------------- tools/train.py
def _write_config(tmp_path, body, name='cfg.py'):
    # MMEngine names a Runner's logger and message hub after the config file and the second:
    # two Runners of one file within a second would share them
    config = tmp_path / name
    config.write_text(f"_base_ = ['{CONFIG}']\n" + textwrap.dedent(body))
    return str(config)


@pytest.mark.parametrize('body,options,message', [
    ('trian_cfg = dict(max_epochs=1)\n', [],
     "unknown top-level key 'trian_cfg' (nothing reads it); did you mean 'train_cfg'?"),
    ('optim_wrappers = dict()\n', [], "did you mean 'optim_wrapper'?"),
    ('', ['train_cfg.max_epochs=two'], "train_cfg.max_epochs = 'two' must be a whole number"),
    ('', ['train_dataloader.batch_size=0.5'], 'train_dataloader.batch_size = 0.5 must be'),
    ('', ['+model.backbone.in_channel=6'],
     "model.backbone.in_channel: PointMLP takes no argument 'in_channel' (did you mean "
     "'in_channels'?)"),
])
def test_train_tool_config_mistakes_are_one_line_errors(tmp_path, capsys, body, options, message):
    config = _write_config(tmp_path, body)
    work_dir = tmp_path / 'wd'
    before = snapshot(tmp_path)
    argv = [config, '--work-dir', str(work_dir)] + (['--cfg-options', *options] if options else [])
    err = _exit_line(capsys, _tool('train').main, argv)
    assert message in err and 'cfg.py' in err
    assert not work_dir.exists() and snapshot(tmp_path) == before


def test_load_from_of_another_architecture_fails_unless_allowed(tmp_path, capsys):
    # a one-layer MLP's checkpoint: the config's second layer is not in it
    shallower = dict(type='PointMLP', in_channels=6, channels=(32,))
    ckpt = _checkpoint(tmp_path / 'pretrain.pth', _model_cfg(**{'backbone': shallower}))
    train = _tool('train').main
    config = _write_config(tmp_path, f"load_from = '{ckpt}'\nmax_epochs = 1\n"
                                     'train_cfg = dict(max_epochs=1)\n')
    argv = [config, '--work-dir', str(tmp_path / 'wd'), '--cfg-options', *SMALL]
    err = _exit_line(capsys, train, argv)
    assert 'pretrain.pth fills 7 of the 14 backbone tensors of Segmentor' in err
    assert "allow_partial = '<reason>'" in err
    assert not (tmp_path / 'wd' / 'epoch_1.pth').exists()
    # allowed on purpose: trains, and the log says why and what was left out
    allowed = _write_config(tmp_path, f"load_from = '{ckpt}'\nmax_epochs = 1\n"
                                      "train_cfg = dict(max_epochs=1)\n"
                                      "allow_partial = 'last layer re-initialised on purpose'\n",
                            name='cfg_allowed.py')
    train([allowed, '--work-dir', str(tmp_path / 'wd2'), '--cfg-options', *SMALL])
    assert (tmp_path / 'wd2' / 'epoch_1.pth').is_file()
    log = ''.join(p.read_text() for p in (tmp_path / 'wd2').rglob('*.log'))
    assert 'partial weight transfer allowed (last layer re-initialised on purpose)' in log
    assert 'backbone 7/14 tensors loaded' in log  # 2 of the 3 layers' (weight, bias, BN)
    assert 'not in the checkpoint: backbone.mlp.3.weight' in log


# --------------------------------------------------------------------------- export_backbone
def _pretrain_checkpoint(tmp_path):
    return _checkpoint(tmp_path / 'pretrain.pth', _model_cfg())


def test_export_backbone_refuses_to_overwrite_its_input(tmp_path, capsys):
    ckpt = _pretrain_checkpoint(tmp_path)
    before = snapshot(tmp_path)
    export = _tool('export_backbone').main
    err = _exit_line(capsys, export, [ckpt, ckpt])
    assert f'OUT {ckpt} is the input checkpoint' in err
    link = tmp_path / 'alias.pth'
    link.symlink_to(ckpt)  # the same file under another name
    err = _exit_line(capsys, export, [ckpt, str(link)])
    assert 'is the input checkpoint' in err
    assert {k: v for k, v in snapshot(tmp_path).items() if k != 'alias.pth'} == before


def test_export_backbone_out_directory_is_a_clear_error_leaving_nothing(tmp_path, capsys):
    ckpt = _pretrain_checkpoint(tmp_path)
    out = tmp_path / 'exports'
    out.mkdir()
    before = snapshot(tmp_path)
    err = _exit_line(capsys, _tool('export_backbone').main, [ckpt, str(out)])
    assert f'OUT {out} is a directory' in err
    assert snapshot(tmp_path) == before and not list(out.iterdir())
    assert not list(tmp_path.glob('*.tmp-*'))
    with pytest.raises(CLIError, match='is a file, so the folder cannot be made'):
        _tool('export_backbone').main([ckpt, str(tmp_path / 'pretrain.pth' / 'x.pth')])


# --------------------------------------------------------------- errors raised inside the Runner
def _scannet_config(tmp_path, dataset_options):
    from downstream_data import make_scannet_root
    root = make_scannet_root(str(tmp_path / 'scannet'),
                             {'train': ['scene0000_00', 'scene0001_00'], 'val': ['scene0100_00']},
                             num_points=40)
    config = tmp_path / 'scannet_cfg.py'
    config.write_text(textwrap.dedent(f'''
        _base_ = ['{REPO_ROOT}/configs/_base_/default_runtime.py',
                  '{REPO_ROOT}/configs/_base_/schedules/adam.py',
                  '{REPO_ROOT}/configs/_base_/datasets/scannet.py']
        model = dict(type='Segmentor',
                     backbone=dict(type='PointMLP', in_channels=6, channels=(8,)),
                     decode_head=dict(type='SegHead', num_classes=20))
        train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
                                dataset=dict(data_root='{root}', {dataset_options}))
        val_dataloader = dict(num_workers=0, persistent_workers=False,
                              dataset=dict(data_root='{root}'))
        test_dataloader = val_dataloader
        train_cfg = dict(max_epochs=1, val_interval=1)
    '''))
    return str(config), root


@pytest.mark.parametrize('split', ['la', 'lr'])
def test_la_lr_errors_inside_the_runner_are_one_line(tmp_path, capsys, split):
    if split == 'la':
        import numpy as np
        import torch
        la_file = tmp_path / 'points20'
        torch.save({'scene0000_00': np.array([1, 2])}, str(la_file))
        options, expected = f"la_file='{la_file}'", 'has no annotated points for 1 scene(s)'
    else:
        lr_file = tmp_path / 'lr.txt'
        lr_file.write_text('scene0000_00\nscene0999_00\n')
        options, expected = f"lr_file='{lr_file}'", 'names 1 scene(s) that are not in'
    config, root = _scannet_config(tmp_path, options)
    before = snapshot(root)
    err = _exit_line(capsys, _tool('train').main, [config, '--work-dir', str(tmp_path / 'wd')])
    assert expected in err and str(tmp_path / ('points20' if split == 'la' else 'lr.txt')) in err
    assert snapshot(root) == before and not list((tmp_path / 'wd').glob('*.pth'))


def test_unexpected_dataset_argument_inside_the_runner_is_one_line(tmp_path, capsys):
    # RGB-D datasets take **kwargs for their base class, so only the build sees the typo
    config = _write_config(tmp_path, f"""
        train_dataloader = dict(dataset=dict(
            _delete_=True, type='RGBDFolderDataset', data_root='{tmp_path}', skip_bad_frame=1))
    """)
    err = _exit_line(capsys, _tool('train').main, [config, '--work-dir', str(tmp_path / 'wd')])
    assert ('RGBDFolderDataset got unexpected arguments skip_bad_frame (did you mean '
            'skip_bad_frames?)') in err
