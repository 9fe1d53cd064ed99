"""d3l.pseudo_labels: the soft-label store's old name, a warning alias of one release."""
import importlib
import sys

import pytest


def test_old_name_warns_and_gives_the_same_modules_and_objects():
    import d3l.soft_labels as new
    for name in [m for m in sys.modules if m.startswith('d3l.pseudo_labels')]:
        sys.modules.pop(name)
    with pytest.warns(DeprecationWarning, match='d3l.soft_labels'):
        old = importlib.import_module('d3l.pseudo_labels')
    assert sorted(old.__all__) == sorted(new.__all__)
    for name in new.__all__:
        assert getattr(old, name) is getattr(new, name), name
    # submodule imports of the old name reach the very same modules
    from d3l.pseudo_labels.manifest import write_json_atomic
    from d3l.soft_labels import manifest, shards
    assert importlib.import_module('d3l.pseudo_labels.shards') is shards
    assert write_json_atomic is manifest.write_json_atomic
