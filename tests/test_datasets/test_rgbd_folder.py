"""The generic RGB-D folder layout, the shared base class and bad-frame
skipping (warning, count, hook, DataLoader workers)."""
import json
import os
import os.path as osp

import numpy as np
import pytest
import torch
from rgbd_data import (
    K_SMALL,
    equirect_room,
    gradient_image,
    make_folder_scene,
    write_png16,
    write_rgb,
)

from d3l.datasets import RGBDFolderDataset
from d3l.datasets.rgbd import BadFrameError, SkippedFramesHook

LIFT = [dict(type='LoadRGBD'), dict(type='LiftRGBD')]


def test_layout_lists_frames_without_loading_and_lifts_upright(tmp_path):
    truth = make_folder_scene(str(tmp_path / 'scene_a'), num_frames=3)
    make_folder_scene(str(tmp_path / 'house' / 'scene_b'), num_frames=2, with_labels=False)
    os.remove(tmp_path / 'house' / 'scene_b' / 'depth' / '0001.png')  # unpaired colour
    ds = RGBDFolderDataset(str(tmp_path), pipeline=LIFT)
    assert ds.frame_ids() == ['house/scene_b/0000', 'scene_a/0000', 'scene_a/0001',
                              'scene_a/0002']
    assert ds.num_unpaired == 1
    info = ds.get_data_info(1)
    assert info['scene_id'] == 'scene_a' and info['projection'] == 'perspective'
    np.testing.assert_allclose(info['intrinsics'], K_SMALL)
    np.testing.assert_allclose(info['cam2world'], truth['0000']['cam2world'], atol=1e-6)
    assert info['depth_scale'] == 1000.0 and info['label_path'].endswith('0000.png')
    for i, stem in ((1, '0000'), (3, '0002')):
        sample = ds[i]
        index = sample['pixel_index']
        hits = truth[stem]['hits'].reshape(-1, 3)[index]
        assert np.abs(sample['points'] - hits).max() < 2e-3  # world frame, z up
        labels = np.argmax(np.abs(truth[stem]['normals']), axis=2).reshape(-1)[index]
        labels[index < 80] = 255
        np.testing.assert_array_equal(sample['labels'], labels)
        up = np.abs(sample['normals'][:, 2]) > 0.99  # floor / ceiling normals are vertical
        np.testing.assert_array_equal(up[labels != 255], labels[labels != 255] == 2)


def test_per_frame_camera_json_overrides_and_panoramas(tmp_path):
    scene = tmp_path / 'pano'
    distance, hits, _ = equirect_room((32, 64))
    write_png16(str(scene / 'depth' / 'a.png'), distance)
    write_rgb(str(scene / 'rgb' / 'a.jpg'), gradient_image(32, 64))
    with open(scene / 'camera.json', 'w') as f:
        json.dump({'projection': 'equirect'}, f)
    ds = RGBDFolderDataset(str(scene), pipeline=LIFT)
    assert ds.frame_ids() == ['a']
    sample = ds[0]
    assert sample['projection'] == 'equirect' and sample['cam2world'] is None
    assert np.abs(sample['points'] - hits.reshape(-1, 3)[sample['pixel_index']]).max() < 2e-3

    persp = tmp_path / 'persp'
    make_folder_scene(str(persp), num_frames=2, with_pose=False, camera_json=False)
    os.makedirs(persp / 'camera')
    K2 = K_SMALL * [[2, 1, 1], [1, 2, 1], [1, 1, 1]]
    with open(persp / 'camera' / '0001.json', 'w') as f:
        json.dump({'K': K2.tolist(), 'depth_scale': 500}, f)
    with pytest.raises(BadFrameError, match='perspective frames without intrinsics'):
        RGBDFolderDataset(str(persp))  # frame 0000 has no camera anywhere
    ds = RGBDFolderDataset(str(persp), intrinsics=dict(fx=60, fy=60, cx=39.5, cy=29.5))
    np.testing.assert_allclose(ds.get_data_info(0)['intrinsics'], K_SMALL)
    info = ds.get_data_info(1)
    np.testing.assert_allclose(info['intrinsics'], K2)
    assert info['depth_scale'] == 500


def test_split_file_frame_skip_and_label_map(tmp_path):
    make_folder_scene(str(tmp_path / 's1'), num_frames=4)
    make_folder_scene(str(tmp_path / 's2'), num_frames=2)
    (tmp_path / 'split.txt').write_text('# kept scenes\ns1\ns2/0001\n')
    ds = RGBDFolderDataset(str(tmp_path), split_file=str(tmp_path / 'split.txt'), frame_skip=2)
    assert ds.frame_ids() == ['s1/0000', 's1/0002']
    ds = RGBDFolderDataset(str(tmp_path), split_file=str(tmp_path / 'split.txt'),
                           label_map=[10, 11, 12], pipeline=[dict(type='LoadRGBD')])
    assert ds.frame_ids()[-1] == 's2/0001'
    labels = ds[0]['pixel_labels']
    assert set(np.unique(labels)) <= {10, 11, 12, 255} and (labels[0] == 255).all()


def test_bad_layouts_raise_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match='not a directory'):
        RGBDFolderDataset(str(tmp_path / 'missing'))
    os.makedirs(tmp_path / 'empty' / 'rgb')
    os.makedirs(tmp_path / 'empty' / 'depth')
    with pytest.raises(ValueError, match='no frames found'):
        RGBDFolderDataset(str(tmp_path / 'empty'), intrinsics=K_SMALL)
    make_folder_scene(str(tmp_path / 'bad'), num_frames=1)
    with open(tmp_path / 'bad' / 'camera.json', 'w') as f:
        json.dump({'focal': 1}, f)
    with pytest.raises(BadFrameError, match=r'camera.json: unknown camera keys \[.focal.\]'):
        RGBDFolderDataset(str(tmp_path / 'bad'))


def _broken_dataset(tmp_path, **kwargs):
    make_folder_scene(str(tmp_path), num_frames=4, with_labels=False)
    write_png16(str(tmp_path / 'depth' / '0001.png'), np.zeros((60, 80)))  # all invalid
    (tmp_path / 'rgb' / '0002.png').write_bytes(b'\x89PNG\r\n\x1a\n truncated')
    return RGBDFolderDataset(str(tmp_path), pipeline=LIFT, **kwargs)


def test_bad_frames_raise_or_are_skipped_and_counted(tmp_path):
    ds = _broken_dataset(tmp_path)
    assert len(ds[0]['points']) > 0
    with pytest.raises(BadFrameError, match='0001.png: only 0 valid depth pixels'):
        ds[1]
    ds = _broken_dataset(tmp_path, skip_bad_frames=True)
    assert ds[1]['frame_id'] == '0003'  # 0001 and 0002 are bad: the next good frame
    assert ds.num_skipped == 2
    assert ds.try_prepare(2) is None and ds.num_skipped == 3
    assert ds.pop_epoch_skips() == 3 and ds.pop_epoch_skips() == 0
    # the hook logs the epoch's count and stores it in the message hub
    ds[1]

    class Loop:
        dataloader = torch.utils.data.DataLoader(ds, batch_size=None)

    class Runner:
        _train_loop = Loop()

        class message_hub:
            info = {}

            @classmethod
            def update_info(cls, key, value):
                cls.info[key] = value

    SkippedFramesHook().after_train_epoch(Runner)
    assert Runner.message_hub.info['train/skipped_frames'] == 2
    ds_all_bad = _broken_dataset(tmp_path / 'again', skip_bad_frames=True, max_skip_tries=2)
    with pytest.raises(BadFrameError, match='2 consecutive bad frames'):
        ds_all_bad[1]


def test_skips_in_dataloader_workers_are_counted(tmp_path):
    ds = _broken_dataset(tmp_path, skip_bad_frames=True)
    loader = torch.utils.data.DataLoader(ds, batch_size=None, num_workers=2,
                                         collate_fn=lambda s: s['frame_id'])
    frames = list(loader)
    assert frames == ['0000', '0003', '0003', '0003']
    assert ds.pop_epoch_skips() == 3  # counted in the workers, read in the main process
    assert ds.num_skipped == 3


def test_every_frame_visited_once_with_try_prepare(tmp_path):
    ds = _broken_dataset(tmp_path, skip_bad_frames=True)
    ds.pipeline.transforms = ds.pipeline.transforms[:1]  # [LoadRGBD], as pseudo-labelling does
    seen = [s['frame_id'] for s in map(ds.try_prepare, range(len(ds))) if s is not None]
    assert seen == ['0000', '0003'] and ds.num_skipped == 2
    assert osp.isfile(ds.get_raw_info(0)['img_path'])
