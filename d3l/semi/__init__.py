"""Semi-supervised helpers that are neither models nor datasets: confident
pseudo-label selection and its files."""
from .confident import (
    IGNORE_INDEX,
    load_pseudo_labels,
    num_kept,
    pseudo_label_path,
    sample_key,
    save_pseudo_labels,
    select_confident,
)

__all__ = ['IGNORE_INDEX', 'select_confident', 'num_kept', 'sample_key', 'pseudo_label_path',
           'save_pseudo_labels', 'load_pseudo_labels']
