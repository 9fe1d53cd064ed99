"""The shipped teacher's recipe: its config trains (and validates) on a tiny
corpus, and the export keeps what MMSegTeacher needs and nothing else."""
import os.path as osp

import pytest
import torch
from conftest import tool_module

from d3l.benchmark.corpus import build_teacher_corpus
from d3l.model_zoo import SYNTHETIC_DPT, file_sha256
from d3l.teachers import MMSegTeacher

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO, 'configs', 'demo', 'dpt-hybrid_scratch_synthetic-corpus_seg2d.py')


def _tool(name):
    return tool_module(name)


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp('recipe')
    corpus = str(root / 'corpus')
    build_teacher_corpus(corpus, 'tiny', progress=False)
    work_dir = str(root / 'work')
    _tool('train').main([
        CONFIG, '--work-dir', work_dir, '--cfg-options',
        *[f'{key}.dataset.data_root={corpus}' for key in ('train_dataloader', 'val_dataloader',
                                                          'test_dataloader')],
        'train_dataloader.batch_size=2',
        'val_dataloader.batch_size=2', 'train_cfg.max_iters=3', 'train_cfg.val_interval=3',
        'param_scheduler.0.end=1', 'param_scheduler.1.begin=1',
        'default_hooks.checkpoint.interval=3', 'default_hooks.logger.interval=1'])
    return root, osp.join(work_dir, 'iter_3.pth')


def test_recipe_trains_and_validates(trained):
    _, checkpoint = trained
    state = torch.load(checkpoint, map_location='cpu', weights_only=False)
    assert state['meta']['iter'] == 3 and 'optimizer' in state
    assert len(state['meta']['dataset_meta']['classes']) == 30


def test_export_strips_training_state_and_loads_alone(trained):
    root, checkpoint = trained
    out = str(root / 'zoo.pth')
    report = _tool('export_zoo_teacher').main([checkpoint, out])
    assert report['sha256'] == file_sha256(out) and report['iter'] == 3
    state = torch.load(out, map_location='cpu', weights_only=True)
    assert set(state) == {'state_dict', 'meta'}
    teacher = MMSegTeacher(SYNTHETIC_DPT.config, out, scale=None, device='cpu')
    assert teacher.class_names[-1] == 'box'
    probs = teacher(torch.zeros(1, 3, 48, 64))
    assert probs.shape == (1, 30, 48, 64)
    torch.testing.assert_close(probs.sum(1), torch.ones(1, 48, 64))
