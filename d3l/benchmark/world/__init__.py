"""The synthetic RGB-D world of the embedded benchmark (``docs/benchmark.md``):
procedural rooms, a ray caster, and the writers of the 2D teacher photos,
the unlabelled RGB-D frames and the ScanNet-layout 3D scenes
(:func:`build_world`; ``python -m d3l.benchmark.world``)."""
from .build import build_world, world_paths
from .classes import CLASSES_2D, CLASSES_3D, PALETTE_3D, RELATION_2D_TO_3D
from .presets import PRESETS, WorldPreset, get_preset
from .primitives import PrimitiveSet
from .render import render_equirect, render_perspective
from .rooms import Room, generate_room
from .scene import sample_scene

__all__ = ['build_world', 'world_paths', 'PRESETS', 'WorldPreset', 'get_preset',
           'generate_room', 'Room', 'PrimitiveSet', 'render_perspective', 'render_equirect',
           'sample_scene', 'CLASSES_2D', 'CLASSES_3D', 'PALETTE_3D', 'RELATION_2D_TO_3D']
