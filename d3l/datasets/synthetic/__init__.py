"""Generated data: primitive shapes (tests) and the synthetic RGB-D world
(the embedded benchmark, see ``docs/benchmark.md``)."""
from .classes import CLASSES_2D, CLASSES_3D, PALETTE_3D, RELATION_2D_TO_3D
from .presets import PRESETS, WorldPreset, get_preset
from .primitives import PrimitiveSet
from .render import render_equirect, render_perspective
from .rooms import Room, generate_room
from .scene import sample_scene
from .shapes import SHAPES, SyntheticShapesDataset, sample_shape
from .world import build_world, world_paths

__all__ = ['SyntheticShapesDataset', 'sample_shape', 'SHAPES', 'build_world', 'world_paths',
           'PRESETS', 'WorldPreset', 'get_preset', 'generate_room', 'Room', 'PrimitiveSet',
           'render_perspective', 'render_equirect', 'sample_scene', 'CLASSES_2D', 'CLASSES_3D',
           'PALETTE_3D', 'RELATION_2D_TO_3D']
