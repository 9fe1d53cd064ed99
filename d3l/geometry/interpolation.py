"""Trilinear interpolation of a coarse lattice at many points (the elastic
distortion's displacement field), clamped to the lattice like
``scipy.ndimage.map_coordinates(order=1, mode='nearest')``."""
import numpy as np
import torch

#: set to False to force the torch path (tests compare the two)
USE_NUMBA = True
#: set to False for ``displace``'s NumPy expression around ``trilinear`` (tests compare)
USE_FUSED = True
_KERNEL: list = []  # the compiled kernel, or None without numba; built on first use


def _cell(x, size):
    """Lower node and fraction of coordinate ``x`` on an axis of ``size``
    nodes, clamped to the lattice (``mode='nearest'``)."""
    x = min(max(x, 0.0), size - 1.0)
    i = min(int(np.floor(x)), max(size - 2, 0))
    return i, x - i, min(i + 1, size - 1)


def _trilinear_kernel(field, coords, out):  # pragma: no cover - compiled by numba
    nx, ny, nz, channels = field.shape
    for n in range(coords.shape[0]):
        i0, fx, i1 = _cell(coords[n, 0], nx)
        j0, fy, j1 = _cell(coords[n, 1], ny)
        k0, fz, k1 = _cell(coords[n, 2], nz)
        gx, gy, gz = 1.0 - fx, 1.0 - fy, 1.0 - fz
        w000, w001, w010, w011 = gx * gy * gz, gx * gy * fz, gx * fy * gz, gx * fy * fz
        w100, w101, w110, w111 = fx * gy * gz, fx * gy * fz, fx * fy * gz, fx * fy * fz
        for c in range(channels):
            out[n, c] = (w000 * field[i0, j0, k0, c] + w001 * field[i0, j0, k1, c]
                         + w010 * field[i0, j1, k0, c] + w011 * field[i0, j1, k1, c]
                         + w100 * field[i1, j0, k0, c] + w101 * field[i1, j0, k1, c]
                         + w110 * field[i1, j1, k0, c] + w111 * field[i1, j1, k1, c])


def _corners(field, a, b, c, d, e, f, g, h, w):  # pragma: no cover - numba, inlined
    """``sum(w[i] * field[corner i])`` left to right (the trilinear order)."""
    return (w[0] * field[a] + w[1] * field[b] + w[2] * field[c] + w[3] * field[d]
            + w[4] * field[e] + w[5] * field[f] + w[6] * field[g] + w[7] * field[h])


def _displace_kernel(field, points, lo, granularity, magnitude, out):  # pragma: no cover
    """``out = points + trilinear(field, (points - lo) / granularity + 1) *
    magnitude`` in one pass for a 3-channel lattice: the same float64
    operations, in the same order, as the NumPy expression around
    ``_trilinear_kernel`` (numba does not contract or reorder them without
    fastmath), so the same bits. The corners are read at unsigned offsets of
    the flat lattice (numba then skips its negative-index checks) and the
    three channels are stored after all loads (no reload after a store that
    might alias): 2x the two-pass expression."""
    nx, ny, nz, _ = field.shape
    flat = field.reshape(-1)
    sx, sy, sz = np.uint64(ny * nz * 3), np.uint64(nz * 3), np.uint64(3)
    one, two = np.uint64(1), np.uint64(2)
    for n in range(points.shape[0]):
        px, py, pz = np.float64(points[n, 0]), np.float64(points[n, 1]), np.float64(points[n, 2])
        i0, fx, i1 = _cell((px - lo[0]) / granularity + 1.0, nx)
        j0, fy, j1 = _cell((py - lo[1]) / granularity + 1.0, ny)
        k0, fz, k1 = _cell((pz - lo[2]) / granularity + 1.0, nz)
        gx, gy, gz = 1.0 - fx, 1.0 - fy, 1.0 - fz
        w = (gx * gy * gz, gx * gy * fz, gx * fy * gz, gx * fy * fz,
             fx * gy * gz, fx * gy * fz, fx * fy * gz, fx * fy * fz)
        x0, x1 = np.uint64(i0) * sx, np.uint64(i1) * sx
        y0, y1 = np.uint64(j0) * sy, np.uint64(j1) * sy
        z0, z1 = np.uint64(k0) * sz, np.uint64(k1) * sz  # all >= 0: clamped to the lattice
        a, b, c, d = x0 + y0 + z0, x0 + y0 + z1, x0 + y1 + z0, x0 + y1 + z1
        e, f, g, h = x1 + y0 + z0, x1 + y0 + z1, x1 + y1 + z0, x1 + y1 + z1
        v0 = _corners(flat, a, b, c, d, e, f, g, h, w)
        v1 = _corners(flat, a + one, b + one, c + one, d + one, e + one, f + one, g + one,
                      h + one, w)
        v2 = _corners(flat, a + two, b + two, c + two, d + two, e + two, f + two, g + two,
                      h + two, w)
        r0, r1, r2 = px + v0 * magnitude, py + v1 * magnitude, pz + v2 * magnitude
        out[n, 0] = r0
        out[n, 1] = r1
        out[n, 2] = r2


def _compiled_kernel():
    """The numba build of ``_trilinear_kernel`` (imported and compiled on first
    use, not at import), or None without numba."""
    if not _KERNEL:
        try:  # numba comes with the dev and mmdet3d installs
            import numba
        except ImportError:  # pragma: no cover - the torch path gives the same values
            _KERNEL.append(None)
        else:
            global _cell, _corners
            _cell = numba.njit(cache=True, inline='always')(_cell)
            _corners = numba.njit(cache=True, inline='always')(_corners)
            _KERNEL.append(numba.njit(cache=True, nogil=True)(_trilinear_kernel))
            _KERNEL.append(numba.njit(cache=True, nogil=True)(_displace_kernel))
    return _KERNEL[0]


def trilinear(field: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """(N, C) float64 trilinear interpolation of an (X, Y, Z, C) lattice at
    (N, 3) fractional lattice coordinates, clamped to the lattice: the values
    ``scipy.ndimage.map_coordinates(field[..., c], coords.T, order=1,
    mode='nearest')`` gives per channel, to ~1e-14.

    With numba, one compiled loop (8 corners, all channels: ~10x faster than
    three ``map_coordinates`` calls); without, torch's ``grid_sample`` in
    float64 (2x faster than SciPy)."""
    field = np.ascontiguousarray(field, np.float64)
    coords = np.ascontiguousarray(coords, np.float64)
    if field.ndim != 4 or coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f'trilinear: field must be (X, Y, Z, C) and coords (N, 3), got '
                         f'{field.shape} and {coords.shape}')
    kernel = _compiled_kernel() if USE_NUMBA else None
    if kernel is not None:
        out = np.empty((len(coords), field.shape[3]), np.float64)
        kernel(field, coords, out)
        return out
    sizes = np.asarray(field.shape[:3], np.float64)
    # align_corners=True: -1 and 1 are the first and last lattice nodes
    scale = 2.0 / np.maximum(sizes - 1, 1)
    grid = np.clip(coords * scale - 1.0, -1.0, 1.0)[:, ::-1]  # (x, y, z) = (W, H, D)
    volume = torch.from_numpy(np.ascontiguousarray(np.moveaxis(field, -1, 0)))
    grid = torch.from_numpy(np.ascontiguousarray(grid)).view(1, -1, 1, 1, 3)
    with torch.no_grad():
        out = torch.nn.functional.grid_sample(volume[None], grid, mode='bilinear',
                                              padding_mode='border', align_corners=True)
    return out.view(field.shape[-1], -1).numpy().T


def displace(field: np.ndarray, points: np.ndarray, lo: np.ndarray, granularity: float,
             magnitude: float, dtype=np.float64) -> np.ndarray:
    """(N, 3) ``points + trilinear(field, (points - lo) / granularity + 1) *
    magnitude`` in float64, returned as ``dtype``: the elastic distortion's
    move by a (X, Y, Z, 3) lattice whose node i sits at ``lo + (i - 1) *
    granularity``. With numba one pass over the points (no (N, 3)
    temporaries: 3-4x faster) giving the same bits as the NumPy expression,
    which runs without numba."""
    field = np.ascontiguousarray(field, np.float64)
    lo = np.asarray(lo, np.float64)
    points = np.asarray(points)
    kernel = _compiled_kernel() if USE_NUMBA and USE_FUSED else None
    if (kernel is not None and points.ndim == 2 and points.shape[1] == 3 and field.ndim == 4
            and field.shape[3] == 3 and points.dtype in (np.float32, np.float64)):
        out = np.empty(points.shape, dtype)
        _KERNEL[1](field, np.ascontiguousarray(points), lo, float(granularity),
                   float(magnitude), out)
        return out
    points = np.asarray(points, np.float64)
    coords = (points - lo) / granularity + 1.0
    return (points + trilinear(field, coords) * magnitude).astype(dtype, copy=False)
