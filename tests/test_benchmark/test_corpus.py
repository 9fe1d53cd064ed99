"""The shipped teacher's 2D corpus: seeds, determinism, resume, mmseg format,
panorama crops that match PanoramaCrops."""
import dataclasses
import hashlib
import os
import os.path as osp

import numpy as np
import pytest
import torch
from PIL import Image

from d3l.benchmark.corpus import (
    CORPORA,
    CorpusMismatchError,
    CorpusSpec,
    CorpusSplit,
    build_teacher_corpus,
    crop_panorama,
    held_out_photos,
)
from d3l.benchmark.world.classes import CLASSES_2D
from d3l.teachers.panorama import PanoramaCrops

TINY = CORPORA['tiny']


def _digests(root):
    out = {}
    for folder, _, files in os.walk(root):
        for name in files:
            if name.endswith('.png'):
                with open(osp.join(folder, name), 'rb') as f:
                    out[osp.relpath(osp.join(folder, name), root)] = \
                        hashlib.sha1(f.read()).hexdigest()
    return out


@pytest.fixture(scope='module')
def corpus(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('corpus') / 'tiny')
    return root, build_teacher_corpus(root, 'tiny', progress=False)


def test_default_corpus_uses_only_unseen_world_seeds():
    for spec in CORPORA.values():
        seeds = {s.name: set(s.seeds) for s in spec.splits}
        assert min(min(v) for v in seeds.values()) >= 1000
        assert not seeds['train'] & seeds['val']
    default = {s.name: s for s in CORPORA['default'].splits}
    assert default['train'].num_images >= 4000
    assert CORPORA['large'].splits[0].num_seeds * CORPORA['large'].splits[0].rooms_per_seed \
        * CORPORA['large'].splits[0].photos_per_room >= 10000
    bad = CorpusSpec('bad', (CorpusSplit('train', 7, 1, 1, 1),))
    with pytest.raises(ValueError, match='>= 1000'):
        build_teacher_corpus('/nonexistent/never', bad, progress=False)


def test_layout_counts_and_labels(corpus):
    root, manifest = corpus
    for split in TINY.splits:
        names = sorted(os.listdir(osp.join(root, 'img_dir', split.name)))
        assert names == sorted(os.listdir(osp.join(root, 'ann_dir', split.name)))
        assert len(names) == split.num_images == manifest['counts'][split.name]
        assert sum('_c' in n for n in names) == \
            split.num_seeds * split.rooms_per_seed * split.crops_per_room
    photo = np.asarray(Image.open(osp.join(root, 'img_dir', 'train', 's1000_r00_p00.png')))
    label = np.asarray(Image.open(osp.join(root, 'ann_dir', 'train', 's1000_r00_p00.png')))
    assert photo.shape == (48, 64, 3) and label.shape == (48, 64)
    assert set(np.unique(label)) <= set(range(len(CLASSES_2D))) | {255}
    assert len(np.unique(label)) >= 3  # walls, floor and some furniture
    # photos of the corpus are those held_out_photos renders for the same seed / pool
    val_img = np.asarray(Image.open(osp.join(root, 'img_dir', 'val', 's5000_r00_p01.png')))
    mem = held_out_photos(5000, 2, 'tiny')[1]
    np.testing.assert_array_equal(val_img, mem[0])
    assert sum(manifest['class_frequency_2d']['train'].values()) == pytest.approx(1, abs=1e-3)


def test_deterministic_resumable_and_refuses_another_spec(corpus, tmp_path):
    root, _ = corpus
    other = str(tmp_path / 'again')
    build_teacher_corpus(other, 'tiny', progress=False, workers=2)
    assert _digests(other) == _digests(root)
    # an interrupted run resumes: a missing image is regenerated identically
    victim = osp.join(other, 'img_dir', 'train', 's1001_r01_c00.png')
    os.remove(victim)
    os.remove(osp.join(other, 'manifest.json'))
    build_teacher_corpus(other, 'tiny', progress=False)
    assert _digests(other) == _digests(root)
    changed = dataclasses.replace(TINY, image_size=(32, 24))
    with pytest.raises(CorpusMismatchError, match=r"another spec.*differs in \['image_size'\]"):
        build_teacher_corpus(other, changed, progress=False)


def test_panorama_crop_matches_panorama_crops():
    rng = np.random.default_rng(0)
    pano = rng.integers(0, 256, (64, 128, 3), dtype=np.uint8)
    labels = np.repeat(np.arange(128, dtype=np.uint8)[None] // 8, 64, 0)  # class = longitude
    img, label = crop_panorama(pano, labels, 90.0, 45.0, 0.0)
    crops = PanoramaCrops(fov=90.0, yaws=[45.0], pitches=[0.0])
    expected = crops.crop(torch.from_numpy(pano.transpose(2, 0, 1)).double(), 0)
    np.testing.assert_allclose(img.transpose(2, 0, 1), expected.round().numpy(), atol=1)
    assert img.shape == (32, 32, 3) and label.shape == (32, 32)
    # looking at longitude 45 deg: u = 45 deg lies at column (45 + 180) / 360 * 128 = 80
    assert label[16, 16] == 80 // 8
    assert set(np.unique(label)) <= set(range(16))
