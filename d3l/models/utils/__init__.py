from .weight_transfer import (
    TransferReport,
    WeightTransferError,
    clear_pending_transfer,
    install_transfer_guard,
    is_head_key,
    load_pretrained,
    plan_transfer,
    set_pending_transfer,
)

__all__ = ['TransferReport', 'WeightTransferError', 'clear_pending_transfer',
           'install_transfer_guard', 'is_head_key',
           'load_pretrained', 'plan_transfer', 'set_pending_transfer']
