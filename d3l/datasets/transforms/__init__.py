from .augmentation import (  # noqa: F401
    ElasticDistortion,
    RandomFlip,
    RandomRotate,
    RandomScale,
)
from .color_augmentation import ChromaticAutoContrast, ChromaticJitter  # noqa: F401
from .cropping import LimitPoints, RandomChunkCrop  # noqa: F401
from .formatting import PackPointInputs
from .mmdet3d_points import FromMMDet3DPoints, ToMMDet3DPoints  # noqa: F401
from .rgbd_lifting import (  # noqa: F401
    DepthNormals,
    FilterDepthEdges,
    LiftEquirect,
    LiftPerspective,
    LiftRGBD,
)
from .rgbd_loading import LoadRGBD  # noqa: F401
from .sampling import GridSample
from .stored_normals import StoredNormals  # noqa: F401
from .utils import POINT_KEYS, select_points

__all__ = ['PackPointInputs', 'GridSample', 'POINT_KEYS', 'select_points']
