"""Deprecated alias, kept for one release (until d3l 0.2): the confident
pseudo-labels and the semi-supervised streams moved to
:mod:`d3l.datasets.semi`, beside the datasets that read them."""
import warnings

from d3l.datasets import semi as _moved

__all__ = ['IGNORE_INDEX', 'select_confident', 'num_kept', 'sample_key', 'pseudo_label_path',
           'save_pseudo_labels', 'load_pseudo_labels']

warnings.warn('d3l.semi is deprecated and will be removed in the next release: import the '
              'confident pseudo-labels from d3l.datasets.semi', DeprecationWarning, stacklevel=2)


def __getattr__(name):
    if name in __all__:
        return getattr(_moved, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
