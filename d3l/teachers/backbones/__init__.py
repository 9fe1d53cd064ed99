"""mmseg backbones of d3l's own 2D teachers, registered into mmseg's MODELS
(configs load them with ``custom_imports``)."""
from .hybrid_vit import ConvStem, HybridVisionTransformer

__all__ = ['ConvStem', 'HybridVisionTransformer']
