"""The 2D teacher shipped in the package: its checksum is the documented one,
it loads through MMSegTeacher alone, and it segments photos of a world seed
it never saw (where random weights of the same model do not)."""
import os.path as osp
import re
import shutil

import pytest

from d3l.benchmark.corpus import corpus_seed_ranges, held_out_photos
from d3l.model_zoo import SYNTHETIC_DPT, ZOO, ZooChecksumError, file_sha256, zoo_checkpoint
from d3l.model_zoo.evaluate import score_photos
from d3l.teachers import MMSegTeacher
from d3l.teachers.mmseg_teacher import save_random_mmseg_checkpoint

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
DOC = osp.join(REPO, 'docs', 'model_zoo.md')
#: a world seed outside every corpus split (train 1000-1039 / 1000-1099, held-out 5000-5004)
UNSEEN_SEED = 7001
#: the issue's bar; the shipped weights (a7393f70) score 38.9 mIoU / 84.9 % on these 15 photos
#: (random weights: 0.4 mIoU), a margin for other machines' float rounding of rare-class IoUs
MIN_MIOU = 35.0


@pytest.fixture(scope='module')
def photos():
    for spec in ('default', 'large'):
        for first, last in corpus_seed_ranges(spec).values():
            assert not first <= UNSEEN_SEED <= last
    return held_out_photos(UNSEEN_SEED, 15)


def test_checksum_is_the_documented_one():
    with open(DOC, encoding='utf-8') as f:
        documented = re.findall(r'sha256[^`\n]*`([0-9a-f]{64})`', f.read())
    assert documented, 'docs/model_zoo.md records no sha256'
    actual = file_sha256(SYNTHETIC_DPT.checkpoint)
    assert actual == documented[0] == SYNTHETIC_DPT.sha256
    assert zoo_checkpoint('synthetic_dpt') == SYNTHETIC_DPT.checkpoint
    assert osp.getsize(SYNTHETIC_DPT.checkpoint) <= 20 * 2 ** 20


def test_a_damaged_copy_is_refused(tmp_path, monkeypatch):
    import d3l.model_zoo as zoo
    shutil.copy(SYNTHETIC_DPT.config, tmp_path / SYNTHETIC_DPT.config_file)
    damaged = tmp_path / SYNTHETIC_DPT.checkpoint_file
    damaged.write_bytes(open(SYNTHETIC_DPT.checkpoint, 'rb').read()[:-10])
    monkeypatch.setattr(zoo, 'ZOO_DIR', str(tmp_path))
    with pytest.raises(ZooChecksumError, match='sha256'):
        zoo_checkpoint('synthetic_dpt')
    damaged.unlink()
    with pytest.raises(ZooChecksumError, match='missing'):
        zoo_checkpoint('synthetic_dpt')
    with pytest.raises(KeyError, match='synthetic_dpt'):
        zoo_checkpoint('nope')
    assert set(ZOO) == {'synthetic_dpt'}


def test_segments_photos_of_an_unseen_world(photos):
    teacher = MMSegTeacher(SYNTHETIC_DPT.config, zoo_checkpoint('synthetic_dpt'), scale=None,
                           device='cpu')
    assert teacher.class_names[:3] == ['wall', 'floor', 'ceiling'] and teacher.num_classes == 30
    result = score_photos(teacher, photos)
    assert result['images'] == 15
    assert result['miou'] >= MIN_MIOU, result


def test_random_weights_of_the_same_model_fail(photos, tmp_path):
    path = save_random_mmseg_checkpoint(SYNTHETIC_DPT.config, str(tmp_path / 'random.pth'),
                                        seed=0, class_names=MMSegTeacher(
                                            SYNTHETIC_DPT.config, SYNTHETIC_DPT.checkpoint,
                                            device='cpu').class_names)
    teacher = MMSegTeacher(SYNTHETIC_DPT.config, path, scale=None, device='cpu')
    assert score_photos(teacher, photos)['miou'] < MIN_MIOU
