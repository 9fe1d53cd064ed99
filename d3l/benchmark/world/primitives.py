"""Geometric primitives of the synthetic world: exact, vectorised geometry.

Three kinds, all z-up and in metres:

* ``box``: centre ``(3,)``, half extents ``(3,)``, rotation ``yaw`` about +z;
* ``cylinder``: vertical axis, centre ``(3,)`` (mid-height), ``radius``, half height;
* ``sphere``: centre ``(3,)``, ``radius``.

:class:`PrimitiveSet` stores a scene's primitives as arrays per kind and
provides, without per-ray or per-point Python loops,

* :meth:`PrimitiveSet.cast` -- the first intersection of many rays (exact
  slab test for boxes, quadratic + cap discs for cylinders, quadratic for
  spheres), with the hit primitive and the outward surface normal;
* :meth:`PrimitiveSet.sdf` -- exact signed distances to every primitive
  (negative inside), used to drop hidden surface samples, to place cameras in
  free space and by the tests as an independent check of the ray caster;
* :meth:`PrimitiveSet.sample_surface` -- area-uniform surface samples with
  outward normals.

Primitives are indexed globally in insertion order; per-primitive
attributes (labels, materials, ...) are plain arrays kept by the caller.
"""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

KINDS = ('box', 'cylinder', 'sphere')
# rays starting this close to a surface do not hit it again (self-intersection)
RAY_EPS = 1e-6
# max (rays x primitives) entries evaluated at once: bounds the temporaries
_CHUNK = 1 << 19


def _rot_z(yaw: np.ndarray) -> Tuple[np.ndarray, np.ndarray]:
    return np.cos(yaw), np.sin(yaw)


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

    def cast(self, origins: np.ndarray, directions: np.ndarray
             ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """First hit of each ray ``origin + t * direction`` (t > 0).

        Returns ``t`` (R,) float64 (``inf`` where nothing is hit; ``t`` is in
        units of ``|direction|``), the global primitive index (R,) int64
        (-1 on a miss) and the outward unit normal at the hit (R, 3).

        Rays are first tested against bounding spheres (two matrix products
        over all ray/primitive pairs); the exact intersection is computed
        only for the pairs that pass.
        """
        self.freeze()
        directions = np.asarray(directions, np.float64)
        origins = np.broadcast_to(np.asarray(origins, np.float64), directions.shape)
        num = len(directions)
        best_t = np.full(num, np.inf)
        best_id = np.full(num, -1, np.int64)
        normal = np.zeros((num, 3))
        count = len(self.kind)
        if count == 0 or num == 0:
            return best_t, best_id, normal
        centre, radius = self.bounding_spheres()
        columns = np.arange(count)
        if self.enclosure is not None:
            lo, hi, face_ids = self.enclosure
            if np.all((origins > lo) & (origins < hi)):
                self._cast_enclosure(origins, directions, best_t, best_id, normal)
                columns = np.setdiff1d(columns, face_ids)
                centre, radius = centre[columns], radius[columns]
                count = len(columns)
                if count == 0:
                    return best_t, best_id, normal
        # the prefilter only has to be conservative: float32 with a margin
        centre32, radius_sq = centre.astype(np.float32), ((radius + 1e-3) ** 2).astype(
            np.float32)
        centre_sq = np.sum(centre * centre, 1).astype(np.float32)
        step = max(1, _CHUNK // count)
        for start in range(0, num, step):
            o, d = origins[start:start + step], directions[start:start + step]
            o32, d32 = o.astype(np.float32), d.astype(np.float32)
            d_sq = np.sum(d * d, 1).astype(np.float32)[:, None]
            # w = c - o: d.w and |w|^2 from matrix products
            dw = d32 @ centre32.T - np.sum(d * o, 1).astype(np.float32)[:, None]
            w_sq = centre_sq[None] - 2 * (o32 @ centre32.T) + np.sum(o * o, 1).astype(
                np.float32)[:, None]
            near = (w_sq * d_sq - dw * dw <= radius_sq[None] * d_sq) & \
                (dw > -np.sqrt(radius_sq * d_sq))
            ray, prim = np.nonzero(near)  # row-major: grouped by ray
            if len(ray) == 0:
                continue
            prim = columns[prim]
            t_pair = np.full(len(ray), np.inf)
            n_pair = np.zeros((len(ray), 3))
            kind = self.kind[prim]
            for k, fn in enumerate((self._hit_boxes, self._hit_cylinders, self._hit_spheres)):
                sel = np.flatnonzero(kind == k)
                if len(sel):
                    t_pair[sel], n_pair[sel] = fn(o[ray[sel]], d[ray[sel]],
                                                  self.local[prim[sel]])
            # nearest pair of each ray: segment minimum, then its first pair
            starts = np.flatnonzero(np.r_[True, ray[1:] != ray[:-1]])
            t_min = np.minimum.reduceat(t_pair, starts)
            lengths = np.diff(np.r_[starts, len(ray)])
            candidates = np.flatnonzero(t_pair == np.repeat(t_min, lengths))
            segment = np.searchsorted(starts, candidates, side='right') - 1
            _, first = np.unique(segment, return_index=True)
            winner = candidates[first]
            hit = np.isfinite(t_pair[winner])
            winner = winner[hit]
            idx = ray[winner] + start
            closer = t_pair[winner] < best_t[idx]  # than the enclosure
            winner, idx = winner[closer], idx[closer]
            best_t[idx] = t_pair[winner]
            best_id[idx] = prim[winner]
            normal[idx] = n_pair[winner]
        return best_t, best_id, normal

    def _cast_enclosure(self, o, d, best_t, best_id, normal):
        lo, hi, face_ids = self.enclosure
        with np.errstate(divide='ignore', invalid='ignore'):
            t_axis = np.where(d > 0, (hi - o) / d, np.where(d < 0, (lo - o) / d, np.inf))
        axis = np.argmin(t_axis, 1)
        rows = np.arange(len(o))
        t = t_axis[rows, axis]
        positive = d[rows, axis] > 0
        hit = np.isfinite(t)
        best_t[hit] = t[hit]
        best_id[hit] = face_ids[2 * axis + positive][hit]
        inward = np.zeros((len(o), 3))
        inward[rows, axis] = np.where(positive, -1.0, 1.0)
        normal[hit] = inward[hit]

    def _hit_boxes(self, o: np.ndarray, d: np.ndarray, loc: np.ndarray):
        """Entry hits of rays (M) with boxes ``loc`` (M): t (inf: none), normal."""
        cos, sin = _rot_z(self.box_yaw[loc])
        rel = o - self.box_center[loc]
        lo = np.stack([cos * rel[:, 0] + sin * rel[:, 1], -sin * rel[:, 0] + cos * rel[:, 1],
                       rel[:, 2]], 1)
        ld = np.stack([cos * d[:, 0] + sin * d[:, 1], -sin * d[:, 0] + cos * d[:, 1], d[:, 2]],
                      1)
        half = self.box_half[loc]
        with np.errstate(divide='ignore', invalid='ignore'):
            t1 = (-half - lo) / ld
            t2 = (half - lo) / ld
        # a ray parallel to a slab: inside it -> (-inf, inf), outside -> empty
        parallel = ld == 0
        inside_slab = np.abs(lo) <= half
        t_lo = np.where(parallel, np.where(inside_slab, -np.inf, np.inf), np.minimum(t1, t2))
        t_hi = np.where(parallel, np.where(inside_slab, np.inf, -np.inf), np.maximum(t1, t2))
        axis = np.argmax(t_lo, 1)
        rows = np.arange(len(o))
        t_near = t_lo[rows, axis]
        hit = (t_near <= t_hi.min(1)) & (t_near > RAY_EPS)
        n_local = np.zeros((len(o), 3))
        n_local[rows, axis] = -np.sign(ld[rows, axis])
        nrm = np.stack([cos * n_local[:, 0] - sin * n_local[:, 1],
                        sin * n_local[:, 0] + cos * n_local[:, 1], n_local[:, 2]], 1)
        return np.where(hit, t_near, np.inf), nrm

    def _hit_cylinders(self, o: np.ndarray, d: np.ndarray, loc: np.ndarray):
        rel = o - self.cyl_center[loc]
        r, h = self.cyl_radius[loc], self.cyl_half[loc]
        dx, dy, dz = d[:, 0], d[:, 1], d[:, 2]
        a = dx * dx + dy * dy
        b = 2 * (rel[:, 0] * dx + rel[:, 1] * dy)
        c = rel[:, 0] ** 2 + rel[:, 1] ** 2 - r * r
        disc = b * b - 4 * a * c
        top = rel[:, 2] > h
        with np.errstate(divide='ignore', invalid='ignore'):
            t_side = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
            z_side = rel[:, 2] + t_side * dz
            side_ok = (disc >= 0) & (a > 0) & (np.abs(z_side) <= h) & (t_side > RAY_EPS)
            # discs: entering through the top (from above) or the bottom (from below)
            t_cap = np.where(top, h - rel[:, 2], -h - rel[:, 2]) / dz
            cx = rel[:, 0] + t_cap * dx
            cy = rel[:, 1] + t_cap * dy
            cap_ok = ((top & (dz < 0)) | ((rel[:, 2] < -h) & (dz > 0))) & \
                (cx * cx + cy * cy <= r * r) & (t_cap > RAY_EPS)
        t_side = np.where(side_ok, t_side, np.inf)
        t_cap = np.where(cap_ok, t_cap, np.inf)
        on_side = t_side <= t_cap
        t = np.minimum(t_side, t_cap)
        p = rel + np.where(np.isfinite(t), t, 0)[:, None] * d
        radial = p[:, :2] / r[:, None]
        zeros = np.zeros(len(o))
        nrm = np.where(on_side[:, None], np.stack([radial[:, 0], radial[:, 1], zeros], 1),
                       np.stack([zeros, zeros, np.where(top, 1.0, -1.0)], 1))
        return t, nrm

    def _hit_spheres(self, o: np.ndarray, d: np.ndarray, loc: np.ndarray):
        rel = o - self.sph_center[loc]
        r = self.sph_radius[loc]
        a = np.sum(d * d, 1)
        b = 2 * np.sum(rel * d, 1)
        c = np.sum(rel * rel, 1) - r * r
        disc = b * b - 4 * a * c
        t = (-b - np.sqrt(np.maximum(disc, 0))) / (2 * a)
        t = np.where((disc >= 0) & (t > RAY_EPS), t, np.inf)
        p = rel + np.where(np.isfinite(t), t, 0)[:, None] * d
        return t, p / r[:, None]

    def sdf(self, points: np.ndarray, ids: Optional[np.ndarray] = None) -> np.ndarray:
        """Exact signed distance (M, P) of each point to each primitive
        (negative inside); ``ids`` restricts the columns to those primitives."""
        self.freeze()
        points = np.asarray(points, np.float64)
        ids = np.arange(len(self.kind)) if ids is None else np.asarray(ids, np.int64)
        out = np.empty((len(points), len(ids)))
        kinds = self.kind[ids]
        for k in range(3):
            cols = np.flatnonzero(kinds == k)
            if len(cols) == 0:
                continue
            loc = self.local[ids[cols]]
            out[:, cols] = (self._sdf_boxes, self._sdf_cylinders, self._sdf_spheres)[k](
                points, loc)
        return out

    def _sdf_boxes(self, p: np.ndarray, loc: np.ndarray) -> np.ndarray:
        cos, sin = _rot_z(self.box_yaw[loc])
        rel = p[:, None, :] - self.box_center[loc][None]
        local = np.stack([cos * rel[..., 0] + sin * rel[..., 1],
                          -sin * rel[..., 0] + cos * rel[..., 1], rel[..., 2]], -1)
        q = np.abs(local) - self.box_half[loc][None]
        outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
        return outside + np.minimum(q.max(-1), 0)

    def _sdf_cylinders(self, p: np.ndarray, loc: np.ndarray) -> np.ndarray:
        rel = p[:, None, :] - self.cyl_center[loc][None]
        q = np.stack([np.hypot(rel[..., 0], rel[..., 1]) - self.cyl_radius[loc][None],
                      np.abs(rel[..., 2]) - self.cyl_half[loc][None]], -1)
        outside = np.linalg.norm(np.maximum(q, 0), axis=-1)
        return outside + np.minimum(q.max(-1), 0)

    def _sdf_spheres(self, p: np.ndarray, loc: np.ndarray) -> np.ndarray:
        return np.linalg.norm(p[:, None, :] - self.sph_center[loc][None], axis=-1) - \
            self.sph_radius[loc][None]

    def min_sdf(self, points: np.ndarray, exclude: Optional[np.ndarray] = None,
                chunk: int = 4096) -> np.ndarray:
        """Signed distance of each point to the union of the primitives;
        ``exclude`` (M,) names one primitive per point to leave out (-1: none)."""
        points = np.asarray(points, np.float64)
        out = np.empty(len(points))
        for start in range(0, len(points), chunk):
            sl = slice(start, start + chunk)
            dist = self.sdf(points[sl])
            if exclude is not None:
                ex = np.asarray(exclude)[sl]
                rows = np.flatnonzero(ex >= 0)
                dist[rows, ex[rows]] = np.inf
            out[sl] = dist.min(1) if dist.shape[1] else np.inf
        return out

    # -------------------------------------------------------------- sampling
    def areas(self) -> np.ndarray:
        """(P,) sampled surface area of each primitive (selected box faces)."""
        self.freeze()
        out = np.zeros(len(self.kind))
        if len(self.box_ids):
            out[self.box_ids] = (self._box_face_areas() * self.box_faces).sum(1)
        if len(self.cyl_ids):
            r, h = self.cyl_radius, self.cyl_half
            out[self.cyl_ids] = 2 * np.pi * r * 2 * h + 2 * np.pi * r * r
        if len(self.sph_ids):
            out[self.sph_ids] = 4 * np.pi * self.sph_radius ** 2
        return out

    def _box_face_areas(self) -> np.ndarray:
        hx, hy, hz = self.box_half.T
        return 4 * np.stack([hy * hz, hy * hz, hx * hz, hx * hz, hx * hy, hx * hy], 1)

    def sample_surface(self, counts: np.ndarray, rng: np.random.Generator
                       ) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``counts[i]`` area-uniform samples on primitive ``i``.

        Returns points (N, 3), outward unit normals (N, 3) and the primitive
        index (N,) of each sample, primitives in index order.
        """
        self.freeze()
        counts = np.asarray(counts, np.int64)
        if counts.shape != (len(self.kind),):
            raise ValueError(f'counts must have one entry per primitive ({len(self.kind)}), '
                             f'got shape {counts.shape}')
        owner = np.repeat(np.arange(len(counts)), counts)
        points = np.zeros((len(owner), 3))
        normals = np.zeros((len(owner), 3))
        kind = self.kind[owner]
        loc = self.local[owner]
        for k, fn in enumerate((self._sample_boxes, self._sample_cylinders,
                                self._sample_spheres)):
            sel = np.flatnonzero(kind == k)
            if len(sel):
                points[sel], normals[sel] = fn(loc[sel], rng)
        return points, normals, owner

    def _sample_boxes(self, loc: np.ndarray, rng: np.random.Generator):
        weights = (self._box_face_areas() * self.box_faces)[loc]
        cum = np.cumsum(weights, 1)
        pick = (rng.random(len(loc)) * cum[:, -1])[:, None]
        face = np.minimum((cum <= pick).sum(1), 5)
        axis, sign = face // 2, np.where(face % 2 == 0, -1.0, 1.0)
        half = self.box_half[loc]
        local = (rng.random((len(loc), 3)) * 2 - 1) * half
        rows = np.arange(len(loc))
        local[rows, axis] = sign * half[rows, axis]
        n_local = np.zeros((len(loc), 3))
        n_local[rows, axis] = sign
        cos, sin = _rot_z(self.box_yaw[loc])

        def rotate(v):
            return np.stack([cos * v[:, 0] - sin * v[:, 1], sin * v[:, 0] + cos * v[:, 1],
                             v[:, 2]], 1)
        return rotate(local) + self.box_center[loc], rotate(n_local)

    def _sample_cylinders(self, loc: np.ndarray, rng: np.random.Generator):
        r, h = self.cyl_radius[loc], self.cyl_half[loc]
        side, cap = 4 * np.pi * r * h, np.pi * r * r
        on_side = rng.random(len(loc)) * (side + 2 * cap) < side
        theta = rng.uniform(0, 2 * np.pi, len(loc))
        radius = np.where(on_side, r, r * np.sqrt(rng.random(len(loc))))
        top = rng.random(len(loc)) < 0.5
        z = np.where(on_side, rng.uniform(-1, 1, len(loc)) * h, np.where(top, h, -h))
        points = np.stack([radius * np.cos(theta), radius * np.sin(theta), z], 1)
        normals = np.where(on_side[:, None],
                           np.stack([np.cos(theta), np.sin(theta), np.zeros(len(loc))], 1),
                           np.stack([np.zeros(len(loc)), np.zeros(len(loc)),
                                     np.where(top, 1.0, -1.0)], 1))
        return points + self.cyl_center[loc], normals

    def _sample_spheres(self, loc: np.ndarray, rng: np.random.Generator):
        normals = rng.normal(size=(len(loc), 3))
        normals /= np.linalg.norm(normals, axis=1, keepdims=True)
        return self.sph_center[loc] + normals * self.sph_radius[loc][:, None], normals

    def to_dict(self) -> Dict[str, np.ndarray]:
        """The packed arrays (for saving alongside a scene)."""
        self.freeze()
        return dict(kind=self.kind, box_center=self.box_center, box_half=self.box_half,
                    box_yaw=self.box_yaw, cyl_center=self.cyl_center,
                    cyl_radius=self.cyl_radius, cyl_half=self.cyl_half,
                    sph_center=self.sph_center, sph_radius=self.sph_radius)
