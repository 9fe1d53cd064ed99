"""Segment a batch of point-cloud files and write the predictions
(what ``tools/infer.py`` runs)."""
from __future__ import annotations

import os
import os.path as osp
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
from torch import nn

from d3l.utils import fileio
from d3l.utils.errors import D3LError
from d3l.visualization import default_palette, label_colors, write_ply

from .inference import inference_segmentor
from .io import list_inputs, read_points


@dataclass
class FileResult:
    """What happened to one input file."""

    path: str
    ok: bool
    message: str
    outputs: Dict[str, str] = field(default_factory=dict)
    num_points: int = 0
    seconds: float = 0.0


def output_stem(path: str, out_dir: str) -> str:
    return osp.join(out_dir, osp.splitext(osp.basename(path))[0])


def class_histogram(labels: np.ndarray, classes: Optional[Sequence[str]],
                    top: int = 5) -> str:
    """``wall 41.2%, floor 20.0%, ...``: the ``top`` most frequent classes."""
    counts = np.bincount(labels, minlength=len(classes) if classes else 0)
    order = np.argsort(-counts, kind='stable')[:top]
    names = [classes[i] if classes and i < len(classes) else str(i) for i in order]
    return ', '.join(f'{n} {100 * counts[i] / len(labels):.1f}%'
                     for n, i in zip(names, order) if counts[i])


def write_prediction(stem: str, points: np.ndarray, result: dict, dataset_meta: dict,
                     save_probs: bool = False) -> Dict[str, str]:
    """``{stem}_pred.ply`` (points coloured by class, with a ``label``
    property), ``{stem}_labels.npy`` and optionally ``{stem}_probs.npy``
    (float16, N x C). Each written atomically."""
    labels = result['labels']
    num_classes = result['probs'].shape[1]
    palette = dataset_meta.get('palette')
    if palette is None or len(palette) < num_classes:
        palette = default_palette(num_classes)
    outputs = {'ply': write_ply(f'{stem}_pred.ply', points,
                                colors=label_colors(labels, palette), labels=labels),
               'labels': fileio.save_npy(f'{stem}_labels.npy', labels.astype(np.int64))}
    if save_probs:
        outputs['probs'] = fileio.save_npy(f'{stem}_probs.npy', result['probs'].astype(np.float16))
    return outputs


def segment_file(model: nn.Module, path: str, out_dir: str, save_probs: bool = False
                 ) -> FileResult:
    """Read, segment and write one file; a :class:`D3LError` (bad file)
    becomes a failed :class:`FileResult` instead of an exception."""
    start = time.perf_counter()
    try:
        cloud = read_points(path)
        result = inference_segmentor(model, cloud['points'], cloud['colors'], cloud['normals'],
                                     name=path)
        meta = getattr(model, 'dataset_meta', None) or {}
        outputs = write_prediction(output_stem(path, out_dir), cloud['points'], result, meta,
                                   save_probs)
    except D3LError as err:
        return FileResult(path, False, str(err).splitlines()[0],
                          seconds=time.perf_counter() - start)
    seconds = time.perf_counter() - start
    num_points = len(cloud['points'])
    histogram = class_histogram(result['labels'], meta.get('classes'))
    message = f'{osp.basename(path)}: {num_points} points, {seconds:.2f} s, {histogram}'
    return FileResult(path, True, message, outputs, num_points, seconds)


def segment_files(model: nn.Module, inputs: Sequence[str], out_dir: str,
                  save_probs: bool = False, progress: bool = True,
                  echo: Callable[[str], None] = print) -> List[FileResult]:
    """Segment every file of ``inputs`` (files and folders, see
    :func:`~d3l.apis.io.list_inputs`) into ``out_dir``; one summary line per
    file through ``echo``. A bad file is reported and skipped."""
    files = list_inputs(inputs)
    if not files:
        raise D3LError(f'no point-cloud files in {", ".join(inputs)}')
    os.makedirs(out_dir, exist_ok=True)
    iterator = files
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(files, desc='infer', unit='file', leave=False)
        iterator = bar
        echo = bar.write
    results = []
    for path in iterator:
        result = segment_file(model, path, out_dir, save_probs)
        echo(result.message if result.ok else f'FAILED {result.message}')
        results.append(result)
    if bar is not None:
        bar.close()
    return results


__all__ = ['FileResult', 'class_histogram', 'write_prediction', 'segment_file',
           'segment_files', 'output_stem']
