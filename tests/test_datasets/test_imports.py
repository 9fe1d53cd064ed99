"""``d3l.datasets`` holds data loaders and transforms only: importing it does
not load the synthetic world of the embedded benchmark (d3l.benchmark)."""
import json
import subprocess
import sys
import warnings

CHECK = '''
import json, sys
import d3l.datasets
from d3l.registry import DATASETS
from mmengine.registry import DefaultScope
with DefaultScope.overwrite_default_scope('d3l'):
    shapes = DATASETS.build(dict(type='SyntheticShapesDataset', task='seg', num_samples=1,
                                 num_points=16))
print(json.dumps(dict(modules=sorted(m for m in sys.modules if m.startswith('d3l.')),
                      samples=len(shapes))))
'''


def _modules_after(code: str) -> dict:
    proc = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          check=True, timeout=300)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_datasets_do_not_import_the_world_generator():
    report = _modules_after(CHECK)
    # the registered primitive-shape dataset (configs/_base_/datasets/synthetic_shapes_seg.py)
    # still builds by its type name
    assert report['samples'] == 1
    assert 'd3l.datasets.synthetic_shapes' in report['modules']
    assert not [m for m in report['modules'] if m.startswith('d3l.benchmark')]
    assert 'd3l.datasets.synthetic' not in report['modules']


def test_old_names_still_import():
    """The world's public names before issue 15 (one release, with a warning)."""
    import d3l.benchmark.world as world
    import d3l.datasets
    from d3l.datasets.synthetic_shapes import SyntheticShapesDataset
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter('always')
        import importlib
        old = importlib.reload(importlib.import_module('d3l.datasets.synthetic'))
    assert any(issubclass(w.category, DeprecationWarning) and 'd3l.benchmark.world' in
               str(w.message) for w in caught)
    assert old.build_world is world.build_world and old.CLASSES_2D is world.CLASSES_2D
    assert old.SyntheticShapesDataset is SyntheticShapesDataset
    assert d3l.datasets.build_synthetic_world is world.build_world
