"""PLY / PNG export of clouds, labels and predictions."""
from .ply import default_palette, label_colors, write_ply

__all__ = ['write_ply', 'label_colors', 'default_palette']
