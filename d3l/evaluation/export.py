"""Write test predictions to disk: coloured PLYs, per-point label files,
ScanNet benchmark submissions, a CSV for classification."""
import csv
import os
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmengine.logging import print_log

from d3l.registry import HOOKS, METRICS
from d3l.utils import fileio


def _sample_name(meta: dict) -> str:
    for key in ('scene_id', 'shape_id', 'frame_id'):
        if meta.get(key) is not None:
            return str(meta[key]).replace('/', '_')
    return f'sample_{meta.get("sample_idx", "unknown")}'


def _unwrap(dataset):
    # ConcatDataset / RepeatDataset keep the real one in .dataset(s)
    while not hasattr(dataset, 'get_data_info') and hasattr(dataset, 'dataset'):
        dataset = dataset.dataset
    return dataset


@HOOKS.register_module()
class PredictionExportHook(Hook):
    """Save each test prediction (used by ``tools/test.py --show-dir`` and
    ``--save-preds``).

    Args:
        out_dir: output folder.
        ply: write ``{name}_pred.ply`` (and ``{name}_gt.ply`` when ground
            truth exists) with points coloured by class (dataset palette) and a
            ``label`` property; points are the sample's original points (the
            dataset is asked for them again), so full scenes come out at full
            resolution.
        labels: write per-point class ids ``{name}.npy``; for datasets whose
            metainfo has ``nyu40_ids`` (ScanNet) also ``{name}.txt`` with one
            NYU40 id per vertex, the benchmark's submission format.
            Classification writes ``predictions.csv`` instead.
        max_samples: stop exporting PLYs after this many samples (None: all).
    """

    priority = 'LOW'

    def __init__(self, out_dir: str, ply: bool = True, labels: bool = False,
                 max_samples: Optional[int] = None):
        self.out_dir = out_dir
        self.ply = ply
        self.labels = labels
        self.max_samples = max_samples
        self._count = 0
        self._rows = []

    def before_test(self, runner) -> None:
        os.makedirs(self.out_dir, exist_ok=True)
        self._count = 0
        self._rows = []

    def after_test_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not outputs:
            return
        dataset = _unwrap(runner.test_dataloader.dataset)
        meta = getattr(dataset, 'metainfo', {}) or {}
        for output in outputs:
            info = output.get('metainfo', {})
            name = _sample_name(info)
            if 'pred_label' in output:
                self._rows.append(self._cls_row(name, output, meta))
                if self.ply and self._want_ply():
                    self._export_shape(dataset, info, name, output, meta)
                continue
            pred = np.asarray(output['pred']).reshape(-1)
            gt = output.get('gt')
            if self.labels:
                self._save_labels(name, pred, meta)
            if self.ply and self._want_ply():
                points = self._points(dataset, info, len(pred), name)
                if points is not None:
                    self._write(name, points, pred, None if gt is None else np.asarray(gt), meta)

    def after_test(self, runner) -> None:
        if self._rows:
            path = osp.join(self.out_dir, 'predictions.csv')
            with fileio.atomic_open(path, 'w', newline='') as f:
                writer = csv.writer(f)
                writer.writerow(['sample', 'pred', 'gt', 'score'])
                writer.writerows(self._rows)
        print_log(f'predictions written to {self.out_dir}', logger='current')

    # ---------------------------------------------------------------- helpers
    def _want_ply(self) -> bool:
        if self.max_samples is not None and self._count >= self.max_samples:
            return False
        self._count += 1
        return True

    @staticmethod
    def _class_name(meta: dict, index) -> str:
        classes = meta.get('classes') or ()
        index = int(index)
        return classes[index] if 0 <= index < len(classes) else str(index)

    def _cls_row(self, name: str, output: dict, meta: dict) -> list:
        scores = output.get('scores')
        score = float(np.asarray(scores).max()) if scores is not None else ''
        gt = output.get('gt_label')
        return [name, self._class_name(meta, output['pred_label']),
                '' if gt is None else self._class_name(meta, gt), score]

    def _points(self, dataset, info: dict, count: int, name: str):
        if 'sample_idx' not in info or not hasattr(dataset, 'get_data_info'):
            print_log(f'PredictionExportHook: cannot look up the points of {name}',
                      logger='current', level=30)
            return None
        points = np.asarray(dataset.get_data_info(int(info['sample_idx']))['points'])
        if len(points) != count:
            print_log(f'PredictionExportHook: {name} has {count} predictions for '
                      f'{len(points)} original points; use GridSample(return_inverse=True) in the '
                      'test pipeline to export it', logger='current', level=30)
            return None
        return points

    def _palette(self, meta: dict, labels: np.ndarray):
        from d3l.visualization import default_palette
        palette = meta.get('palette')
        if palette is not None:
            return np.asarray(palette, np.uint8)
        num = len(meta.get('classes') or ()) or int(labels[labels != 255].max(initial=0)) + 1
        return default_palette(num)

    def _write(self, name: str, points, pred, gt, meta: dict) -> None:
        from d3l.visualization import label_colors, write_ply
        palette = self._palette(meta, pred)
        write_ply(osp.join(self.out_dir, f'{name}_pred.ply'), points,
                  colors=label_colors(pred, palette), labels=pred)
        if gt is not None:
            gt = gt.reshape(-1)
            write_ply(osp.join(self.out_dir, f'{name}_gt.ply'), points,
                      colors=label_colors(gt, palette), labels=gt)

    def _export_shape(self, dataset, info, name, output, meta) -> None:
        if 'sample_idx' not in info or not hasattr(dataset, 'get_data_info'):
            return
        points = np.asarray(dataset.get_data_info(int(info['sample_idx']))['points'])
        pred = np.full(len(points), int(output['pred_label']))
        self._write(name, points, pred, None, meta)

    def _save_labels(self, name: str, pred: np.ndarray, meta: dict) -> None:
        fileio.save_npy(osp.join(self.out_dir, f'{name}.npy'), pred.astype(np.int64))
        nyu40_ids = meta.get('nyu40_ids')
        if nyu40_ids is not None:
            table = np.asarray(nyu40_ids, np.int64)
            fileio.write_text(osp.join(self.out_dir, f'{name}.txt'),
                              '\n'.join(map(str, table[pred])) + '\n')


@METRICS.register_module()
class PredictionCount(BaseMetric):
    """Counts predicted samples and points; the evaluator of
    ``tools/test.py --predict-only`` for splits without ground truth (e.g. the
    ScanNet test scenes, whose predictions go to the benchmark server)."""

    default_prefix = None

    def process(self, data_batch, data_samples) -> None:
        for sample in data_samples:
            pred = sample.get('pred')
            self.results.append(1 if pred is None else int(np.asarray(pred).size))

    def compute_metrics(self, results: list) -> dict:
        return {'samples': len(results), 'points': int(sum(results))}
