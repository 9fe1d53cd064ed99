"""Load an RGB-D frame (colour, depth in metres, optional 2D labels)."""
from typing import Optional

import numpy as np
from mmcv.transforms import BaseTransform
from PIL import Image

from d3l.datasets.rgbd.io import BadFrameError, read_color, read_depth, read_label
from d3l.geometry import perspective_rays
from d3l.registry import TRANSFORMS
from d3l.utils.jit import lazy_njit

#: set to False for the NumPy label mapping (tests compare the two)
USE_NUMBA = True


def _map_labels_kernel(labels, label_map, out):  # pragma: no cover - numba
    """``label_map[l]`` for labels in range, 255 for the others."""
    flat, flat_out, size = labels.reshape(-1), out.reshape(-1), label_map.shape[0]
    for i in range(flat.shape[0]):
        value = flat[i]
        flat_out[i] = label_map[value] if 0 <= value < size else 255


def map_labels(labels: np.ndarray, label_map: np.ndarray) -> np.ndarray:
    """(H, W) int64 ``label_map[labels]``, 255 where a label is outside the
    map: one numba pass instead of NumPy's mask, clip, gather and where (the
    same values)."""
    label_map = np.asarray(label_map, np.int64)
    kernel = lazy_njit(_map_labels_kernel) if USE_NUMBA else None
    if kernel is not None and labels.dtype == np.int64 and len(label_map):
        out = np.empty(labels.shape, np.int64)
        kernel(np.ascontiguousarray(labels), label_map, out)
        return out
    inside = (labels >= 0) & (labels < len(label_map))
    return np.where(inside, label_map[np.clip(labels, 0, len(label_map) - 1)], 255)


def _frame_name(results: dict) -> str:
    return results.get('depth_path') or results.get('img_path') or str(results.get('frame_id'))


def register_color_to_depth(img: np.ndarray, color_K: np.ndarray, depth_K: np.ndarray,
                            depth_shape) -> np.ndarray:
    """Resample a colour image into the depth camera's pixel grid, assuming
    both cameras share the optical centre and orientation (ScanNet's ``.sens``
    exports: identity colour/depth extrinsics, different intrinsics and
    sizes). Bilinear; pixels outside the colour image are black."""
    # depth pixel (u, v) -> colour pixel: Kc Kd^-1 [u, v, 1], an affine map
    mapping = np.asarray(color_K, np.float64) @ np.linalg.inv(np.asarray(depth_K, np.float64))
    mapping = mapping / mapping[2, 2]
    if not np.allclose(mapping[2, :2], 0, atol=1e-9):
        raise ValueError('register_color_to_depth: intrinsics with a non-affine relation')
    height, width = depth_shape
    # PIL samples at pixel centres: output centre (x+0.5) maps to input
    # coefficient . (x+0.5, y+0.5, 1); shift to d3l's integer-centre convention
    a, b, c = mapping[0]
    d, e, f = mapping[1]
    coeffs = (a, b, c + 0.5 - 0.5 * (a + b), d, e, f + 0.5 - 0.5 * (d + e))
    image = Image.fromarray(img).transform((width, height), Image.Transform.AFFINE, coeffs,
                                           resample=Image.Resampling.BILINEAR)
    return np.asarray(image, np.uint8)


@TRANSFORMS.register_module()
class LoadRGBD(BaseTransform):
    """Read a frame's colour image, depth (metres) and optional 2D labels.

    Reads ``img_path``, ``depth_path`` (decoded with the frame's
    ``depth_encoding`` and ``depth_scale``, see :mod:`d3l.datasets.rgbd.io`)
    and, when ``with_labels`` and the frame has one, ``label_path``. Adds
    ``img`` (H, W, 3) uint8 RGB, ``depth`` (H, W) float32 metres (0 =
    invalid; z-depth for ``'perspective'``, ray distance for ``'equirect'``),
    ``img_shape`` (H, W) and, with labels, ``pixel_labels`` (H, W) int64.

    A perspective frame whose ``depth_kind`` is ``'ray'`` (renderers that
    store the distance along the ray) is converted to z-depth. A colour image
    of another size than the depth is resampled into the depth camera when
    the frame gives ``color_intrinsics`` (ScanNet), and is an error
    otherwise.

    Raises :class:`~d3l.datasets.rgbd.io.BadFrameError` naming the file for a
    missing / unreadable / truncated file, image and depth (or labels) of
    different sizes, a perspective frame without valid intrinsics, an
    equirectangular frame whose width is not twice its height, non-finite or
    negative depth (unless ``nonfinite_depth='invalid'``), and a frame with
    fewer than ``min_valid_pixels`` valid depth pixels (all-invalid depth).

    Args:
        with_labels: load ``label_path`` into ``pixel_labels`` when present.
        nonfinite_depth: ``'error'`` or ``'invalid'`` (NaN / inf / negative
            depth become 0 = no reading).
        min_valid_pixels: fewest valid depth pixels a usable frame has.
        max_depth: optional; depth beyond it (metres) becomes invalid.
    """

    def __init__(self, with_labels: bool = True, nonfinite_depth: str = 'error',
                 min_valid_pixels: int = 1, max_depth: Optional[float] = None):
        if nonfinite_depth not in ('error', 'invalid'):
            raise ValueError(f"LoadRGBD: nonfinite_depth must be 'error' or 'invalid', got "
                             f'{nonfinite_depth!r}')
        self.with_labels = with_labels
        self.nonfinite_depth = nonfinite_depth
        self.min_valid_pixels = int(min_valid_pixels)
        self.max_depth = max_depth

    def transform(self, results: dict) -> dict:
        for key in ('img_path', 'depth_path'):
            if not results.get(key):
                raise BadFrameError(f'frame {results.get("frame_id")!r} has no {key!r}')
        depth_path = results['depth_path']
        projection = results.get('projection', 'perspective')
        depth = read_depth(depth_path, results.get('depth_encoding', 'auto'),
                           results.get('depth_scale'))
        img = read_color(results['img_path'])
        height, width = depth.shape
        expected = results.get('expected_shape')
        if expected is not None and any(e is not None and e != a
                                        for e, a in zip(expected, (height, width))):
            raise BadFrameError(f'{depth_path}: depth is {width}x{height} but the camera file '
                                f'says {expected[1]}x{expected[0]}')

        if projection == 'perspective':
            K = results.get('intrinsics')
            if K is None:
                raise BadFrameError(f'{depth_path}: perspective frame without intrinsics')
            K = np.asarray(K, np.float64)
            if K.shape != (3, 3) or not np.isfinite(K).all() or abs(np.linalg.det(K)) < 1e-12:
                raise BadFrameError(f'{depth_path}: invalid intrinsics {K.tolist()}')
        elif projection == 'equirect':
            if width != 2 * height:
                raise BadFrameError(f'{depth_path}: equirectangular depth must be twice as wide '
                                    f'as high, got {width}x{height}')
        else:
            raise BadFrameError(f'{depth_path}: unknown projection {projection!r}')

        if img.shape[:2] != depth.shape:
            color_K = results.get('color_intrinsics')
            if color_K is None or projection != 'perspective':
                raise BadFrameError(
                    f'{results["img_path"]}: colour image is {img.shape[1]}x{img.shape[0]} but '
                    f'depth {depth_path} is {width}x{height}')
            img = register_color_to_depth(img, color_K, results['intrinsics'], depth.shape)

        # two reductions without temporaries decide the usual case (no NaN,
        # inf or negative pixel: min >= 0, max < inf; NaN makes both fail)
        if depth.size and not (depth.min() >= 0 and depth.max() < np.inf):
            finite = np.isfinite(depth)
            bad = ~finite | (np.where(finite, depth, 0) < 0)
            if self.nonfinite_depth == 'error':
                raise BadFrameError(
                    f'{depth_path}: {int(bad.sum())} depth pixels are NaN, inf or negative '
                    "(set LoadRGBD(nonfinite_depth='invalid') to treat them as no reading)")
            depth = np.where(bad, np.float32(0), depth)
        if self.max_depth is not None:
            depth = np.where(depth <= self.max_depth, depth, np.float32(0))
        if projection == 'perspective' and results.get('depth_kind', 'z') == 'ray':
            rays = perspective_rays(height, width, results['intrinsics'])
            depth = (depth / np.linalg.norm(rays, axis=2)).astype(np.float32)
        num_valid = int(np.count_nonzero(depth > 0))
        if num_valid < self.min_valid_pixels:
            raise BadFrameError(f'{depth_path}: only {num_valid} valid depth pixels (need '
                                f'{self.min_valid_pixels}); the depth image is empty')

        results['img'] = img
        results['depth'] = depth.astype(np.float32, copy=False)
        results['img_shape'] = (height, width)
        results['ori_shape'] = (height, width)
        if self.with_labels and results.get('label_path'):
            labels = read_label(results['label_path'])
            if labels.shape != depth.shape:
                raise BadFrameError(f'{results["label_path"]}: labels are '
                                    f'{labels.shape[1]}x{labels.shape[0]} but depth is '
                                    f'{width}x{height}')
            label_map = results.get('label_map')
            if label_map is not None:
                labels = map_labels(labels, label_map)
            results['pixel_labels'] = labels
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(with_labels={self.with_labels}, '
                f'nonfinite_depth={self.nonfinite_depth!r}, '
                f'min_valid_pixels={self.min_valid_pixels})')
