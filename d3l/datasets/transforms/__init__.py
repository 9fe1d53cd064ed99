from .formatting import PackPointInputs
from .sampling import GridSample
from .utils import POINT_KEYS, select_points

__all__ = ['PackPointInputs', 'GridSample', 'POINT_KEYS', 'select_points']
