from .cls_head import ClsHead
from .seg_head import SegHead

__all__ = ['SegHead', 'ClsHead']
