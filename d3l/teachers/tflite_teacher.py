"""Run a quantised TFLite segmentation model (e.g. DeepLabv3-MobileNetV2) in
torch, without a TFLite runtime, as a teacher.

The ``.tflite`` flatbuffer is read directly (the few tables of TFLite's
``schema.fbs`` a convolutional graph needs) and its graph is executed in
float on dequantised tensors, each op's output re-quantised to its stored
uint8 / int8 parameters, which follows the integer kernels to within a
rounding step. Supported ops: CONV_2D, DEPTHWISE_CONV_2D, ADD,
AVERAGE_POOL_2D, MAX_POOL_2D, CONCATENATION, RESIZE_BILINEAR, RESHAPE,
ARG_MAX. The teacher stops at the last op before a final ARG_MAX, so its
soft outputs are the model's own logits.
"""
from __future__ import annotations

import math
import os.path as osp
import struct
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from d3l.registry import MODELS

from .base import BaseTeacher, check_class_names
from .mmseg_teacher import TeacherCheckpointError

#: BuiltinOperator codes of schema.fbs
OPS = {0: 'ADD', 1: 'AVERAGE_POOL_2D', 2: 'CONCATENATION', 3: 'CONV_2D',
       4: 'DEPTHWISE_CONV_2D', 17: 'MAX_POOL_2D', 22: 'RESHAPE', 23: 'RESIZE_BILINEAR',
       56: 'ARG_MAX'}
#: TensorType -> numpy dtype
DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8}
#: ActivationFunctionType -> (low, high) clamp
ACTIVATIONS = {0: (None, None), 1: (0.0, None), 2: (-1.0, 1.0), 3: (0.0, 6.0)}


class _Table:
    """A flatbuffer table: fields by their schema index."""

    def __init__(self, buf: bytes, pos: int):
        self.buf, self.pos = buf, pos
        self.vtable = pos - struct.unpack_from('<i', buf, pos)[0]
        self.vtable_len = struct.unpack_from('<H', buf, self.vtable)[0]

    def _field(self, index: int) -> int:
        offset = 4 + 2 * index
        if offset >= self.vtable_len:
            return 0
        return struct.unpack_from('<H', self.buf, self.vtable + offset)[0]

    def scalar(self, index: int, fmt: str, default=0):
        offset = self._field(index)
        return struct.unpack_from('<' + fmt, self.buf, self.pos + offset)[0] if offset else default

    def _target(self, index: int) -> Optional[int]:
        offset = self._field(index)
        if not offset:
            return None
        where = self.pos + offset
        return where + struct.unpack_from('<I', self.buf, where)[0]

    def table(self, index: int) -> Optional[_Table]:
        target = self._target(index)
        return None if target is None else _Table(self.buf, target)

    def array(self, index: int, dtype) -> np.ndarray:
        target = self._target(index)
        if target is None:
            return np.zeros(0, dtype)
        length = struct.unpack_from('<I', self.buf, target)[0]
        return np.frombuffer(self.buf, dtype, length, target + 4)

    def tables(self, index: int) -> List[_Table]:
        target = self._target(index)
        if target is None:
            return []
        length = struct.unpack_from('<I', self.buf, target)[0]
        slots = [target + 4 + 4 * k for k in range(length)]
        return [_Table(self.buf, s + struct.unpack_from('<I', self.buf, s)[0]) for s in slots]

    def string(self, index: int) -> str:
        target = self._target(index)
        if target is None:
            return ''
        length = struct.unpack_from('<I', self.buf, target)[0]
        return self.buf[target + 4:target + 4 + length].decode('utf-8', 'replace')


class TFLiteGraph:
    """The first subgraph of a ``.tflite`` file, runnable on torch tensors."""

    def __init__(self, path: str):
        if not osp.isfile(path):
            raise TeacherCheckpointError(f'TFLite model {path} does not exist')
        with open(path, 'rb') as f:
            buf = f.read()
        if len(buf) < 8 or buf[4:8] != b'TFL3':
            raise TeacherCheckpointError(f'{path} is not a TFLite flatbuffer (no TFL3 id)')
        self.path = path
        model = _Table(buf, struct.unpack_from('<I', buf, 0)[0])
        codes = [max(c.scalar(0, 'b'), c.scalar(3, 'i')) for c in model.tables(1)]
        buffers = [b.array(0, np.uint8) for b in model.tables(4)]
        graph = model.tables(2)[0]
        self.tensors = [self._tensor(t, buffers) for t in graph.tables(0)]
        self.inputs = graph.array(1, '<i4').tolist()
        self.outputs = graph.array(2, '<i4').tolist()
        self.ops = []
        for op in graph.tables(3):
            code = codes[op.scalar(0, 'I')]
            if code not in OPS:
                raise TeacherCheckpointError(f'{path}: operator code {code} is not supported '
                                             f'(supported: {sorted(OPS.values())})')
            self.ops.append((OPS[code], op.array(1, '<i4').tolist(), op.array(2, '<i4').tolist(),
                             op.table(4)))
        self._constants: Dict[int, Tensor] = {}

    @staticmethod
    def _tensor(table: _Table, buffers) -> dict:
        dtype = DTYPES.get(table.scalar(1, 'b'))
        shape = table.array(0, '<i4').tolist()
        quant = table.table(4)
        scale = quant.array(2, '<f4') if quant is not None else np.zeros(0, np.float32)
        zero = quant.array(3, '<i8') if quant is not None else np.zeros(0, np.int64)
        data = buffers[table.scalar(2, 'I')] if table.scalar(2, 'I') < len(buffers) else None
        value = None
        if data is not None and data.size and dtype is not None:
            value = np.frombuffer(data.tobytes(), dtype).reshape(shape)
        return {'name': table.string(3), 'shape': shape, 'dtype': dtype, 'value': value,
                'scale': float(scale[0]) if scale.size else None,
                'zero': int(zero[0]) if zero.size else 0}

    # ------------------------------------------------------------ values
    def real(self, index: int) -> Tensor:
        """A constant tensor's real (dequantised) value, NHWC as stored."""
        if index not in self._constants:
            info = self.tensors[index]
            if info['value'] is None:
                raise TeacherCheckpointError(f'{self.path}: tensor {info["name"]} has no data')
            value = torch.from_numpy(info['value'].astype(np.float32))
            if info['scale'] is not None and info['dtype'] != np.float32:
                value = (value - info['zero']) * info['scale']
            self._constants[index] = value
        return self._constants[index]

    def requantize(self, value: Tensor, index: int, activation: int = 0) -> Tensor:
        """Clamp to the fused activation and round onto ``index``'s grid."""
        low, high = ACTIVATIONS.get(activation, (None, None))
        if low is not None or high is not None:
            value = value.clamp(min=low, max=high)
        info = self.tensors[index]
        if info['scale'] is None or info['dtype'] in (np.float32, np.int32, None):
            return value
        bounds = np.iinfo(info['dtype'])
        q = torch.round(value / info['scale']) + info['zero']
        return (q.clamp(bounds.min, bounds.max) - info['zero']) * info['scale']

    def quantize_input(self, pixels: Tensor) -> Tensor:
        """(B, H, W, C) values in the input tensor's stored units (e.g. uint8
        pixels) -> their real values."""
        info = self.tensors[self.inputs[0]]
        if info['scale'] is None:
            return pixels.float()
        return (pixels.float() - info['zero']) * info['scale']

    # ------------------------------------------------------------ running
    def run(self, x: Tensor, stop_before_argmax: bool = True) -> Tensor:
        """Real-valued input (B, H, W, C) -> the graph's output (NHWC), or
        the input of a final ARG_MAX (the logits)."""
        values = {self.inputs[0]: x}
        ops = self.ops
        if stop_before_argmax and ops and ops[-1][0] == 'ARG_MAX':
            ops = ops[:-1]
        for name, inputs, outputs, options in ops:
            args = [values[i] if i in values else self.real(i) for i in inputs if i >= 0]
            values[outputs[0]] = _run_op(self, name, args, inputs, outputs[0], options)
        return values[ops[-1][2][0]]


def _same_pad(x: Tensor, kernel: Sequence[int], stride: Sequence[int],
              dilation: Sequence[int] = (1, 1)) -> Tensor:
    """TensorFlow's SAME padding of an NCHW tensor (the extra pixel after)."""
    pads = []
    for size, k, s, d in zip(x.shape[-2:], kernel, stride, dilation):
        total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
        pads.append((total // 2, total - total // 2))
    return F.pad(x, [*pads[1], *pads[0]])


def _conv(graph, args, out, options, depthwise: bool) -> Tensor:
    x, weight = args[0].permute(0, 3, 1, 2), args[1]
    bias = args[2] if len(args) > 2 else None
    padding = options.scalar(0, 'b')
    stride_w, stride_h = options.scalar(1, 'i'), options.scalar(2, 'i')
    act_index, dil_index = (4, 5) if depthwise else (3, 4)
    activation = options.scalar(act_index, 'b')
    dilation = (options.scalar(dil_index + 1, 'i', 1), options.scalar(dil_index, 'i', 1))
    if depthwise:  # (1, kh, kw, C * multiplier)
        weight = weight.permute(3, 0, 1, 2)
        groups = x.shape[1]
    else:  # (O, kh, kw, I)
        weight = weight.permute(0, 3, 1, 2)
        groups = 1
    if padding == 0:
        x = _same_pad(x, weight.shape[-2:], (stride_h, stride_w), dilation)
    y = F.conv2d(x, weight, bias, stride=(stride_h, stride_w), dilation=dilation, groups=groups)
    return graph.requantize(y.permute(0, 2, 3, 1), out, activation)


def _pool(graph, args, out, options, mode: str) -> Tensor:
    x = args[0].permute(0, 3, 1, 2)
    stride = (options.scalar(2, 'i'), options.scalar(1, 'i'))
    kernel = (options.scalar(4, 'i'), options.scalar(3, 'i'))
    if options.scalar(0, 'b') == 0 and mode == 'avg':  # SAME: the mean over valid pixels
        ones = torch.ones_like(x[:, :1])
        total = F.avg_pool2d(_same_pad(x, kernel, stride), kernel, stride, divisor_override=1)
        count = F.avg_pool2d(_same_pad(ones, kernel, stride), kernel, stride, divisor_override=1)
        y = total / count
    elif mode == 'avg':
        y = F.avg_pool2d(x, kernel, stride)
    else:
        padded = _same_pad(x, kernel, stride) if options.scalar(0, 'b') == 0 else x
        y = F.max_pool2d(padded, kernel, stride)
    return graph.requantize(y.permute(0, 2, 3, 1), out, options.scalar(5, 'b'))


def resize_bilinear_tf(x: Tensor, size: Sequence[int], align_corners: bool,
                       half_pixel: bool) -> Tensor:
    """TensorFlow's ResizeBilinear on NHWC (legacy sampling when neither
    ``align_corners`` nor ``half_pixel``: source = target * in / out)."""
    out = []
    for n_in, n_out in zip(x.shape[1:3], size):
        dst = torch.arange(n_out, dtype=torch.float64)
        if align_corners and n_out > 1:
            src = dst * (n_in - 1) / (n_out - 1)
        elif half_pixel:
            src = ((dst + 0.5) * n_in / n_out - 0.5).clamp(min=0)
        else:
            src = dst * n_in / n_out
        low = src.floor().long().clamp(max=n_in - 1)
        high = (low + 1).clamp(max=n_in - 1)
        out.append((low, high, (src - low).float()))
    (y0, y1, wy), (x0, x1, wx) = out
    rows = x[:, y0] * (1 - wy)[None, :, None, None] + x[:, y1] * wy[None, :, None, None]
    return rows[:, :, x0] * (1 - wx)[None, None, :, None] + rows[:, :, x1] * wx[None, None, :, None]


def _run_op(graph: TFLiteGraph, name: str, args, inputs, out: int, options) -> Tensor:
    if name in ('CONV_2D', 'DEPTHWISE_CONV_2D'):
        return _conv(graph, args, out, options, name == 'DEPTHWISE_CONV_2D')
    if name in ('AVERAGE_POOL_2D', 'MAX_POOL_2D'):
        return _pool(graph, args, out, options, 'avg' if name == 'AVERAGE_POOL_2D' else 'max')
    if name == 'ADD':
        return graph.requantize(args[0] + args[1], out, options.scalar(0, 'b') if options else 0)
    if name == 'CONCATENATION':
        axis = options.scalar(0, 'i')
        return graph.requantize(torch.cat(args, dim=axis if axis >= 0 else axis + 4), out,
                                options.scalar(1, 'b'))
    if name == 'RESIZE_BILINEAR':
        size = graph.tensors[inputs[1]]['value'].reshape(-1).tolist()
        y = resize_bilinear_tf(args[0], size, bool(options.scalar(2, 'B')),
                               bool(options.scalar(3, 'B')))
        return graph.requantize(y, out)
    if name == 'RESHAPE':
        return args[0].reshape(graph.tensors[out]['shape'])
    if name == 'ARG_MAX':
        return args[0].argmax(dim=-1)
    raise TeacherCheckpointError(f'{graph.path}: cannot run {name}')


#: Pascal VOC 2012 classes (DeepLab's Pascal models)
VOC_CLASSES = ('background', 'aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car',
               'cat', 'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')


@MODELS.register_module()
class TFLiteTeacher(BaseTeacher):
    """A quantised TFLite segmentation model (NHWC uint8 input, per-pixel
    logits, optionally followed by ARG_MAX) as a teacher, run in torch.

    Images are resized so that the longer side fits the model's input and
    padded with ``pad_value`` (``keep_ratio=True``), or stretched; the
    logits are cropped back to the image. Input pixels go in the input
    tensor's stored units (RGB 0-255 for DeepLab's uint8 models).

    Args:
        model_path: the ``.tflite`` file.
        class_names: defaults to Pascal VOC's 21 when the model has 21.
        keep_ratio / pad_value: how images are fitted to the input size.
        temperature / panorama / device: see :class:`BaseTeacher`.
    """

    def __init__(self, model_path: str, class_names: Optional[Sequence[str]] = None,
                 keep_ratio: bool = True, pad_value: float = 128.0, temperature: float = 1.0,
                 panorama=None, device=None):
        super().__init__(temperature=temperature, panorama=panorama, device=device)
        self.model_path = str(model_path)
        self.graph = TFLiteGraph(self.model_path)
        self.input_hw = tuple(self.graph.tensors[self.graph.inputs[0]]['shape'][1:3])
        last = self.graph.ops[-1]
        logits_index = last[1][0] if last[0] == 'ARG_MAX' else last[2][0]
        num_classes = int(self.graph.tensors[logits_index]['shape'][-1])
        if class_names is None and num_classes == len(VOC_CLASSES):
            class_names = VOC_CLASSES
        self.class_names = check_class_names('TFLiteTeacher', class_names, num_classes)
        self.keep_ratio = keep_ratio
        self.pad_value = float(pad_value)

    def logits(self, imgs: Tensor, metas=None) -> Tensor:
        height, width = imgs.shape[-2:]
        in_h, in_w = self.input_hw
        if self.keep_ratio:
            scale = min(in_h / height, in_w / width)
            new_h, new_w = max(1, round(height * scale)), max(1, round(width * scale))
        else:
            new_h, new_w = in_h, in_w
        x = F.interpolate(imgs.float().cpu(), size=(new_h, new_w), mode='bilinear',
                          align_corners=False).clamp(0, 255).round()
        x = F.pad(x, [0, in_w - new_w, 0, in_h - new_h], value=self.pad_value)
        with torch.no_grad():
            out = self.graph.run(self.graph.quantize_input(x.permute(0, 2, 3, 1)))
        logits = out.permute(0, 3, 1, 2)
        # keep the cells that cover the image (the logits may be coarser than the input)
        cells_h = max(1, round(logits.shape[-2] * new_h / in_h))
        cells_w = max(1, round(logits.shape[-1] * new_w / in_w))
        return logits[..., :cells_h, :cells_w].to(imgs.device)

    def weight_files(self):
        return [self.model_path]

    def describe(self) -> dict:
        info = super().describe()
        info.update(model_path=self.model_path, input_size=list(self.input_hw))
        return info
