from .classifier import Classifier
from .mean_teacher import SemiSupervised  # deprecated alias of MeanTeacherEntMin
from .mean_teacher_entmin import MeanTeacherEntMin
from .pretrainer import Pretrainer
from .segmentor import Segmentor

__all__ = ['Segmentor', 'Classifier']
__all__ += ['Pretrainer']
__all__ += ['MeanTeacherEntMin', 'SemiSupervised']
