"""Registry checks of a config: every ``type='Name'`` names a registered
component, and a d3l component is given only arguments its constructor takes."""
from __future__ import annotations

import inspect
import os
from typing import Any, Iterator, Tuple

from mmengine.config import Config

from .cli_errors import CLIError, close_matches


def _iter_types(node: Any, path: str = '') -> Iterator[Tuple[str, str, dict]]:
    if isinstance(node, dict):
        value = node.get('type')
        if isinstance(value, str):
            yield (f'{path}.type' if path else 'type'), value, node
        for key, child in node.items():
            yield from _iter_types(child, f'{path}.{key}' if path else str(key))
    elif isinstance(node, (list, tuple)):
        for i, child in enumerate(node):
            yield from _iter_types(child, f'{path}.{i}')


def _check_arguments(component, node: dict, key: str, path: str) -> None:
    """Keys of a d3l component's config that its constructor does not take
    (``in_channel=`` for ``in_channels=``) are a CLIError naming the config
    key and the closest argument; a component taking ``**kwargs`` passes."""
    if not str(getattr(component, '__module__', '')).startswith('d3l.'):
        return  # other libraries' helpers (norm_cfg=dict(type='BN', requires_grad=...)) differ
    target = component.__init__ if inspect.isclass(component) else component
    try:
        parameters = inspect.signature(target).parameters
    except (TypeError, ValueError):
        return
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values()):
        return
    accepted = [name for name, p in parameters.items() if name != 'self' and p.kind in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)]
    for arg in node:
        if arg in ('type', '_scope_', '_delete_') or arg in accepted:
            continue
        close = close_matches(str(arg), accepted)
        hint = f' (did you mean {close[0]!r}?)' if close else ''
        raise CLIError(f'{path or "config"}: {key[:-len(".type")] or "config"}.{arg}: '
                       f'{getattr(component, "__name__", component)} takes no argument '
                       f'{arg!r}{hint}')


def check_config_types(cfg: Config, path: str = '') -> None:
    """Every ``type='Name'`` in the config must name a registered component
    (in d3l's registries, their MMEngine parents, or a scope like
    ``mmseg.``); otherwise a one-line error names the key."""
    from mmengine.registry import DefaultScope

    from d3l import registry as d3l_registry

    scope = cfg.get('default_scope', 'd3l')
    # the config's own scope first: MMEngine's parents may hold another class
    # of the same name (mmcv's RandomFlip beside d3l's)
    registries = sorted((value for value in vars(d3l_registry).values()
                         if type(value).__name__ == 'Registry'),
                        key=lambda registry: registry.scope != scope)
    instance = f'd3l-check-{os.getpid()}'
    if not DefaultScope.check_instance_created(instance):
        DefaultScope.get_instance(instance, scope_name=scope)
    for key, type_name, node in _iter_types(cfg._cfg_dict.to_dict()):
        # a config of another scope (e.g. an mmseg teacher config) names
        # that scope's components: look them up as '<scope>.<name>'
        candidates = [type_name]
        if scope != 'd3l' and '.' not in type_name:
            candidates.insert(0, f'{scope}.{type_name}')
        found = None
        for registry in registries:
            for candidate in candidates:
                try:
                    found = registry.get(candidate)
                except (KeyError, ImportError, AttributeError):
                    continue
                if found is not None:
                    break
            if found is not None:
                break
        if found is not None:
            _check_arguments(found, node, key, path)
        else:
            raise CLIError(f'{path or "config"}: {key} = {type_name!r} is not a registered type '
                           '(check the spelling, or load the plugin that registers it with '
                           'custom_imports)')
