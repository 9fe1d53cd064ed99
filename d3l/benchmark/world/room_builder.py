"""The builder every room program draws with: the shell (walls, floor,
ceiling) and the placement of furniture, against walls, free-standing or
relative to another object, rejecting overlapping footprints (oriented-rectangle
test, per height band so that a low cabinet may stand under a window).
Everything depends only on the generator passed in."""
from __future__ import annotations

from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from .appearance import sample_material
from .classes import class_id_2d, class_id_3d
from .furniture_parts import Furniture
from .primitives import PrimitiveSet

WALL_THICKNESS = 0.1
# (inward normal, axis the wall runs along) of walls x=0, x=Lx, y=0, y=Ly
WALLS = (((1.0, 0.0), 1), ((-1.0, 0.0), 1), ((0.0, 1.0), 0), ((0.0, -1.0), 0))


class RoomBuilder:
    """A room being furnished: its primitives, their attributes (one entry
    per primitive, see :class:`.rooms.Room`) and the occupied footprints."""

    def __init__(self, room_type: str, size: Tuple[float, float, float],
                 rng: np.random.Generator):
        self.room_type, self.size, self.rng = room_type, size, rng
        self.prims = PrimitiveSet()
        self.attrs: Dict[str, list] = {k: [] for k in (
            'label2d', 'label3d', 'instance', 'rgb', 'texture', 'tex_amp', 'tex_phase',
            'is_ceiling')}
        # occupied regions: (centre xy, half extents xy, yaw, z0, z1, group)
        self.occupied: List[Tuple[np.ndarray, np.ndarray, float, float, float, int]] = []
        self.objects: List[dict] = []
        self.next_instance = 1
        self._shell()

    # ---------------------------------------------------------------- shell
    def _add_prim(self, index: int, part2d: str, class3d: str, material, instance: int,
                  ceiling: bool = False):
        assert index == len(self.attrs['label2d'])
        rgb, tex, amp = material
        self.attrs['label2d'].append(class_id_2d(part2d))
        self.attrs['label3d'].append(class_id_3d(class3d))
        self.attrs['instance'].append(instance)
        self.attrs['rgb'].append(rgb)
        self.attrs['texture'].append(tex)
        self.attrs['tex_amp'].append(amp)
        self.attrs['tex_phase'].append(self.rng.uniform(0, 2 * np.pi))
        self.attrs['is_ceiling'].append(ceiling)

    def _shell(self):
        lx, ly, h = self.size
        t, pad = WALL_THICKNESS, WALL_THICKNESS
        wall_mat = sample_material('wall', self.rng)
        floor_mat = sample_material('floor', self.rng)
        ceil_mat = sample_material('ceiling', self.rng)
        # slabs outside the room; only the face towards the room is sampled
        i = self.prims.add_box((lx / 2, ly / 2, -t / 2), (lx / 2 + pad, ly / 2 + pad, t / 2),
                               faces=[0, 0, 0, 0, 0, 1])
        self._add_prim(i, 'floor', 'floor', floor_mat, 0)
        i = self.prims.add_box((lx / 2, ly / 2, h + t / 2), (lx / 2 + pad, ly / 2 + pad, t / 2),
                               faces=[0, 0, 0, 0, 1, 0])
        self._add_prim(i, 'ceiling', '', ceil_mat, 0, ceiling=True)
        # a second wall colour on one wall now and then (accent walls)
        accent = int(self.rng.integers(4)) if self.rng.random() < 0.25 else -1
        accent_mat = sample_material('wall', self.rng)
        for k, (centre, half, faces) in enumerate((
                ((-t / 2, ly / 2, h / 2), (t / 2, ly / 2 + pad, h / 2 + pad), [0, 1, 0, 0, 0, 0]),
                ((lx + t / 2, ly / 2, h / 2), (t / 2, ly / 2 + pad, h / 2 + pad),
                 [1, 0, 0, 0, 0, 0]),
                ((lx / 2, -t / 2, h / 2), (lx / 2 + pad, t / 2, h / 2 + pad), [0, 0, 0, 1, 0, 0]),
                ((lx / 2, ly + t / 2, h / 2), (lx / 2 + pad, t / 2, h / 2 + pad),
                 [0, 0, 1, 0, 0, 0]))):
            i = self.prims.add_box(centre, half, faces=faces)
            self._add_prim(i, 'wall', 'wall', accent_mat if k == accent else wall_mat, 0)
        # walls x=0, x=Lx, y=0, y=Ly are primitives 2..5; floor 0, ceiling 1
        self.prims.set_enclosure((0, 0, 0), (lx, ly, h), [2, 3, 4, 5, 0, 1])

    # ------------------------------------------------------------ placement
    def _fits(self, centre, half, yaw, z0, z1, group) -> bool:
        lx, ly, _ = self.size
        c, s = np.cos(yaw), np.sin(yaw)
        axes_a = np.array([[c, s], [-s, c]])
        corners = centre + np.array([[sx * half[0], sy * half[1]] for sx in (-1, 1)
                                     for sy in (-1, 1)]) @ axes_a
        if corners.min() < -1e-6 or np.any(corners.max(0) > np.array([lx, ly]) + 1e-6):
            return False
        for (oc, oh, oyaw, oz0, oz1, ogroup) in self.occupied:
            if group is not None and ogroup == group:
                continue
            if z1 <= oz0 or oz1 <= z0:
                continue
            c2, s2 = np.cos(oyaw), np.sin(oyaw)
            axes_b = np.array([[c2, s2], [-s2, c2]])
            delta = oc - centre
            separated = False
            for axis in np.concatenate([axes_a, axes_b]):
                ra = half[0] * abs(axes_a[0] @ axis) + half[1] * abs(axes_a[1] @ axis)
                rb = oh[0] * abs(axes_b[0] @ axis) + oh[1] * abs(axes_b[1] @ axis)
                if abs(delta @ axis) > ra + rb:
                    separated = True
                    break
            if not separated:
                return False
        return True

    def place(self, obj: Furniture, x: float, y: float, yaw: float, z: float = 0.0,
              group: Optional[int] = None, check: bool = True) -> Optional[dict]:
        """Place ``obj`` with its frame at (x, y, z) rotated by ``yaw``; returns
        the placement or None when it collides / leaves the room."""
        half = np.array([obj.width / 2, obj.depth / 2 + obj.keepout / 2])
        # the keep-out zone extends in front of the object (-y in its frame)
        c, s = np.cos(yaw), np.sin(yaw)
        shift = np.array([s, -c]) * (obj.keepout / 2)
        centre = np.array([x, y]) + shift
        z0, z1 = obj.z_range if obj.z_range is not None else (0.0, obj.height)
        z0, z1 = z0 + z, z1 + z
        if check and obj.collides and not self._fits(centre, half, yaw, z0, z1, group):
            return None
        instance = self.next_instance
        self.next_instance += 1
        if obj.collides:
            self.occupied.append((centre, half, yaw, z0, z1,
                                  instance if group is None else group))
        materials: Dict[str, tuple] = {}
        for part in obj.parts:
            if part.own_material or part.role not in materials:
                material = sample_material(part.role, self.rng)
                if not part.own_material:
                    materials[part.role] = material
            else:
                material = materials[part.role]
            px, py, pz = part.center
            wx, wy = x + c * px - s * py, y + s * px + c * py
            centre3 = (wx, wy, z + pz)
            if part.kind == 'box':
                index = self.prims.add_box(centre3, np.asarray(part.size) / 2, yaw + part.yaw)
            elif part.kind == 'cylinder':
                index = self.prims.add_cylinder(centre3, part.size[0], part.size[1] / 2)
            else:
                index = self.prims.add_sphere(centre3, part.size[0])
            self._add_prim(index, part.part2d, part.class3d, material, instance)
        placement = dict(name=obj.name, instance=instance, position=[x, y, z], yaw=yaw,
                         width=obj.width, depth=obj.depth, height=obj.height)
        self.objects.append(placement)
        return placement

    def wall_frame(self, wall: int, along: float, offset: float):
        """(x, y, yaw) of a point ``along`` the wall, ``offset`` into the room,
        facing into the room."""
        lx, ly, _ = self.size
        (nx, ny), axis = WALLS[wall]
        if axis == 1:
            x, y = (0.0 if nx > 0 else lx) + nx * offset, along
        else:
            x, y = along, (0.0 if ny > 0 else ly) + ny * offset
        return x, y, float(np.arctan2(nx, -ny))

    def wall_length(self, wall: int) -> float:
        return self.size[1] if WALLS[wall][1] == 1 else self.size[0]

    def place_on_wall(self, obj: Furniture, walls: Optional[Sequence[int]] = None,
                      z: float = 0.0, tries: int = 30, group: Optional[int] = None,
                      along: Optional[float] = None) -> Optional[dict]:
        """Back against a random wall (of ``walls``), at a random position."""
        walls = list(range(4)) if walls is None else list(walls)
        for _ in range(tries):
            wall = walls[int(self.rng.integers(len(walls)))]
            length = self.wall_length(wall)
            margin = obj.width / 2 + 0.02
            if length < 2 * margin:
                continue
            pos = along if along is not None else self.rng.uniform(margin, length - margin)
            x, y, yaw = self.wall_frame(wall, pos, obj.depth / 2 + 0.0005)
            placed = self.place(obj, x, y, yaw, z=z, group=group)
            if placed is not None:
                placed['wall'] = wall
                return placed
        return None

    def place_free(self, obj: Furniture, tries: int = 30, margin: float = 0.3,
                   group: Optional[int] = None, any_yaw: bool = False) -> Optional[dict]:
        lx, ly, _ = self.size
        for _ in range(tries):
            yaw = self.rng.uniform(0, 2 * np.pi) if any_yaw else \
                float(self.rng.integers(4)) * np.pi / 2 + self.rng.normal(0, 0.05)
            reach = max(obj.width, obj.depth) / 2 + margin
            if lx < 2 * reach or ly < 2 * reach:
                return None
            x, y = self.rng.uniform(reach, lx - reach), self.rng.uniform(reach, ly - reach)
            placed = self.place(obj, x, y, yaw, group=group)
            if placed is not None:
                return placed
        return None

    def place_relative(self, obj: Furniture, parent: dict, local_xy: Tuple[float, float],
                       yaw: float, z: float = 0.0, group: Optional[int] = None,
                       check: bool = True) -> Optional[dict]:
        """Place at ``local_xy`` in the parent's frame, with world ``yaw``."""
        px, py, _ = parent['position']
        c, s = np.cos(parent['yaw']), np.sin(parent['yaw'])
        x = px + c * local_xy[0] - s * local_xy[1]
        y = py + s * local_xy[0] + c * local_xy[1]
        return self.place(obj, x, y, yaw, z=z, group=group, check=check)

    def maybe(self, p: float) -> bool:
        return bool(self.rng.random() < p)

    def count(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))

    def attributes(self) -> Dict[str, np.ndarray]:
        """The per-primitive attributes as arrays (the fields of :class:`.rooms.Room`)."""
        a = self.attrs
        return dict(label2d=np.asarray(a['label2d'], np.int64),
                    label3d=np.asarray(a['label3d'], np.int64),
                    instance=np.asarray(a['instance'], np.int64),
                    rgb=np.asarray(a['rgb'], np.float64),
                    texture=np.asarray(a['texture'], np.int64),
                    tex_amp=np.asarray(a['tex_amp'], np.float64),
                    tex_phase=np.asarray(a['tex_phase'], np.float64),
                    is_ceiling=np.asarray(a['is_ceiling'], bool))
