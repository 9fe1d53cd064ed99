from .consistency import ConsistencyLoss
from .cross_entropy import IGNORE_INDEX, CrossEntropyLoss
from .entropy import EntropyLoss, entropy, entropy_from_logits
from .soft_cross_entropy import SoftCrossEntropyLoss

__all__ = ['CrossEntropyLoss', 'IGNORE_INDEX']
__all__ += ['ConsistencyLoss', 'EntropyLoss', 'entropy', 'entropy_from_logits']
__all__ += ['SoftCrossEntropyLoss']
