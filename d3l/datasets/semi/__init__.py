"""Semi-supervised data: labelled and unlabelled streams in one batch, two
augmented views of every cloud, and pseudo-labelled scenes.

- :class:`SemiDataset` wraps the task's own datasets (their pipelines
  unchanged): a labelled stream (one dataset or several, e.g. the LR scenes
  plus the pseudo-labelled ones) and an optional unlabelled stream (LR: the
  other scenes, or a random subset of them; ModelNet40 / ShapeNet part: the
  remaining training shapes). In LA there is no second stream: the points
  outside the annotation (label 255) are the unlabelled data.
- :class:`SemiSampler` draws, for every labelled sample, ``num_unlabeled``
  samples of the unlabelled stream (fresh permutations every epoch, split
  over distributed ranks); ``point_collate`` flattens the groups, so a batch
  of ``batch_size`` labelled samples holds ``batch_size * (1 +
  num_unlabeled)`` clouds.
- With ``num_views=2`` every sample is loaded once and the rest of its
  pipeline (augmentation, sampling, packing) runs once per view; each point
  carries ``point_index`` (its row in the loaded cloud) so the mean teacher
  can match the student's view to the teacher's point to point even when
  the views were subsampled differently.
- :class:`PseudoLabelDataset` replaces a dataset's labels by the files of
  ``tools/make_confident_pseudo_labels.py``, whose selection rule and file
  format are in :mod:`.confident` (the LR recipe's hard pseudo-labels).

Until issue 15 the streams and the confident pseudo-labels were the package
``d3l.semi``; it remains a deprecated alias for one release.
"""
from .confident import (
    IGNORE_INDEX,
    load_pseudo_labels,
    num_kept,
    pseudo_label_path,
    sample_key,
    save_pseudo_labels,
    select_confident,
)
from .dataset import SemiDataset, SemiSampler
from .pseudo_labeled import PseudoLabelDataset, listed_key
from .streams import derive_streams
from .views import ViewPipeline, configure_views

__all__ = ['SemiDataset', 'SemiSampler', 'PseudoLabelDataset', 'ViewPipeline', 'configure_views',
           'listed_key', 'derive_streams', 'IGNORE_INDEX', 'select_confident', 'num_kept',
           'sample_key', 'pseudo_label_path', 'save_pseudo_labels', 'load_pseudo_labels']
