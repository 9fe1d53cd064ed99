"""RGB-D pre-training sources: every dataset yields the same frame dict
(see ``d3l/datasets/README.md``) and starts its pipeline with ``LoadRGBD``."""
from .base import BaseRGBDDataset, SharedCounter
from .folder import RGBDFolderDataset
from .hooks import SkippedFramesHook
from .io import BadFrameError, read_color, read_depth, read_label
from .matterport3d import MP3D_SPLITS, Matterport3DPanoDataset
from .scannet_frames import ScanNetFramesDataset
from .structured3d import NYU40_CLASSES, Structured3DPanoDataset
from .sunrgbd import SUNRGBDDataset

__all__ = ['BaseRGBDDataset', 'SharedCounter', 'RGBDFolderDataset', 'SkippedFramesHook',
           'BadFrameError', 'read_color', 'read_depth', 'read_label', 'MP3D_SPLITS',
           'Matterport3DPanoDataset', 'ScanNetFramesDataset', 'NYU40_CLASSES',
           'Structured3DPanoDataset', 'SUNRGBDDataset']
