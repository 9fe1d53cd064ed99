"""Registries: scope, parents, lazy locations, and third-party plugins."""
import textwrap

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import DefaultScope

from d3l import registry


def test_registries_are_d3l_children_of_mmengine_roots():
    for name in ('MODELS', 'DATASETS', 'TRANSFORMS', 'HOOKS', 'METRICS', 'EVALUATOR',
                 'DATA_SAMPLERS', 'VISUALIZERS', 'FUNCTIONS', 'OPTIMIZERS', 'PARAM_SCHEDULERS'):
        child = getattr(registry, name)
        assert child.scope == 'd3l', name
        assert child.parent is not None and child.parent.scope == 'mmengine', name
        assert child.parent._children['d3l'] is child


def test_lazy_locations_register_components_on_first_lookup():
    assert registry.MODELS.get('Segmentor').__name__ == 'Segmentor'
    assert registry.TRANSFORMS.get('PackPointInputs').__name__ == 'PackPointInputs'
    assert registry.METRICS.get('SegMetric').__name__ == 'SegMetric'
    # the root registry finds d3l components through the scope prefix
    assert ROOT_MODELS.get('d3l.PointMLP') is registry.MODELS.get('PointMLP')


def test_plugin_module_from_temporary_directory_via_custom_imports(tmp_path, monkeypatch):
    plugin = tmp_path / 'my_d3l_plugin.py'
    plugin.write_text(textwrap.dedent('''
        import torch
        from torch import nn
        from d3l.registry import MODELS

        @MODELS.register_module()
        class DoubledFeatureBackbone(nn.Module):
            """Per-point features times two, through one linear layer."""
            def __init__(self, in_channels, out_channels=4):
                super().__init__()
                self.linear = nn.Linear(in_channels, out_channels)
                self.out_channels = out_channels

            def forward(self, batch):
                return self.linear(batch.feat * 2)
    '''))
    config = tmp_path / 'plugin_config.py'
    config.write_text(textwrap.dedent('''
        custom_imports = dict(imports=['my_d3l_plugin'], allow_failed_imports=False)
        default_scope = 'd3l'
        model = dict(type='Segmentor',
                     backbone=dict(type='DoubledFeatureBackbone', in_channels=3),
                     decode_head=dict(type='SegHead', num_classes=2))
    '''))
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = Config.fromfile(str(config))  # imports the plugin
    with DefaultScope.overwrite_default_scope('d3l'):
        model = registry.MODELS.build(cfg.model)
    assert type(model.backbone).__name__ == 'DoubledFeatureBackbone'
    from d3l.structures import PointBatch
    batch = PointBatch.from_list([torch.rand(5, 3), torch.rand(7, 3)],
                                 [torch.rand(5, 3), torch.rand(7, 3)])
    logits = model(batch, mode='tensor')
    assert logits.shape == (12, 2)
    expected = model.decode_head(model.backbone.linear(batch.feat * 2))
    assert torch.allclose(logits, expected)


def test_unknown_type_names_the_registry():
    with pytest.raises(KeyError, match='not in the'):
        with DefaultScope.overwrite_default_scope('d3l'):
            registry.MODELS.build(dict(type='NoSuchBackbone'))
