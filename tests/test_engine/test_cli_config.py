"""d3l.engine.cli_config: loading a config for a tool and the checks before
the Runner (``--cfg-options`` keys, top-level keys, value kinds)."""
import pytest
from mmengine.config import Config

from d3l.engine.cli_config import (
    check_cfg_options,
    check_config_values,
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

