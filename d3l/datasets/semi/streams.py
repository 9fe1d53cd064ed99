"""The streams of a semi-supervised run derived from the task's own dataset
config, so that one recipe piece (``configs/_base_/semi/combined.py``) fits
every task config: the unlabelled data is "the task's dataset with
``subset='unlabeled'``" and the pseudo-labelled scenes are "those scenes with
the labels of ``tools/make_confident_pseudo_labels.py``"."""
from __future__ import annotations

import copy
from typing import List, Optional, Sequence, Tuple, Union

from mmengine.registry import DefaultScope

from d3l.registry import DATASETS

#: the keys of a pseudo-label specification that are not dataset overrides
PSEUDO_KEYS = ('label_root', 'label_name')


def is_override(cfg) -> bool:
    """A dict without ``type``: changes to the labelled dataset's config
    rather than a dataset config of its own."""
    return isinstance(cfg, dict) and 'type' not in cfg


def derive(base: dict, overrides: dict) -> dict:
    """A copy of dataset config ``base`` with ``overrides`` applied to its
    top-level keys."""
    if not isinstance(base, dict) or 'type' not in base:
        raise TypeError('SemiDataset: an unlabeled / pseudo_labeled override needs a labelled '
                        f'dataset config (a dict with "type") to apply to, got {base!r}')
    out = copy.deepcopy(dict(base))
    out.update(copy.deepcopy(dict(overrides)))
    return out


def derive_streams(labeled: Union[dict, Sequence[dict]], unlabeled: Optional[dict],
                   pseudo_labeled: Optional[dict]) -> Tuple[List[dict], Optional[dict]]:
    """The labelled dataset configs and the unlabelled one.

    Args:
        labeled: the task's dataset config, or a list of them.
        unlabeled: a dataset config, an override of ``labeled[0]`` (e.g.
            ``dict(subset='unlabeled')``), or None.
        pseudo_labeled: None, or ``dict(label_root=..., label_name=...,
            **overrides)``: a :class:`~d3l.datasets.PseudoLabelDataset` over
            ``labeled[0]`` with the overrides (default ``subset='unlabeled'``)
            is appended to the labelled datasets.
    """
    cfgs = list(labeled) if isinstance(labeled, (list, tuple)) else [labeled]
    if not cfgs:
        raise ValueError('SemiDataset: labeled needs at least one dataset')
    if unlabeled is not None and is_override(unlabeled):
        unlabeled = derive(cfgs[0], unlabeled)
    if pseudo_labeled is not None:
        spec = dict(pseudo_labeled)
        if not spec.get('label_root'):
            raise ValueError('SemiDataset: pseudo_labeled needs label_root (the out_dir of '
                             'tools/make_confident_pseudo_labels.py)')
        overrides = {k: v for k, v in spec.items() if k not in PSEUDO_KEYS}
        overrides.setdefault('subset', 'unlabeled')
        pseudo = dict(type='PseudoLabelDataset', dataset=derive(cfgs[0], overrides),
                      label_root=spec['label_root'])
        if spec.get('label_name'):
            pseudo['label_name'] = spec['label_name']
        cfgs.append(pseudo)
    return cfgs, unlabeled


def build_dataset(cfg):
    """A dataset from its config (a built dataset is returned as it is)."""
    if not isinstance(cfg, dict):
        return cfg
    if DefaultScope.get_current_instance() is None:
        # built in plain Python (no runner, no default_scope): the datasets'
        # pipelines must still find d3l's transforms
        with DefaultScope.overwrite_default_scope('d3l'):
            return DATASETS.build(cfg)
    return DATASETS.build(cfg)

