from .ocnn_unet import OCNNUNet
from .point_mlp import PointMLP
from .sparse_unet import SparseUNet

__all__ = ['PointMLP', 'OCNNUNet', 'SparseUNet']
