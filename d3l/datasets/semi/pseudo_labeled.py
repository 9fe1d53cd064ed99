"""Pseudo-labelled scenes: a dataset whose labels are the files of
``tools/make_confident_pseudo_labels.py`` (:mod:`.confident`)."""
from __future__ import annotations

import copy
import os.path as osp
from typing import Optional, Union

from mmengine.dataset import BaseDataset
from torch.utils.data import Dataset

from d3l.registry import DATASETS

from .confident import load_pseudo_labels, pseudo_label_path, sample_key
from .streams import build_dataset
from .views import configure_views


def listed_key(dataset, index: int) -> Optional[str]:
    """The pseudo-label key (:func:`~d3l.datasets.semi.sample_key`) of a sample from the
    dataset's list, without loading the sample; None when the dataset is not
    an MMEngine ``BaseDataset`` or its list holds no id."""
    if not isinstance(dataset, BaseDataset):
        return None
    try:
        return sample_key(BaseDataset.get_data_info(dataset, index))
    except KeyError:
        return None



@DATASETS.register_module()
class PseudoLabelDataset(Dataset):
    """A dataset whose per-point ``labels`` come from pseudo-label files.

    ``{label_root}/{key}/{label_name}`` (``key`` = scene id, see
    :func:`~d3l.datasets.semi.sample_key`) is read right after the scene is loaded and
    replaces its labels (-1 in the file = ignore); the pipeline then runs as
    usual. Samples are marked ``stream='pseudo'``.

    Args:
        dataset: config of the scenes (e.g. the LR unlabelled scenes with the
            training pipeline).
        label_root: output folder of ``tools/make_confident_pseudo_labels.py``.
        label_name: file name in each scene folder.
    """

    def __init__(self, dataset: Union[dict, Dataset], label_root: str,
                 label_name: str = 'segment20.npy'):
        self.dataset = build_dataset(dataset)
        self.label_root = label_root
        self.label_name = label_name
        self.num_classes = len((getattr(self.dataset, 'metainfo', None) or {}).get(
            'classes', ())) or None
        self._check_files()
        configure_views(self.dataset, on_load=[self.load_labels], stream='pseudo')

    def _check_files(self) -> None:
        if not osp.isdir(self.label_root):
            raise FileNotFoundError(
                f'PseudoLabelDataset: {self.label_root} does not exist; make it with '
                'tools/make_confident_pseudo_labels.py CONFIG CHECKPOINT')
        keys = [listed_key(self.dataset, i) for i in range(len(self.dataset))]
        if None in keys:
            return  # ids appear only after loading; checked per sample then
        missing = [k for k in keys if not osp.isfile(
            pseudo_label_path(self.label_root, k, self.label_name))]
        if missing:
            raise FileNotFoundError(
                f'PseudoLabelDataset: {len(missing)} of {len(keys)} scenes have no '
                f'{self.label_name} in {self.label_root} (e.g. {", ".join(missing[:3])}); '
                'run (or resume) tools/make_confident_pseudo_labels.py')

    def load_labels(self, results: dict) -> dict:
        path = pseudo_label_path(self.label_root, sample_key(results), self.label_name)
        results['labels'] = load_pseudo_labels(path, len(results['points']), self.num_classes)
        results.pop('soft_labels', None)
        return results

    @property
    def metainfo(self) -> dict:
        return copy.deepcopy(getattr(self.dataset, 'metainfo', {}))

    def __len__(self) -> int:
        return len(self.dataset)

    def __getitem__(self, index: int):
        return self.dataset[index]
