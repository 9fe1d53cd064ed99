"""2D teachers: soft per-pixel class distributions from RGB(-D) images."""
from .base import BaseTeacher, image_to_tensor
from .hf_teacher import HFTeacher
from .mmseg_teacher import (
    DEFAULT_MMSEG_CONFIG,
    MMSegTeacher,
    TeacherCheckpointError,
    save_random_mmseg_checkpoint,
    tiny_dpt_config,
)
from .panorama import PanoramaCrops, build_panorama, crop_rays, sample_equirect
from .precomputed import PrecomputedTeacher
from .tflite_teacher import TFLiteTeacher

__all__ = ['BaseTeacher', 'MMSegTeacher', 'HFTeacher', 'PrecomputedTeacher', 'TFLiteTeacher',
           'PanoramaCrops',
           'TeacherCheckpointError', 'DEFAULT_MMSEG_CONFIG', 'build_panorama', 'crop_rays',
           'sample_equirect', 'image_to_tensor', 'tiny_dpt_config',
           'save_random_mmseg_checkpoint']
