"""LoadSoftLabels after the issue-16 speed-ups (np.take gathers of the
memory-mapped rows; the top-1 only when asked for): the same outputs as the
previous formulas (fancy indexing, the top-1 of every lookup)."""
import numpy as np
import pytest

from d3l.datasets.pretrain import LoadSoftLabels
from d3l.soft_labels import LabelStoreError, SoftLabelCodec
from d3l.soft_labels.store import SoftLabelRecord


def _record(tmp_path, corrupt=False):
    rng = np.random.default_rng(0)
    height, width, stride = 48, 96, 2
    rows = (height // stride) * (width // stride)
    indices = rng.integers(0, 20, (rows, 3)).astype(np.uint8)
    probs = (rng.random((rows, 3)) / 3).astype(np.float16)
    probs[::7, 0] = 0  # unlabelled cells
    if corrupt:
        probs[5, 1] = np.float16(np.nan)
    np.save(tmp_path / 'i.npy', indices)
    np.save(tmp_path / 'p.npy', probs)
    mapped = [np.load(tmp_path / f'{n}.npy', mmap_mode='r') for n in 'ip']
    record = SoftLabelRecord('f', *mapped, (height // stride, width // stride), (height, width),
                             stride, 20, source='shard_x.npz')
    pixels = rng.choice(height * width, 900, replace=False)
    return record, pixels, indices, probs


@pytest.mark.parametrize('decode', [False, True])
def test_outputs_are_those_of_the_previous_formulas(tmp_path, decode):
    record, pixels, indices, probs = _record(tmp_path)
    rows = record.rows(pixels)
    reference = {'indices': indices[rows], 'probs': probs[rows]}  # fancy indexing
    sample = dict(pixel_index=pixels, img_shape=(48, 96), soft_label_record=record)
    out = LoadSoftLabels(decode=decode, with_hard_labels=True)(dict(sample))
    if decode:
        np.testing.assert_array_equal(
            out['soft_labels'], SoftLabelCodec.decode(reference, 20).numpy())
    else:
        for key in ('indices', 'probs'):
            np.testing.assert_array_equal(out['soft_labels'][key], reference[key])
    np.testing.assert_array_equal(out['labels'], SoftLabelCodec.top1(reference, 255).numpy())
    plain = LoadSoftLabels(decode=decode)(dict(sample, soft_label_record=record))
    assert 'labels' not in plain
    assert out['num_classes'] == plain['num_classes'] == 20


def test_corrupt_rows_are_still_an_error_without_the_top1(tmp_path):
    record, _, _, _ = _record(tmp_path, corrupt=True)
    with pytest.raises(LabelStoreError, match='shard_x.npz'):
        LoadSoftLabels(decode=False)(dict(pixel_index=np.arange(2 * 48), img_shape=(48, 96),
                                          soft_label_record=record))
