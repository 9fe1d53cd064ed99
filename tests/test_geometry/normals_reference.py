"""A slow, float64 reference for the image-grid normals of
:func:`d3l.geometry.depth_normals`, written from its definition (not from the
fast code): for ``'pca'`` the eigenvector of the smallest eigenvalue of the
covariance of the window's valid points (np.linalg.eigh), for ``'cross'`` the
cross product of the column and row tangents towards the neighbour with the
smaller jump. Window points are taken relative to the window's centre pixel,
so there is no cancellation at any distance."""
import numpy as np

from d3l.geometry import equirect_rays, perspective_rays


def _points(depth, K, projection):
    height, width = depth.shape
    rays = (perspective_rays(height, width, K) if projection == 'perspective'
            else equirect_rays(height, width))
    valid = np.isfinite(depth) & (depth > 0)
    return np.where(valid, depth, 0).astype(np.float64)[..., None] * rays, valid


def _neighbour(array, d_row, d_col, wrap, fill):
    """array[row + d_row, col + d_col], ``fill`` outside (columns wrap)."""
    height, width = array.shape[:2]
    out = np.full_like(array, fill)
    rows = np.arange(height) + d_row
    cols = np.arange(width) + d_col
    if wrap:
        cols %= width
    r_ok, c_ok = (rows >= 0) & (rows < height), (cols >= 0) & (cols < width)
    out[np.ix_(r_ok, c_ok)] = array[np.ix_(rows[r_ok], cols[c_ok])]
    return out


def reference_pca_normals(depth, K=None, projection='perspective', window=5):
    """(H, W, 3) float64 normals facing the camera, (H, W) bool defined (3+
    valid window points) and (H, W) the eigenvalue gap (second smallest -
    smallest) / largest: near 0 the normal is ill-defined (points on a line,
    or no dominant plane) and any direction of the near-degenerate pair is
    as good."""
    points, valid = _points(depth, K, projection)
    wrap = projection == 'equirect'
    half = window // 2
    count = np.zeros(depth.shape)
    first = np.zeros(depth.shape + (3,))
    second = np.zeros(depth.shape + (3, 3))
    for d_row in range(-half, half + 1):
        for d_col in range(-half, half + 1):
            nb_valid = _neighbour(valid, d_row, d_col, wrap, False)
            rel = (_neighbour(points, d_row, d_col, wrap, 0.0) - points) * nb_valid[..., None]
            count += nb_valid
            first += rel
            second += rel[..., :, None] * rel[..., None, :]
    n = np.maximum(count, 1)[..., None]
    mean = first / n
    cov = second / n[..., None] - mean[..., :, None] * mean[..., None, :]
    values, vectors = np.linalg.eigh(cov)
    normals = vectors[..., 0]
    flip = np.sum(normals * points, -1) > 0
    normals[flip] *= -1
    gap = (values[..., 1] - values[..., 0]) / np.maximum(values[..., 2], 1e-300)
    return normals, valid & (count >= 3), gap


def reference_cross_normals(depth, K=None, projection='perspective', tie=1e-4):
    """(H, W, 3) float64 cross normals facing the camera, (H, W) bool defined
    (a valid neighbour along each axis, non-zero cross product) and
    (K, H, W, 3) the normals of the other neighbour choices where the two
    jumps of an axis differ by less than ``tie`` (relative): there either
    choice is right (quantised depth makes such ties common)."""
    points, valid = _points(depth, K, projection)
    wrap = projection == 'equirect'
    options = []
    for d_row, d_col, axis_wrap in ((0, 1, wrap), (1, 0, False)):
        fwd = _neighbour(points, d_row, d_col, axis_wrap, 0.0) - points
        bwd = points - _neighbour(points, -d_row, -d_col, axis_wrap, 0.0)
        ok_f = _neighbour(valid, d_row, d_col, axis_wrap, False)
        ok_b = _neighbour(valid, -d_row, -d_col, axis_wrap, False)
        len_f, len_b = np.linalg.norm(fwd, axis=-1), np.linalg.norm(bwd, axis=-1)
        use_f = ok_f & (~ok_b | (len_f <= len_b))
        close = ok_f & ok_b & (np.abs(len_f - len_b) <= tie * np.maximum(len_f, len_b))
        chosen = np.where(use_f[..., None], fwd, bwd)
        other = np.where(close[..., None], np.where(use_f[..., None], bwd, fwd), chosen)
        options.append((chosen, other, ok_f | ok_b))
    (col, col_other, ok_col), (row, row_other, ok_row) = options

    def facing(normals):
        length = np.linalg.norm(normals, axis=-1, keepdims=True)
        normals = normals / np.where(length > 0, length, 1)
        flip = np.sum(normals * points, -1) > 0
        normals[flip] *= -1
        return normals, length[..., 0]

    normals, length = facing(np.cross(col, row))
    ok = ok_col & ok_row & valid & (length > 0)
    others = np.stack([facing(np.cross(a, b))[0] for a, b in ((col_other, row),
                                                              (col, row_other),
                                                              (col_other, row_other))])
    return normals, ok, others
