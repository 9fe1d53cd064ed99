"""d3l.engine.cli_config: loading a config for a tool and the checks before
the Runner (``--cfg-options`` keys, top-level keys, value kinds)."""
import os.path as osp
import textwrap

import pytest
from conftest import REPO_ROOT
from mmengine.config import Config

from d3l.engine.cli_config import (
    check_cfg_options,
    check_config_values,
    check_runner_config,
    check_top_level_keys,
    load_config,
)
from d3l.engine.cli_errors import CLIError


def _cfg(**keys):
    return Config(dict(keys))


def test_load_config_names_the_missing_or_broken_file(tmp_path):
    with pytest.raises(CLIError, match=f'config file {tmp_path}/none.py does not exist'):
        load_config(str(tmp_path / 'none.py'))
    broken = tmp_path / 'broken.py'
    broken.write_text('model = dict(\n')
    with pytest.raises(CLIError, match=f'cannot load config {broken}: SyntaxError'):
        load_config(str(broken))


def test_load_config_merges_existing_option_keys_and_names_itself(tmp_path):
    path = tmp_path / 'my_cfg.py'
    path.write_text("train_cfg = dict(max_epochs=2)\nmodel = dict(type='M', layers=[dict(a=1)])\n")
    cfg = load_config(str(path), {'train_cfg.max_epochs': 5, 'model.layers.0.a': 7,
                                  '+model.extra': 3})
    assert cfg.train_cfg.max_epochs == 5 and cfg.model.layers[0]['a'] == 7
    assert cfg.model.extra == 3 and cfg.config_name == 'my_cfg'


def test_check_cfg_options_rejects_a_key_the_config_lacks_with_a_hint():
    cfg = _cfg(train_cfg=dict(max_epochs=2))
    with pytest.raises(CLIError) as err:
        check_cfg_options(cfg, {'train_cfg.max_epoch': 3}, 'a/cfg.py')
    message = str(err.value)
    assert "'max_epoch' is not in train_cfg of a/cfg.py" in message
    assert 'did you mean train_cfg.max_epochs?' in message and 'prefix the key with "+"' in message
    # '+' adds a key on purpose; the '+' is stripped for the merge
    assert check_cfg_options(cfg, {'+train_cfg.max_epoch': 3}) == {'train_cfg.max_epoch': 3}


@pytest.mark.parametrize('key,closest', [('trian_cfg', 'train_cfg'),
                                         ('optim_wrappers', 'optim_wrapper'),
                                         ('defualt_hooks', 'default_hooks'),
                                         ('extra_dataloader', None)])
def test_top_level_typos_are_errors_naming_the_file_and_closest_key(key, closest):
    with pytest.raises(CLIError) as err:
        check_top_level_keys(_cfg(**{key: dict()}), 'configs/x.py')
    message = str(err.value)
    assert message.startswith(f"configs/x.py: unknown top-level key '{key}'")
    if closest:
        assert f"did you mean '{closest}'?" in message


def test_top_level_helper_variables_pass():
    check_top_level_keys(_cfg(num_classes=20, la_train_pipeline=[], _private=1, model=dict(),
                              train_cfg=dict()), 'configs/x.py')


@pytest.mark.parametrize('dotted,value,expected', [
    ('train_cfg.max_epochs', 'two', 'a whole number >= 1'),
    ('train_cfg.max_epochs', 2.0, 'a whole number >= 1'),
    ('train_dataloader.num_workers', -1, 'a whole number >= 0'),
    ('default_hooks.checkpoint.interval', 0, 'a whole number (-1 = never)'),
    ('optim_wrapper.optimizer.lr', True, 'a number >= 0'),
])
def test_config_values_of_the_wrong_kind_name_the_key(dotted, value, expected):
    first, *rest = dotted.split('.')
    node = value
    for part in reversed(rest):
        node = {part: node}
    with pytest.raises(CLIError, match=f'x.py: {dotted} = {value!r} must be '
                                       f'{expected.replace("(", "[(]").replace(")", "[)]")}'):
        check_config_values(_cfg(**{first: node}), 'x.py')


def test_config_values_of_the_right_kind_pass():
    check_config_values(_cfg(train_cfg=dict(max_epochs=3, val_interval=1),
                             train_dataloader=dict(batch_size=2, num_workers=0),
                             optim_wrapper=dict(optimizer=dict(lr=1e-3, weight_decay=0)),
                             default_hooks=dict(checkpoint=dict(interval=-1))), 'x.py')


# ------------------------------------------------- mmseg configs (issue 12 report)
def _mmseg_config(tmp_path, body, name='teacher_cfg.py'):
    path = tmp_path / name
    base = osp.join(REPO_ROOT, 'configs/demo/dpt-hybrid_scratch_synthetic-corpus_seg2d.py')
    path.write_text(f'_base_ = [{base!r}]\n' + textwrap.dedent(body))
    return str(path)


MMSEG_KEYS = """
norm_cfg = dict(type='BN', requires_grad=True)
optim_wrapper = dict(
    _delete_=True, type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.01),
    paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1),
                                    'decode_head': dict(lr_mult=4.0, decay_mult=0.0)}))
model = dict(backbone=dict(stem_norm_cfg=norm_cfg), decode_head=dict(norm_cfg=norm_cfg))
"""


def test_mmseg_paramwise_cfg_and_trainable_bn_are_accepted(tmp_path):
    # reported as rejected (not reproduced): mmcv's norm_cfg with requires_grad and
    # MMEngine's paramwise_cfg custom_keys in an mmseg-scoped config
    path = _mmseg_config(tmp_path, MMSEG_KEYS)
    cfg = load_config(path, {'optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult': 0.2,
                             'model.decode_head.norm_cfg.requires_grad': False})
    check_runner_config(cfg, path)
    assert cfg.default_scope == 'mmseg' and cfg.optim_wrapper.type == 'OptimWrapper'
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys == {
        'backbone': dict(lr_mult=0.2), 'decode_head': dict(lr_mult=4.0, decay_mult=0.0)}
    assert cfg.model.backbone.stem_norm_cfg == dict(type='BN', requires_grad=True)
    assert cfg.model.decode_head.norm_cfg == dict(type='BN', requires_grad=False)


@pytest.mark.parametrize('body,message', [
    (MMSEG_KEYS.replace('optim_wrapper = ', 'optim_wraper = '),
     "unknown top-level key 'optim_wraper' (nothing reads it); did you mean 'optim_wrapper'?"),
    (MMSEG_KEYS.replace("norm_cfg = dict(type='BN',", "norm_cfg = dict(type='BNN',"),
     "norm_cfg.type = 'BNN' is not a registered type"),
])
def test_mmseg_config_mistakes_still_name_the_file(tmp_path, body, message):
    path = _mmseg_config(tmp_path, body)
    with pytest.raises(CLIError) as err:
        check_runner_config(load_config(path), path)
    assert str(err.value).startswith(f'{path}: ') and message in str(err.value)


def test_mmseg_option_for_a_key_the_config_lacks_needs_a_plus(tmp_path):
    # the shipped teacher's norm_cfg is dict(type='BN'): requires_grad is a new key
    path = _mmseg_config(tmp_path, '')
    with pytest.raises(CLIError, match="'requires_grad' is not in model.decode_head.norm_cfg of "
                                       f'{path}'):
        load_config(path, {'model.decode_head.norm_cfg.requires_grad': True})
    cfg = load_config(path, {'+model.decode_head.norm_cfg.requires_grad': True})
    assert cfg.model.decode_head.norm_cfg == dict(type='BN', requires_grad=True)


def test_mmcv_helper_variables_are_not_taken_for_typos():
    # conv_cfg is two edits from env_cfg: it was rejected as a typo of it
    check_top_level_keys(_cfg(norm_cfg=dict(type='BN', requires_grad=True), conv_cfg=None,
                              act_cfg=dict(type='ReLU'), model=dict()), 'configs/x.py')
    # the helpers are not typo targets themselves: a near miss of one passes as before
    check_top_level_keys(_cfg(norm_cfgs=[]), 'configs/x.py')
    with pytest.raises(CLIError, match="did you mean 'env_cfg'"):
        check_top_level_keys(_cfg(env_cgf=dict()), 'configs/x.py')
