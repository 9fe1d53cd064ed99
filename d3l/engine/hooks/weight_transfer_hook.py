"""Drop the pre-training head when a fine-tuning run starts from ``load_from``."""
from typing import Sequence

from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.runner import BaseLoop

from d3l.models.utils.weight_transfer import set_pending_transfer
from d3l.registry import HOOKS


@HOOKS.register_module()
class WeightTransferHook(Hook):
    """Fine-tuning from a pre-training checkpoint given as ``load_from``.

    Right before MMEngine loads ``load_from`` at the start of *training*,
    tells the model's transfer guards (see
    :mod:`d3l.models.utils.weight_transfer`) to drop every checkpoint tensor
    of the ``drop_heads`` modules (the pre-training head), even when its
    shape happens to fit the new head. Resuming (the full model, head included, is
    restored) and testing a fine-tuned checkpoint are left alone.

    Without this hook the guard still drops a head whose shape differs and
    refuses mismatched backbone tensors; the hook only makes the drop
    explicit. Use it as ``custom_hooks = [dict(type='WeightTransferHook')]``.

    Args:
        drop_heads: module names of pre-training heads; matched on any
            level of a key, so ``student.decode_head.*`` of a wrapper counts.
    """

    priority = 'VERY_HIGH'

    def __init__(self, drop_heads: Sequence[str] = ('decode_head', 'cls_head')):
        if isinstance(drop_heads, str):
            drop_heads = (drop_heads,)
        self.drop_heads = tuple(drop_heads)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if getattr(runner, '_resume', False):
            return
        if not isinstance(getattr(runner, '_train_loop', None), BaseLoop):
            return  # test / val: the checkpoint is this model's own
        model = runner.model.module if is_model_wrapper(runner.model) else runner.model
        set_pending_transfer(model, self.drop_heads,
                             source=str(getattr(runner, '_load_from', None) or 'load_from'))
