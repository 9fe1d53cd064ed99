"""Readers for colour images, depth images in each dataset's encoding, label
images and small camera files. Every failure raises :class:`BadFrameError`
naming the file and the problem.

Depth encodings (``depth_encoding`` of a frame; ``depth_scale`` is in raw
units per metre):

``'uint16'``
    16-bit PNG / TIFF, ``metres = value / depth_scale`` (1000 for millimetres:
    ScanNet, Structured3D, PrimeSense/Kinect exports, the generic layout;
    5000 for TUM RGB-D; 4000 for Matterport3D's quarter-millimetre PNGs).
    0 = no reading.
``'sunrgbd'``
    SUN RGB-D's 16-bit PNGs, whose bits are rotated by 3:
    ``value = (raw >> 3) | (raw << 13)`` (16 bit), ``metres = value / 1000``.
``'nyu_raw'``
    NYU Depth v2 raw Kinect disparity PGMs: the samples are little-endian
    despite the PGM header (which says big-endian), ``2047`` = no reading,
    ``metres = 351.3 / (1092.5 - raw)``.
``'float'``
    Floating-point metres (``.npy``, ``.npz`` with key ``depth`` or a single
    array, ``.exr`` single channel, 32-bit float ``.tif``), used as they are.
    ``depth_scale`` applies to integer depth only: a float file with a
    stated ``depth_scale`` other than 1 is an error (float metres divided by
    1000 would shrink every scene a thousandfold without a message).
``'auto'``
    ``'float'`` for .npy/.npz/.exr and float TIFFs, ``'uint16'`` otherwise.
"""
import json
import os
import os.path as osp
from typing import Optional, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from d3l.utils.errors import D3LError

DEPTH_ENCODINGS = ('uint16', 'sunrgbd', 'nyu_raw', 'float', 'auto')
FLOAT_EXTENSIONS = ('.npy', '.npz', '.exr')


class BadFrameError(D3LError, ValueError):
    """A frame's files are missing, unreadable or inconsistent.

    Datasets with ``skip_bad_frames=True`` catch it, warn, count the frame
    and use another one; every other error propagates."""


def _open_image(path: str, what: str) -> Image.Image:
    if not osp.isfile(path):
        raise BadFrameError(f'{path}: {what} file does not exist')
    try:
        image = Image.open(path)
        image.load()  # decodes now, so a truncated file fails here
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as exc:
        raise BadFrameError(f'{path}: cannot read {what} image ({exc})') from exc
    return image


#: set to False to decode colour with PIL only (tests compare the two)
USE_OPENCV = True
# the last bytes of a complete file: JPEG's end-of-image marker, PNG's IEND chunk
_TRAILERS = {'JPEG': b'\xff\xd9', 'PNG': b'\x00\x00\x00\x00IEND\xaeB`\x82'}


def _read_rgb_opencv(path: str) -> Optional[np.ndarray]:
    """(H, W, 3) uint8 RGB decoded by OpenCV (libjpeg-turbo / libpng: JPEG
    1.9x, PNG 1.2x faster than PIL's decoders here) for the files where it
    gives PIL's pixels: complete 8-bit RGB JPEG and PNG files without
    transparency, EXIF orientation ignored as PIL ignores it. None for every
    other file (PIL then decodes it, or names its problem)."""
    if not USE_OPENCV:
        return None
    try:
        import cv2
        with Image.open(path) as image:  # the header only
            kind, mode, size = image.format, image.mode, image.size
            rawmode = image.tile[0][3] if len(image.tile) == 1 else None
            transparency = 'transparency' in image.info
        if (mode != 'RGB' or kind not in _TRAILERS or transparency
                or (kind == 'PNG' and rawmode != 'RGB')):
            return None
        data = np.fromfile(path, np.uint8)
    except (ImportError, OSError, UnidentifiedImageError, SyntaxError, ValueError):
        return None
    if data[-len(_TRAILERS[kind]):].tobytes() != _TRAILERS[kind]:
        return None  # truncated (or trailing bytes): PIL decides
    rgb = getattr(cv2, 'IMREAD_COLOR_RGB', None)  # OpenCV >= 4.10; else swap BGR
    img = cv2.imdecode(data, (cv2.IMREAD_COLOR if rgb is None else rgb)
                       | cv2.IMREAD_IGNORE_ORIENTATION)
    if img is not None and rgb is None and img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2RGB)
    if img is None or img.shape != (size[1], size[0], 3) or img.dtype != np.uint8:
        return None
    return img


def read_color(path: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB. Grey, palette and RGBA images are converted; a
    16-bit image is an error (it is probably a depth map). 8-bit RGB JPEG /
    PNG files are decoded by OpenCV (the same pixels, faster), the others by
    PIL."""
    if osp.isfile(path):
        img = _read_rgb_opencv(path)
        if img is not None:
            return img
    image = _open_image(path, 'colour')
    if image.mode in ('I;16', 'I;16B', 'I;16L', 'I', 'F'):
        raise BadFrameError(f'{path}: colour image has mode {image.mode!r} (16/32-bit); '
                            'expected 8-bit RGB (is this a depth map?)')
    if image.mode != 'RGB':
        image = image.convert('RGB')
    return np.asarray(image, dtype=np.uint8)


def _read_pgm_little_endian(path: str) -> np.ndarray:
    """PGM (P5) with 16-bit samples read little-endian (NYU's raw dumps)."""
    with open(path, 'rb') as f:
        data = f.read()
    tokens, pos = [], 0
    while len(tokens) < 4:
        while pos < len(data) and data[pos:pos + 1].isspace():
            pos += 1
        if data[pos:pos + 1] == b'#':
            pos = data.index(b'\n', pos) + 1
            continue
        start = pos
        while pos < len(data) and not data[pos:pos + 1].isspace():
            pos += 1
        if start == pos:
            raise BadFrameError(f'{path}: truncated PGM header')
        tokens.append(data[start:pos])
    pos += 1  # the single whitespace after maxval
    if tokens[0] != b'P5':
        raise BadFrameError(f'{path}: not a binary PGM (magic {tokens[0]!r}, expected P5)')
    try:
        width, height, maxval = (int(t) for t in tokens[1:])
    except ValueError as exc:
        raise BadFrameError(f'{path}: malformed PGM header {tokens}') from exc
    if maxval < 256:
        raise BadFrameError(f'{path}: 8-bit PGM (maxval {maxval}); expected 16-bit disparity')
    count = width * height
    if len(data) - pos < 2 * count:
        raise BadFrameError(f'{path}: truncated PGM: {len(data) - pos} bytes of pixel data '
                            f'for {width}x{height} 16-bit pixels')
    return np.frombuffer(data, '<u2', count, pos).reshape(height, width)


def _read_exr(path: str) -> np.ndarray:
    errors = []
    try:
        os.environ.setdefault('OPENCV_IO_ENABLE_OPENEXR', '1')
        import cv2
        array = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        if array is not None:
            return array if array.ndim == 2 else array[..., 0]
        errors.append('OpenCV could not decode it')
    except ImportError:
        errors.append('OpenCV is not installed')
    try:
        import Imath
        import OpenEXR
        exr = OpenEXR.InputFile(path)
        window = exr.header()['dataWindow']
        width, height = window.max.x - window.min.x + 1, window.max.y - window.min.y + 1
        channels = list(exr.header()['channels'])
        channel = 'Y' if 'Y' in channels else ('R' if 'R' in channels else channels[0])
        raw = exr.channel(channel, Imath.PixelType(Imath.PixelType.FLOAT))
        return np.frombuffer(raw, np.float32).reshape(height, width)
    except ImportError:
        errors.append('the OpenEXR package is not installed')
    except Exception as exc:  # OpenEXR raises plain OSError / Exception
        errors.append(f'OpenEXR: {exc}')
    raise BadFrameError(f'{path}: cannot read EXR depth ({"; ".join(errors)}); install '
                        'opencv-python or OpenEXR, or convert the depth to .npy / 16-bit PNG')


def _read_float_depth(path: str) -> np.ndarray:
    ext = osp.splitext(path)[1].lower()
    if not osp.isfile(path):
        raise BadFrameError(f'{path}: depth file does not exist')
    try:
        if ext == '.npy':
            array = np.load(path, allow_pickle=False)
        elif ext == '.npz':
            with np.load(path, allow_pickle=False) as npz:
                keys = list(npz.keys())
                key = 'depth' if 'depth' in keys else (keys[0] if len(keys) == 1 else None)
                if key is None:
                    raise BadFrameError(f'{path}: .npz depth needs a "depth" array, has {keys}')
                array = npz[key]
        elif ext == '.exr':
            array = _read_exr(path)
        else:
            image = _open_image(path, 'depth')
            array = np.asarray(image)
    except BadFrameError:
        raise
    except (OSError, ValueError, EOFError) as exc:
        raise BadFrameError(f'{path}: cannot read depth ({exc})') from exc
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    if array.ndim != 2:
        raise BadFrameError(f'{path}: depth must be a single-channel (H, W) array, got shape '
                            f'{array.shape}')
    return np.asarray(array, np.float32)


def _read_uint16(path: str) -> np.ndarray:
    image = _open_image(path, 'depth')
    if image.mode in ('L', 'P', 'RGB', 'RGBA', '1'):
        raise BadFrameError(f'{path}: depth image has mode {image.mode!r} (8-bit); expected a '
                            '16-bit single-channel PNG')
    array = np.asarray(image)
    if array.ndim != 2:
        raise BadFrameError(f'{path}: depth must be single-channel, got shape {array.shape}')
    if array.dtype.kind == 'f':
        raise BadFrameError(f'{path}: depth image holds floats; use depth_encoding="float"')
    if array.dtype != np.uint16:
        if array.min() < 0 or array.max() > 65535:
            raise BadFrameError(f'{path}: depth values outside the 16-bit range')
        array = array.astype(np.uint16)
    return array


def check_depth_scale(depth_scale, source: str) -> Optional[float]:
    """``depth_scale`` as a positive float (None stays None); anything else
    is a :class:`BadFrameError` naming ``source``."""
    if depth_scale is None:
        return None
    try:
        scale = float(depth_scale)
    except (TypeError, ValueError):
        raise BadFrameError(f'{source}: depth_scale must be a number (raw depth units per '
                            f'metre, e.g. 1000 for millimetres), got {depth_scale!r}') from None
    if isinstance(depth_scale, bool) or not np.isfinite(scale) or scale <= 0:
        raise BadFrameError(f'{source}: depth_scale must be a finite number > 0, got '
                            f'{depth_scale!r}')
    return scale


def check_depth_encoding(encoding, source: str) -> str:
    if encoding not in DEPTH_ENCODINGS:
        raise BadFrameError(f'{source}: unknown depth_encoding {encoding!r}; choose from '
                            f'{DEPTH_ENCODINGS}')
    return encoding


def depth_kind_of(path: str, encoding: str = 'auto') -> str:
    """``'float'`` (metres) or ``'integer'`` (raw units): the kind of depth
    ``read_depth(path, encoding)`` decodes; only a TIFF read with ``'auto'``
    is opened to see its pixel type."""
    encoding = check_depth_encoding(encoding, path)
    if encoding == 'auto':
        ext = osp.splitext(path)[1].lower()
        if ext in FLOAT_EXTENSIONS:
            encoding = 'float'
        elif ext in ('.tif', '.tiff'):
            encoding = 'float' if _open_image(path, 'depth').mode == 'F' else 'uint16'
    return 'float' if encoding == 'float' else 'integer'


def read_depth(path: str, encoding: str = 'uint16', depth_scale: Optional[float] = None
               ) -> np.ndarray:
    """(H, W) float32 depth in metres (0 where the sensor had no reading)
    decoded from ``path`` with ``encoding`` (see the module docstring).
    The scale follows the file's kind: integer depth is divided by
    ``depth_scale`` (default 1000), float depth is metres already, and a
    ``depth_scale`` other than 1 stated for it is a :class:`BadFrameError`.
    Non-finite and negative values of float files are returned as they are;
    :class:`~d3l.datasets.transforms.LoadRGBD` decides what to do with them."""
    depth_scale = check_depth_scale(depth_scale, path)
    if depth_kind_of(path, encoding) == 'float':
        if depth_scale not in (None, 1.0):
            raise BadFrameError(
                f'{path}: holds float depth in metres, but depth_scale={depth_scale:g} (raw '
                'units per metre, for integer depth) is stated for it; remove depth_scale '
                '(camera.json / the dataset arguments) or store integer depth')
        return _read_float_depth(path)
    if encoding == 'nyu_raw':
        raw = _read_pgm_little_endian(path) if path.lower().endswith(('.pgm', '.ppm')) \
            else _read_uint16(path)
        raw = raw.astype(np.float32)
        valid = (raw < 2047) & (raw < 1092.5)
        depth = np.zeros(raw.shape, np.float32)
        depth[valid] = 351.3 / (1092.5 - raw[valid])
        return depth
    raw = _read_uint16(path)
    if encoding == 'sunrgbd':
        raw = ((raw >> 3) | (raw << 13)).astype(np.uint16)
    scale = 1000.0 if depth_scale is None else depth_scale
    return raw.astype(np.float32) / np.float32(scale)


def read_label(path: str) -> np.ndarray:
    """(H, W) int64 labels from an 8/16-bit single-channel image (palette
    images give their indices) or a .npy array."""
    if path.lower().endswith('.npy'):
        if not osp.isfile(path):
            raise BadFrameError(f'{path}: label file does not exist')
        try:
            array = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise BadFrameError(f'{path}: cannot read labels ({exc})') from exc
    else:
        image = _open_image(path, 'label')
        if image.mode in ('RGB', 'RGBA'):
            raise BadFrameError(f'{path}: label image is {image.mode}; expected one channel '
                                '(class ids), or a palette PNG')
        array = np.asarray(image)
    if array.ndim != 2:
        raise BadFrameError(f'{path}: labels must be (H, W), got shape {array.shape}')
    return array.astype(np.int64)


def read_matrix(path: str, shape: Sequence[int], what: str = 'matrix',
                order: str = 'C') -> np.ndarray:
    """Whitespace/comma separated numbers of a text file as a float64 array
    of ``shape`` (``order='F'`` for column-major files)."""
    if not osp.isfile(path):
        raise BadFrameError(f'{path}: {what} file does not exist')
    try:
        with open(path) as f:
            values = np.array(f.read().replace(',', ' ').split(), dtype=np.float64)
    except ValueError as exc:
        raise BadFrameError(f'{path}: {what} file holds non-numbers ({exc})') from exc
    size = int(np.prod(shape))
    if values.size != size:
        # extra numbers mean another layout (two poses, a 4x5 matrix): never
        # take a prefix of them silently
        raise BadFrameError(f'{path}: {what} needs exactly {size} numbers '
                            f'({"x".join(map(str, shape))}), found {values.size}')
    return values.reshape(shape, order=order)


def read_json(path: str, what: str = 'JSON') -> dict:
    if not osp.isfile(path):
        raise BadFrameError(f'{path}: {what} file does not exist')
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError) as exc:
        raise BadFrameError(f'{path}: cannot parse {what} ({exc})') from exc


def intrinsics_from_dict(spec: dict, source: str) -> np.ndarray:
    """3x3 K from ``{"K": [[..], [..], [..]]}`` (row-major, or 9 numbers) or
    ``{"fx", "fy", "cx", "cy"}`` (optional ``"skew"``)."""
    if 'K' in spec or 'intrinsics' in spec:
        K = float_array(spec.get('K', spec.get('intrinsics')), 'K', source)
        if K.size == 16:  # a 4x4 homogeneous intrinsic matrix
            K = K.reshape(4, 4)[:3, :3]
        if K.size != 9:
            raise BadFrameError(f'{source}: "K" must be 3x3 (row-major), got {K.size} numbers')
        return K.reshape(3, 3)
    missing = [k for k in ('fx', 'fy', 'cx', 'cy') if k not in spec]
    if missing:
        raise BadFrameError(f'{source}: intrinsics need "K" or fx, fy, cx, cy; missing '
                            f'{missing}')
    fx, fy, cx, cy, skew = (scalar_value(spec.get(key, 0.0), key, source)
                            for key in ('fx', 'fy', 'cx', 'cy', 'skew'))
    return np.array([[fx, skew, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], np.float64)


def scalar_value(value, key: str, source: str) -> float:
    """One finite number from a camera file (``"abc"``, a list, None: a
    :class:`BadFrameError` naming the key and the file)."""
    array = float_array(value, key, source)
    if array.size != 1:
        raise BadFrameError(f'{source}: "{key}" must be one number, got {value!r}')
    return float(array.reshape(-1)[0])


def float_array(value, key: str, source: str) -> np.ndarray:
    """``value`` as a float64 array; strings, None and nested junk are a
    :class:`BadFrameError` naming the key and the file."""
    try:
        if isinstance(value, (str, bytes, bool)) or value is None:
            raise ValueError
        array = np.asarray(value, np.float64)
    except (TypeError, ValueError):
        raise BadFrameError(f'{source}: "{key}" must be a number (or numbers), got '
                            f'{value!r}') from None
    if not np.isfinite(array).all():
        raise BadFrameError(f'{source}: "{key}" has non-finite values {array.tolist()}')
    return array
