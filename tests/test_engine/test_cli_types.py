"""d3l.engine.cli_types: registered types and the arguments of d3l's components."""
import pytest
from mmengine.config import Config

from d3l.engine.cli_errors import CLIError
from d3l.engine.cli_types import check_config_types


def _model(**backbone):
    return Config(dict(default_scope='d3l', model=dict(
        type='Segmentor', backbone=dict(type='PointMLP', **backbone),
        decode_head=dict(type='SegHead', num_classes=5))))


def test_registered_types_with_their_arguments_pass():
    check_config_types(_model(in_channels=6, channels=(32, 64)), 'x.py')


def test_an_unregistered_type_names_the_file_and_key():
    cfg = Config(dict(default_scope='d3l', model=dict(type='Segmentor'),
                      custom_hooks=[dict(type='EMAHook'), dict(type='NoSuchHook')]))
    with pytest.raises(CLIError, match="x.py: custom_hooks.1.type = 'NoSuchHook' is not a "
                                       'registered type'):
        check_config_types(cfg, 'x.py')


def test_an_argument_a_d3l_component_does_not_take_names_the_closest():
    with pytest.raises(CLIError, match="x.py: model.backbone.in_channel: PointMLP takes no "
                                       "argument 'in_channel' \\(did you mean 'in_channels'\\?\\)"):
        check_config_types(_model(in_channel=6), 'x.py')


def test_other_libraries_components_keep_their_own_argument_conventions():
    # MMEngine's OptimWrapper gets paramwise_cfg through its constructor, not __init__
    cfg = Config(dict(default_scope='d3l', optim_wrapper=dict(
        type='OptimWrapper', optimizer=dict(type='AdamW', lr=1e-3),
        paramwise_cfg=dict(custom_keys={'backbone': dict(lr_mult=0.1)}))))
    check_config_types(cfg, 'x.py')
