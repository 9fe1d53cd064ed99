from .shapes import SHAPES, SyntheticShapesDataset, sample_shape

__all__ = ['SyntheticShapesDataset', 'sample_shape', 'SHAPES']
