from .classifier import Classifier
from .mean_teacher import SemiSupervised
from .pretrainer import Pretrainer
from .segmentor import Segmentor

__all__ = ['Segmentor', 'Classifier']
__all__ += ['Pretrainer']
__all__ += ['SemiSupervised']
