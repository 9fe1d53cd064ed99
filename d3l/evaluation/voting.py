"""Test-time voting: average the class probabilities of several augmented
copies of each scene / shape.

Use with ``mmcv.TestTimeAug`` in the test pipeline (each branch ends with
``PackPointInputs``) and ``tools/test.py --tta``, which wraps the model as
``VotingModel(module=model)``. Every copy of a scene is scored on all of its
original points (``GridSample(..., return_inverse=True)`` maps the network
points back), so the copies' probabilities can be averaged point by point.
"""
from typing import List, Optional, Sequence

import torch
from mmengine.model import BaseTTAModel

from d3l.registry import MODELS


def merge_votes(predictions: Sequence[dict], weights: Optional[Sequence[float]] = None) -> dict:
    """Average the probabilities of one sample's predictions.

    Segmentation predictions need ``probs`` (N, C) over the same N original
    points; classification predictions ``scores`` (C,). Returns the first
    prediction with ``probs`` / ``scores`` averaged, ``pred`` /
    ``pred_label`` recomputed, and ``num_votes``. ``weights`` (one per
    prediction) give a weighted mean, e.g. to fold a new vote into a running
    mean of earlier ones.
    """
    if not predictions:
        raise ValueError('merge_votes: no predictions')
    merged = dict(predictions[0])
    for key, label_key in (('probs', 'pred'), ('scores', 'pred_label')):
        if merged.get(key) is None:
            continue
        if weights is None:
            weights = [1.0] * len(predictions)
        if len(weights) != len(predictions):
            raise ValueError('merge_votes: one weight per prediction')
        total = None
        for weight, prediction in zip(weights, predictions):
            value = prediction.get(key)
            if value is None:
                raise ValueError(f'merge_votes: a vote has no {key!r}')
            value = torch.as_tensor(value, dtype=torch.float64)
            if total is not None and value.shape != total.shape:
                name = merged.get('metainfo', {})
                raise ValueError(f'merge_votes: votes of {name} disagree in shape '
                                 f'({tuple(value.shape)} vs {tuple(total.shape)}); each '
                                 'augmented copy must be scored on the same original points')
            total = value * weight if total is None else total + value * weight
        mean = (total / float(sum(weights))).float()
        merged[key] = mean
        merged[label_key] = mean.argmax(-1) if key == 'probs' else int(mean.argmax())
        merged['num_votes'] = int(sum(p.get('num_votes', 1) for p in predictions))
        return merged
    raise ValueError('merge_votes: predictions carry neither "probs" (segmentation; build the '
                     'Segmentor with return_probs=True) nor "scores" (classification)')


@MODELS.register_module()
class VotingModel(BaseTTAModel):
    """Wrap a Segmentor / Classifier for test-time voting.

    Understands both ``d3l.point_collate`` batches of augmented copies
    (``inputs={'views': [...]}``, one data-sample list per sample) and
    MMEngine's ``pseudo_collate`` layout. The wrapped Segmentor is switched to
    ``return_probs=True`` so that its votes can be averaged.
    """

    def __init__(self, module, data_preprocessor=None):
        super().__init__(module=module, data_preprocessor=data_preprocessor)
        if hasattr(self.module, 'return_probs'):
            self.module.return_probs = True

    def test_step(self, data) -> List[dict]:
        inputs = data['inputs'] if isinstance(data, dict) else None
        if not (isinstance(inputs, dict) and 'views' in inputs):
            return super().test_step(data)
        samples = data['data_samples']
        num_views = len(inputs['views'])
        for sample in samples:
            if not isinstance(sample, (list, tuple)) or len(sample) != num_views:
                raise ValueError('VotingModel: each sample must carry one data sample per '
                                 f'augmented copy ({num_views}); use mmcv.TestTimeAug in the '
                                 'test pipeline')
        # a running merge keeps one probability array per sample, not one per vote
        merged: List[dict] = [None] * len(samples)
        for view in range(num_views):
            batch = {'inputs': inputs['views'][view],
                     'data_samples': [sample[view] for sample in samples]}
            for i, prediction in enumerate(self.module.test_step(batch)):
                if merged[i] is None:
                    merged[i] = prediction
                else:
                    merged[i] = merge_votes([merged[i], prediction],
                                            weights=(merged[i].get('num_votes', 1), 1))
        return merged

    def merge_preds(self, data_samples_list) -> List[dict]:
        return [merge_votes(list(votes)) for votes in data_samples_list]
