"""Geometric primitives of the synthetic world: exact, vectorised geometry.

Three kinds, all z-up and in metres:

* ``box``: centre ``(3,)``, half extents ``(3,)``, rotation ``yaw`` about +z;
* ``cylinder``: vertical axis, centre ``(3,)`` (mid-height), ``radius``, half height;
* ``sphere``: centre ``(3,)``, ``radius``.

:class:`PrimitiveSet` stores a scene's primitives as arrays per kind and
provides, without per-ray or per-point Python loops,

* :meth:`PrimitiveSet.cast` -- the first intersection of many rays (exact
  slab test for boxes, quadratic + cap discs for cylinders, quadratic for
  spheres), with the hit primitive and the outward surface normal
  (:mod:`.raycast`);
* :meth:`PrimitiveSet.sdf` -- exact signed distances to every primitive
  (negative inside), used to drop hidden surface samples, to place cameras in
  free space and by the tests as an independent check of the ray caster
  (:mod:`.distance`);
* :meth:`PrimitiveSet.sample_surface` -- area-uniform surface samples with
  outward normals (:mod:`.surface_samples`).

Primitives are indexed globally in insertion order; per-primitive
attributes (labels, materials, ...) are plain arrays kept by the caller.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from . import distance, raycast, surface_samples
from .raycast import RAY_EPS

__all__ = ['PrimitiveSet', 'KINDS', 'RAY_EPS']

KINDS = ('box', 'cylinder', 'sphere')


class PrimitiveSet:
    """The primitives of one scene, with ray casting, SDF and sampling.

    Build it with :meth:`add_box` / :meth:`add_cylinder` / :meth:`add_sphere`
    (each returns the global index of the new primitive), then call
    :meth:`freeze` (done lazily by the queries) to pack the arrays.
    """

    def __init__(self):
        self._pending: List[Tuple[str, tuple]] = []
        self._frozen = False
        self.kind = np.zeros(0, np.int64)        # global index -> kind id
        self.local = np.zeros(0, np.int64)       # global index -> index within its kind
        self.box_center = np.zeros((0, 3))
        self.box_half = np.zeros((0, 3))
        self.box_yaw = np.zeros(0)
        self.box_faces = np.zeros((0, 6), bool)  # which faces are sampled
        self.cyl_center = np.zeros((0, 3))
        self.cyl_radius = np.zeros(0)
        self.cyl_half = np.zeros(0)
        self.sph_center = np.zeros((0, 3))
        self.sph_radius = np.zeros(0)
        self.box_ids = np.zeros(0, np.int64)
        self.cyl_ids = np.zeros(0, np.int64)
        self.sph_ids = np.zeros(0, np.int64)
        self.enclosure: Optional[Tuple[np.ndarray, np.ndarray, np.ndarray]] = None

    # ------------------------------------------------------------------ build
    def _add(self, kind: str, params: tuple) -> int:
        if self._frozen:
            raise RuntimeError('PrimitiveSet is frozen; build a new one to add primitives')
        self._pending.append((kind, params))
        return len(self._pending) - 1

    def add_box(self, center: Sequence[float], half: Sequence[float], yaw: float = 0.0,
                faces: Optional[Sequence[bool]] = None) -> int:
        """A box; ``faces`` (6 bools, order -x +x -y +y -z +z in the box
        frame) selects the faces :meth:`sample_surface` samples (default all)."""
        half = np.asarray(half, np.float64)
        if half.shape != (3,) or np.any(half <= 0):
            raise ValueError(f'box half extents must be 3 positive numbers, got {half}')
        faces = np.ones(6, bool) if faces is None else np.asarray(faces, bool)
        return self._add('box', (np.asarray(center, np.float64), half, float(yaw), faces))

    def add_cylinder(self, center: Sequence[float], radius: float, half_height: float) -> int:
        """A vertical cylinder (closed by two discs) centred at ``center``."""
        if radius <= 0 or half_height <= 0:
            raise ValueError(f'cylinder radius and half height must be positive, got '
                             f'{radius}, {half_height}')
        return self._add('cylinder', (np.asarray(center, np.float64), float(radius),
                                      float(half_height)))

    def add_sphere(self, center: Sequence[float], radius: float) -> int:
        if radius <= 0:
            raise ValueError(f'sphere radius must be positive, got {radius}')
        return self._add('sphere', (np.asarray(center, np.float64), float(radius)))

    def __len__(self) -> int:
        return len(self._pending)

    def set_enclosure(self, lo: Sequence[float], hi: Sequence[float],
                      face_ids: Sequence[int]) -> None:
        """Declare that primitives ``face_ids`` (order -x +x -y +y -z +z) bound
        the axis-aligned box ``[lo, hi]`` from outside, their inner faces on
        its planes (a room's walls, floor and ceiling). Rays starting inside
        the box then meet them by an exact exit test instead of six
        ray/box tests each (:meth:`cast` returns the same hits)."""
        lo, hi = np.asarray(lo, np.float64), np.asarray(hi, np.float64)
        face_ids = np.asarray(face_ids, np.int64)
        if lo.shape != (3,) or hi.shape != (3,) or np.any(hi <= lo) or face_ids.shape != (6,):
            raise ValueError('set_enclosure: need lo < hi (3 values each) and 6 face ids')
        self.enclosure = (lo, hi, face_ids)

    def freeze(self) -> PrimitiveSet:
        if self._frozen:
            return self
        kinds = np.array([KINDS.index(k) for k, _ in self._pending], np.int64)
        self.kind = kinds
        self.local = np.zeros(len(kinds), np.int64)
        for k in range(len(KINDS)):
            ids = np.flatnonzero(kinds == k)
            self.local[ids] = np.arange(len(ids))
        self.box_ids, self.cyl_ids, self.sph_ids = (np.flatnonzero(kinds == k) for k in range(3))
        boxes = [p for k, p in self._pending if k == 'box']
        cyls = [p for k, p in self._pending if k == 'cylinder']
        sphs = [p for k, p in self._pending if k == 'sphere']
        if boxes:
            self.box_center = np.stack([b[0] for b in boxes])
            self.box_half = np.stack([b[1] for b in boxes])
            self.box_yaw = np.array([b[2] for b in boxes])
            self.box_faces = np.stack([b[3] for b in boxes])
        if cyls:
            self.cyl_center = np.stack([c[0] for c in cyls])
            self.cyl_radius = np.array([c[1] for c in cyls])
            self.cyl_half = np.array([c[2] for c in cyls])
        if sphs:
            self.sph_center = np.stack([s[0] for s in sphs])
            self.sph_radius = np.array([s[1] for s in sphs])
        self._frozen = True
        return self

    # --------------------------------------------------------------- queries
    def bounding_spheres(self) -> Tuple[np.ndarray, np.ndarray]:
        """(P, 3) centres and (P,) radii of spheres enclosing each primitive."""
        self.freeze()
        centre = np.zeros((len(self.kind), 3))
        radius = np.zeros(len(self.kind))
        centre[self.box_ids], radius[self.box_ids] = self.box_center, np.linalg.norm(
            self.box_half, axis=1)
        centre[self.cyl_ids] = self.cyl_center
        radius[self.cyl_ids] = np.hypot(self.cyl_radius, self.cyl_half)
        centre[self.sph_ids], radius[self.sph_ids] = self.sph_center, self.sph_radius
        return centre, radius

    def bounding_boxes(self) -> Tuple[np.ndarray, np.ndarray]:
        """(P, 3) lower and upper corners of axis-aligned boxes enclosing
        each primitive (a yawed box's footprint rotated)."""
        self.freeze()
        centre, radius = self.bounding_spheres()
        half = np.repeat(radius[:, None], 3, 1)
        if len(self.box_ids):
            cos, sin = np.abs(np.cos(self.box_yaw)), np.abs(np.sin(self.box_yaw))
            hx, hy, hz = self.box_half.T
            half[self.box_ids] = np.stack([cos * hx + sin * hy, sin * hx + cos * hy, hz], 1)
        if len(self.cyl_ids):
            half[self.cyl_ids] = np.stack([self.cyl_radius, self.cyl_radius,
                                           self.cyl_half], 1)
        return centre - half, centre + half

    def cast(self, origins: np.ndarray, directions: np.ndarray
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hit of each ray ``origin + t * direction`` (t > 0): ``t``
        (``inf`` on a miss, in units of ``|direction|``), the primitive index
        (-1 on a miss) and the outward unit normal; see :func:`.raycast.cast`."""
        return raycast.cast(self, origins, directions)

    def sdf(self, points: np.ndarray, ids: Optional[np.ndarray] = None) -> np.ndarray:
        """Exact signed distance (M, P) of each point to each primitive
        (negative inside); ``ids`` restricts the columns to those primitives."""
        return distance.sdf(self, points, ids)

    def min_sdf(self, points: np.ndarray, exclude: Optional[np.ndarray] = None,
                chunk: int = 4096) -> np.ndarray:
        """Signed distance of each point to the union of the primitives;
        ``exclude`` (M,) names one primitive per point to leave out (-1: none)."""
        return distance.min_sdf(self, points, exclude, chunk)

    def near_any(self, points: np.ndarray, eps: float,
                 exclude: Optional[np.ndarray] = None) -> np.ndarray:
        """Whether some primitive (but ``exclude``'s) is within ``eps`` of
        each point: ``min_sdf(points, exclude) <= eps``, computed for the
        nearby pairs only (:func:`.distance.near_any`)."""
        return distance.near_any(self, points, eps, exclude)

    # -------------------------------------------------------------- sampling
    def areas(self) -> np.ndarray:
        """(P,) sampled surface area of each primitive (selected box faces)."""
        return surface_samples.areas(self)

    def sample_surface(self, counts: np.ndarray, rng: np.random.Generator
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``counts[i]`` area-uniform samples on primitive ``i``: points (N, 3),
        outward unit normals (N, 3) and the primitive index (N,) of each
        sample, primitives in index order."""
        return surface_samples.sample_surface(self, counts, rng)

    def to_dict(self) -> Dict[str, np.ndarray]:
        """The packed arrays (for saving alongside a scene)."""
        self.freeze()
        return dict(kind=self.kind, box_center=self.box_center, box_half=self.box_half,
                    box_yaw=self.box_yaw, cyl_center=self.cyl_center,
                    cyl_radius=self.cyl_radius, cyl_half=self.cyl_half,
                    sph_center=self.sph_center, sph_radius=self.sph_radius)
