"""Lift a loaded RGB-D frame to a labelled point cloud, and filter depth
discontinuities before lifting."""
from typing import Dict, Optional, Union

import numpy as np
from mmcv.transforms import BaseTransform

from d3l.datasets.rgbd.io import BadFrameError
from d3l.geometry import (
    check_rigid,
    depth_edge_mask,
    depth_normals,
    lift_equirect,
    lift_perspective,
    lift_rgbd,
)
from d3l.registry import TRANSFORMS

from .utils import retain_freed_memory


def _frame_name(results: dict) -> str:
    return results.get('depth_path') or results.get('img_path') or str(results.get('frame_id'))


def _cam2world_rotation(results: dict) -> Optional[np.ndarray]:
    """float32 ``R^T`` and ``t`` of the frame's ``cam2world`` (None: no pose)."""
    cam2world = results.get('cam2world')
    if cam2world is None:
        return None
    try:
        cam2world = check_rigid(cam2world, f'{_frame_name(results)}: cam2world')
    except ValueError as exc:
        raise BadFrameError(str(exc)) from exc
    # float32 products: 5x faster than apply_rigid's float64, and exact to
    # ~1e-7 of the coordinates, as the float32 points themselves
    return (np.ascontiguousarray(cam2world[:3, :3].T, np.float32),
            cam2world[:3, 3].astype(np.float32))


@TRANSFORMS.register_module()
class FilterDepthEdges(BaseTransform):
    """Invalidate depth pixels on discontinuities ("flying pixels").

    A pixel whose depth differs from a valid 8-neighbour's by more than
    ``max(rel_threshold * depth, abs_threshold)`` gets depth 0, so lifting
    drops it: such pixels lie between a foreground object and the background
    and would become points in empty space. Panoramas wrap horizontally. The
    number of removed pixels is stored in ``num_edge_pixels``.

    Args:
        rel_threshold: jump relative to the pixel's depth (0.05 = 5 %).
        abs_threshold: smallest jump in metres that counts (guards close-up
            noise).
        dilate: also remove this many rings of pixels around the edges.
    """

    def __init__(self, rel_threshold: float = 0.05, abs_threshold: float = 0.05,
                 dilate: int = 0):
        if rel_threshold < 0 or abs_threshold < 0 or dilate < 0:
            raise ValueError('FilterDepthEdges: thresholds and dilate must be >= 0')
        self.rel_threshold = rel_threshold
        self.abs_threshold = abs_threshold
        self.dilate = int(dilate)

    def transform(self, results: dict) -> dict:
        depth = results['depth']
        wrap = results.get('projection') == 'equirect'
        edges = depth_edge_mask(depth, self.rel_threshold, self.abs_threshold, wrap=wrap)
        if self.dilate:
            from scipy import ndimage
            edges = ndimage.binary_dilation(edges, iterations=self.dilate) & (depth > 0)
        results['depth'] = np.where(edges, np.float32(0), depth).astype(np.float32, copy=False)
        results['num_edge_pixels'] = int(edges.sum())
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(rel_threshold={self.rel_threshold}, '
                f'abs_threshold={self.abs_threshold}, dilate={self.dilate})')


@TRANSFORMS.register_module()
class LiftRGBD(BaseTransform):
    """Lift ``depth`` (+ ``img``) to points with the frame's projection.

    Produces ``points`` (N, 3) float32, ``colors`` (N, 3) float32 in [0, 1],
    ``normals`` (N, 3) unit (estimated from the depth image, see
    :func:`d3l.geometry.depth_normals`), ``pixel_index`` (N,) int64
    (``row * W + col`` of each point's pixel) and, for every
    ``pixel_keys`` entry present, a per-point copy of a per-pixel array (by
    default ``pixel_labels`` -> ``labels``). When the frame has ``cam2world``
    the points and normals are moved into that (upright, z-up) frame;
    panoramas are z-up already.

    Args:
        max_depth / min_depth: range limits in metres (None: no limit).
        with_normals: estimate normals (pre-training inputs need them).
        normal_method / normal_window: see :func:`d3l.geometry.depth_normals`.
        min_incidence_cos: drop points whose surface is seen at a grazing
            angle, ``|cos(normal, ray)| < min_incidence_cos`` (e.g. 0.1);
            such points are mostly depth noise. Needs normals.
        pixel_keys: ``{per-pixel key: per-point key}``.
        keep_images: keep ``img`` / ``depth`` / ``pixel_labels`` in the
            sample (later transforms may need them to look up per-pixel data
            through ``pixel_index``); False frees the memory.
        min_points: fewest points a usable frame yields (else
            :class:`~d3l.datasets.rgbd.io.BadFrameError`).
    """

    projection: Optional[str] = None

    def __init__(self, max_depth: Optional[float] = None, min_depth: Optional[float] = None,
                 with_normals: bool = True, normal_method: str = 'pca', normal_window: int = 5,
                 min_incidence_cos: Optional[float] = None,
                 pixel_keys: Union[Dict[str, str], None] = None, keep_images: bool = True,
                 min_points: int = 1):
        if min_incidence_cos is not None and not with_normals:
            raise ValueError(f'{type(self).__name__}: min_incidence_cos needs with_normals=True')
        self.max_depth = max_depth
        self.min_depth = min_depth
        self.with_normals = with_normals
        self.normal_method = normal_method
        self.normal_window = normal_window
        self.min_incidence_cos = min_incidence_cos
        self.pixel_keys = dict(pixel_labels='labels') if pixel_keys is None else dict(pixel_keys)
        self.keep_images = keep_images
        self.min_points = int(min_points)

    def transform(self, results: dict) -> dict:
        retain_freed_memory()
        for key in ('depth', 'img'):
            if key not in results:
                raise KeyError(f'{type(self).__name__}: the sample has no {key!r}; put LoadRGBD '
                               'first in the pipeline')
        projection = results.get('projection', 'perspective')
        if self.projection is not None and projection != self.projection:
            raise ValueError(f'{type(self).__name__}: frame {_frame_name(results)} has '
                             f'projection {projection!r}; use LiftRGBD for mixed datasets')
        depth = np.asarray(results['depth'], np.float32)
        img = results['img']
        if img.shape[:2] != depth.shape:
            raise BadFrameError(f'{_frame_name(results)}: image {img.shape[:2]} and depth '
                                f'{depth.shape} differ in size')
        mask = None
        if self.min_depth is not None:
            mask = depth >= self.min_depth
        K = None
        if projection == 'perspective':
            K = results.get('intrinsics')
            if K is None:
                raise BadFrameError(f'{_frame_name(results)}: perspective frame without '
                                    'intrinsics')
        elif depth.shape[1] != 2 * depth.shape[0]:
            raise BadFrameError(f'{_frame_name(results)}: equirectangular depth must be '
                                f'twice as wide as high, got '
                                f'{depth.shape[1]}x{depth.shape[0]}')
        colors = None
        if isinstance(img, np.ndarray) and img.ndim == 3 and img.shape[2] >= 3:
            # points, colours and pixels in one pass (same values as the gathers below)
            points, colors, index = lift_rgbd(depth, img, K, projection, mask=mask,
                                              max_depth=self.max_depth)
        elif projection == 'perspective':
            points, index = lift_perspective(depth, K, mask=mask, max_depth=self.max_depth)
        else:
            points, index = lift_equirect(depth, mask=mask, max_depth=self.max_depth)
        normals = None
        if self.with_normals and len(index):
            normals = depth_normals(depth, K, projection, window=self.normal_window,
                                    method=self.normal_method, pixel_index=index)
            if self.min_incidence_cos is not None:
                dist = np.linalg.norm(points, axis=1)
                cos = np.abs(np.sum(normals * points, axis=1)) / np.maximum(dist, 1e-12)
                keep = cos >= self.min_incidence_cos
                points, index, normals = points[keep], index[keep], normals[keep]
                colors = None if colors is None else colors[keep]
        if len(index) < self.min_points:
            raise BadFrameError(f'{_frame_name(results)}: lifting gave {len(index)} points '
                                f'(need {self.min_points}); no valid depth in range')
        pose = _cam2world_rotation(results)
        if pose is not None:
            points = points @ pose[0]
            points += pose[1]
            if normals is not None:
                normals = normals @ pose[0]
        results['points'] = points
        if colors is None:  # np.take gathers rows ~10x faster than fancy indexing
            colors = np.take(img.reshape(-1, img.shape[-1])[:, :3], index, axis=0)
            colors = np.divide(colors, np.float32(255), dtype=np.float32)
        results['colors'] = colors
        if normals is not None:
            results['normals'] = normals
        results['pixel_index'] = index
        results['img_shape'] = depth.shape
        for pixel_key, point_key in self.pixel_keys.items():
            value = results.get(pixel_key)
            if value is None:
                continue
            value = np.asarray(value)
            if value.shape[:2] != depth.shape:
                raise BadFrameError(f'{_frame_name(results)}: {pixel_key!r} is '
                                    f'{value.shape[:2]} but depth is {depth.shape}')
            results[point_key] = np.take(value.reshape(depth.size, *value.shape[2:]), index,
                                         axis=0)
        if not self.keep_images:
            for key in ('img', 'depth', *self.pixel_keys):
                results.pop(key, None)
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(max_depth={self.max_depth}, '
                f'with_normals={self.with_normals}, normal_method={self.normal_method!r}, '
                f'normal_window={self.normal_window}, pixel_keys={self.pixel_keys})')


@TRANSFORMS.register_module()
class LiftPerspective(LiftRGBD):
    """:class:`LiftRGBD` for perspective frames only (z-depth + intrinsics):
    ``p = d K^-1 [u, v, 1]``, then ``cam2world`` (SUN RGB-D Rtilt, ScanNet
    pose) makes the cloud upright (z up)."""

    projection = 'perspective'


@TRANSFORMS.register_module()
class LiftEquirect(LiftRGBD):
    """:class:`LiftRGBD` for equirectangular panoramas only (ray distance,
    z-up frame; see :func:`d3l.geometry.lift_equirect`)."""

    projection = 'equirect'


@TRANSFORMS.register_module()
class DepthNormals(BaseTransform):
    """Normals of the sample's points from its depth image, after lifting
    (``LiftRGBD(with_normals=False)``) and subsampling: each point's normal
    comes from its pixel's window (``pixel_index``), so the normals are
    those :class:`LiftRGBD` would give the same points (bit-identical), but
    only the kept points pay for the plane fits: ``GridSample`` and
    ``LimitPoints`` keep 20-30 % of a frame's points. Rotated into
    ``cam2world`` like the points. Put it before the augmentations (they
    move the points and normals; it refuses a sample they have turned).

    Args:
        normal_method / normal_window: see :func:`d3l.geometry.depth_normals`.
    """

    def __init__(self, normal_method: str = 'pca', normal_window: int = 5):
        self.normal_method = normal_method
        self.normal_window = normal_window

    def transform(self, results: dict) -> dict:
        retain_freed_memory()
        for key in ('depth', 'pixel_index', 'points'):
            if results.get(key) is None:
                raise KeyError(f'{type(self).__name__}: the sample has no {key!r}; it needs '
                               'LiftRGBD (keep_images=True) before it')
        if results.get('rotation') is not None or results.get('scale_factor') is not None:
            raise ValueError(f'{type(self).__name__}: frame {_frame_name(results)} was '
                             'already rotated or scaled; put DepthNormals before the '
                             'augmentations')
        projection = results.get('projection', 'perspective')
        depth = np.asarray(results['depth'], np.float32)
        K = results.get('intrinsics') if projection == 'perspective' else None
        index = np.asarray(results['pixel_index'], np.int64)
        if len(index) != len(results['points']):
            raise ValueError(f'{type(self).__name__}: {len(index)} pixel indices for '
                             f'{len(results["points"])} points in frame {_frame_name(results)}')
        normals = depth_normals(depth, K, projection, window=self.normal_window,
                                method=self.normal_method, pixel_index=index)
        pose = _cam2world_rotation(results)
        results['normals'] = normals if pose is None else normals @ pose[0]
        return results

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(normal_method={self.normal_method!r}, '
                f'normal_window={self.normal_window})')
