"""The pipeline's stages as functions (as ``mmdet3d.apis``); the tools are
argument parsing over them.

- soft labels: :func:`generate_soft_labels`, :func:`verify_soft_labels`,
  :func:`score_soft_labels` (against ground-truth 2D labels),
  :func:`fuse_soft_labels` (onto reconstructed scenes);
- 3D training: :func:`train`, :func:`test`, :func:`export_backbone` (drop
  the pre-training head), :func:`make_confident_pseudo_labels` (LR recipe);
- inference on new point clouds: :func:`init_model`,
  :func:`inference_segmentor`, :func:`inference_classifier`, the
  :class:`PointSegInferencer` and sliding windows for scenes larger than the
  network's extent (docs/inference.md).
"""
from .batch import FileResult, segment_file, segment_files, write_prediction
from .confident import make_confident_pseudo_labels
from .export import export_backbone
from .fusion import fuse_soft_labels
from .inference import (
    CheckpointMismatchError,
    inference_classifier,
    inference_segmentor,
    init_model,
    load_weights,
)
from .inferencer import PointSegInferencer
from .io import POINT_FILE_EXTS, PointFileError, list_inputs, read_points
from .normals import estimate_normals
from .runner import test, train
from .scoring import score_soft_labels
from .sliding_window import slide_cloud, sliding_window_probs, window_origins, window_weights
from .soft_labels import generate_soft_labels, verify_soft_labels

__all__ = ['init_model', 'load_weights', 'inference_segmentor', 'inference_classifier',
           'CheckpointMismatchError', 'PointSegInferencer', 'read_points', 'list_inputs',
           'PointFileError', 'POINT_FILE_EXTS', 'estimate_normals', 'segment_file',
           'segment_files', 'write_prediction', 'FileResult', 'sliding_window_probs',
           'slide_cloud', 'window_origins', 'window_weights', 'generate_soft_labels',
           'verify_soft_labels', 'score_soft_labels', 'fuse_soft_labels', 'train', 'test',
           'export_backbone', 'make_confident_pseudo_labels']
