"""Use a trained model on new point clouds (as ``mmdet3d.apis``):
:func:`init_model`, :func:`inference_segmentor`, :func:`inference_classifier`,
the :class:`PointSegInferencer` and sliding-window inference for scenes
larger than the network's extent. See docs/inference.md."""
from .batch import FileResult, segment_file, segment_files, write_prediction
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
from .sliding_window import slide_cloud, sliding_window_probs, window_origins, window_weights

__all__ = ['init_model', 'load_weights', 'inference_segmentor', 'inference_classifier',
           'CheckpointMismatchError', 'PointSegInferencer', 'read_points', 'list_inputs',
           'PointFileError', 'POINT_FILE_EXTS', 'estimate_normals', 'segment_file',
           'segment_files', 'write_prediction', 'FileResult', 'sliding_window_probs',
           'slide_cloud', 'window_origins', 'window_weights']
