from .classifier import Classifier
from .segmentor import Segmentor

__all__ = ['Segmentor', 'Classifier']
