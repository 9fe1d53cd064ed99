"""The demo's val / test loader scores several rooms per forward
(configs/demo/_base_/datasets/synthetic_scannet.py): its test stage must
give the same per-point predictions and metrics as one room per forward."""
import os.path as osp

import numpy as np
import pytest
import torch
from downstream_data import make_scannet_root
from mmengine.config import Config
from mmengine.runner.checkpoint import save_checkpoint

from d3l.apis import test as run_test
from d3l.registry import MODELS

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG = osp.join(REPO_ROOT, 'configs/demo/segmentor_scratch_synthetic-scannet_spunet_full.py')
VAL_ROOMS = [f'scene{i:04d}_00' for i in range(9)]  # one full batch and a partial one


def _random_checkpoint(path: str) -> str:
    # random weights predict several classes: enough to see rooms mixed up
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(CONFIG).model)
    save_checkpoint({'state_dict': model.state_dict(), 'meta': {}}, path)
    return path


def test_demo_val_batches_predict_as_single_rooms(tmp_path):
    batch = Config.fromfile(CONFIG).test_dataloader.batch_size
    assert batch > 1  # what this test is about
    root = make_scannet_root(str(tmp_path / 'scannet'),
                             {'train': ['scene0100_00'], 'val': VAL_ROOMS}, num_points=3000)
    checkpoint = _random_checkpoint(str(tmp_path / 'random.pth'))
    metrics, preds = {}, {}
    for size in (1, batch):
        options = {f'{key}.dataset.data_root': root
                   for key in ('train_dataloader', 'val_dataloader', 'test_dataloader')}
        options.update({'test_dataloader.batch_size': size,
                        '+experiment_name': f'demo_val_batch{size}'})
        out = tmp_path / f'batch{size}'
        metrics[size] = run_test(CONFIG, checkpoint, work_dir=str(out / 'work'),
                                 save_preds=str(out / 'preds'), cfg_options=options,
                                 format_config=False)
        preds[size] = {name: np.load(out / 'preds' / f'{name}.npy') for name in VAL_ROOMS}
    single = np.concatenate([preds[1][name] for name in VAL_ROOMS])
    assert single.size == 3000 * len(VAL_ROOMS)  # every original point (GridSample's inverse)
    assert len(np.unique(single)) >= 3  # not one class everywhere
    for name in VAL_ROOMS:
        np.testing.assert_array_equal(preds[batch][name], preds[1][name], err_msg=name)
    assert metrics[batch]['mIoU'] == pytest.approx(metrics[1]['mIoU'], abs=0)
    assert metrics[batch] == pytest.approx(metrics[1], nan_ok=True, abs=0)
