"""Downstream metrics: ScanNet-style mIoU with absent classes, ShapeNet part
mIoU on a hand-made two-category example, classification accuracy."""
from fractions import Fraction

import numpy as np
import pytest
import torch

from d3l.evaluation import (
    ClsAccuracy,
    PartSegMetric,
    SegMetric,
    part_iou,
    part_miou,
    restrict_to_parts,
)


def _seg_scores(pred, gt, num_classes=4):
    metric = SegMetric(num_classes=num_classes)
    metric.dataset_meta = dict(classes=tuple(f'c{i}' for i in range(num_classes)))
    metric.process(None, [dict(pred=torch.tensor(pred), gt=torch.tensor(gt))])
    return metric.compute_metrics(metric.results)


def test_miou_excludes_classes_absent_from_prediction_and_ground_truth():
    # class 2 appears nowhere; class 3 is predicted only on an ignored point
    scores = _seg_scores(pred=[0, 1, 1, 1, 3], gt=[0, 0, 1, 1, 255])
    assert scores['IoU.c0'] == pytest.approx(50.0)
    assert scores['IoU.c1'] == pytest.approx(100 * 2 / 3)
    assert np.isnan(scores['IoU.c2']) and np.isnan(scores['IoU.c3'])
    assert scores['mIoU'] == pytest.approx(100 * float((Fraction(1, 2) + Fraction(2, 3)) / 2))
    # a class predicted on a scored point but absent from ground truth counts as 0
    scores = _seg_scores(pred=[0, 1, 1, 3], gt=[0, 0, 1, 1])
    assert scores['IoU.c3'] == 0.0
    assert scores['mIoU'] == pytest.approx(100 * (1 / 2 + 1 / 3 + 0) / 3)


# hand-made example: category A has parts 0, 1; category B parts 2, 3, 4
PARTS = {'A': [0, 1], 'B': [2, 3, 4]}
SHAPES = [  # (category, gt, pred, exact shape IoU)
    ('A', [0, 0, 1, 1], [0, 1, 1, 1], Fraction(1, 2) / 2 + Fraction(2, 3) / 2),
    ('A', [0, 0, 0, 0], [0, 0, 0, 0], Fraction(1)),           # part 1 absent in both: IoU 1
    ('B', [2, 2, 3, 3, 3], [2, 3, 3, 3, 2],
     (Fraction(1, 3) + Fraction(1, 2) + Fraction(1)) / 3),    # part 4 absent in both
]


def test_part_iou_hand_example():
    for category, gt, pred, expected in SHAPES:
        assert part_iou(pred, gt, PARTS[category]) == pytest.approx(float(expected))
    ins = sum(s[3] for s in SHAPES) / 3
    cat = ((SHAPES[0][3] + SHAPES[1][3]) / 2 + SHAPES[2][3]) / 2
    assert (ins, cat) == (Fraction(79, 108), Fraction(101, 144))
    scores = part_miou([(c, part_iou(p, g, PARTS[c])) for c, g, p, _ in SHAPES])
    assert scores['ins_mIoU'] == pytest.approx(100 * 79 / 108)
    assert scores['cat_mIoU'] == pytest.approx(100 * 101 / 144)
    assert scores['IoU.B'] == pytest.approx(100 * 11 / 18)


def test_part_metric_restricts_prediction_to_category_parts():
    metric = PartSegMetric()
    metric.dataset_meta = dict(category_parts=PARTS)
    samples = []
    for i, (category, gt, pred, _) in enumerate(SHAPES):
        # scores whose global argmax is a part of the *other* category (part 0
        # for B shapes, part 4 for A shapes), but whose argmax over the shape's
        # own parts is `pred`
        probs = np.full((len(gt), 5), 0.01)
        probs[np.arange(len(gt)), pred] = 0.3
        probs[:, 0 if category == 'B' else 4] = 0.6
        samples.append(dict(pred=torch.from_numpy(probs.argmax(1)), gt=torch.tensor(gt),
                            probs=torch.from_numpy(probs),
                            metainfo=dict(category=category, shape_id=f's{i}')))
    metric.process(None, samples)
    scores = metric.compute_metrics(metric.results)
    assert scores['ins_mIoU'] == pytest.approx(100 * 79 / 108)
    assert scores['cat_mIoU'] == pytest.approx(100 * 101 / 144)
    # without restriction the wrong-category argmax is scored as it is
    plain = PartSegMetric(category_parts=PARTS, restrict=False)
    plain.process(None, samples)
    assert plain.compute_metrics(plain.results)['ins_mIoU'] < 50


def test_part_metric_bad_input():
    metric = PartSegMetric(category_parts=PARTS)
    with pytest.raises(ValueError, match="category 'C'"):
        metric.process(None, [dict(pred=torch.tensor([0]), gt=torch.tensor([0]),
                                   metainfo=dict(category='C'))])
    with pytest.raises(ValueError, match='ground-truth part 3, not in'):
        metric.process(None, [dict(pred=torch.tensor([0]), gt=torch.tensor([3]),
                                   metainfo=dict(category='A', shape_id='x'))])
    assert restrict_to_parts(np.array([[0.1, 0.2, 0.9, 0.3]]), [0, 1]).tolist() == [1]


def test_cls_accuracy_per_class_and_ignore():
    metric = ClsAccuracy()
    metric.dataset_meta = dict(classes=('a', 'b', 'c'))
    pairs = [(0, 0), (1, 0), (1, 1), (1, 1), (2, 1), (0, 255)]  # (pred, gt)
    metric.process(None, [dict(pred_label=p, gt_label=g) for p, g in pairs])
    scores = metric.compute_metrics(metric.results)
    assert scores['OA'] == pytest.approx(60.0)          # 3 of 5 scored shapes
    assert scores['Acc.a'] == pytest.approx(50.0)
    assert scores['Acc.b'] == pytest.approx(100 * 2 / 3)
    assert 'Acc.c' not in scores                        # no shape of class c
    assert scores['mAcc'] == pytest.approx(100 * (1 / 2 + 2 / 3) / 2)
