from .cross_entropy import IGNORE_INDEX, CrossEntropyLoss

__all__ = ['CrossEntropyLoss', 'IGNORE_INDEX']
