from .point_mlp import PointMLP

__all__ = ['PointMLP']
