"""Test-time voting: VotingModel on mmcv.TestTimeAug copies of scenes."""
import pytest
import torch
from downstream_data import make_scannet_root
from mmengine.config import Config
from mmengine.registry import init_default_scope

from d3l.datasets import ScanNetDataset, point_collate
from d3l.evaluation import VotingModel, merge_votes
from d3l.models import Segmentor


def test_merge_votes_segmentation_and_classification():
    a = dict(probs=torch.tensor([[0.6, 0.4], [0.2, 0.8]]), metainfo={})
    b = dict(probs=torch.tensor([[0.2, 0.8], [0.4, 0.6]]), metainfo={})
    merged = merge_votes([a, b])
    assert torch.allclose(merged['probs'], torch.tensor([[0.4, 0.6], [0.3, 0.7]]))
    assert merged['pred'].tolist() == [1, 1] and merged['num_votes'] == 2
    # folding a third vote into the running mean of two equals the mean of three
    c = dict(probs=torch.tensor([[0.9, 0.1], [0.9, 0.1]]))
    folded = merge_votes([merged, c], weights=(2, 1))
    assert torch.allclose(folded['probs'], (a['probs'] + b['probs'] + c['probs']) / 3)
    assert folded['num_votes'] == 3 and folded['pred'].tolist() == [0, 1]
    # one confident vote outweighs a less confident one (votes average, not count)
    cls = merge_votes([dict(scores=torch.tensor([0.3, 0.7])),
                       dict(scores=torch.tensor([0.9, 0.1]))])
    assert cls['pred_label'] == 0 and torch.allclose(cls['scores'], torch.tensor([0.6, 0.4]))
    with pytest.raises(ValueError, match='disagree in shape'):
        merge_votes([a, dict(probs=torch.ones(3, 2))])
    with pytest.raises(ValueError, match='neither'):
        merge_votes([dict(pred=torch.zeros(2))])


def test_voting_model_averages_views_on_full_scenes(tmp_path):
    init_default_scope('d3l')
    root = make_scannet_root(str(tmp_path / 'scannet'), {'val': ['scene0000_00', 'scene0001_00']},
                             num_points=500)
    # the shipped voting pipeline (4 turns about z), with voxels coarse enough to
    # hold several of these sparse points, so that every copy is voxelised differently
    pipeline = Config.fromfile('configs/_base_/datasets/scannet.py').tta_pipeline
    pipeline[0]['transforms'][1][0]['grid_size'] = 0.5
    dataset = ScanNetDataset(root, split='val', pipeline=pipeline, test_mode=True)
    batch = point_collate([dataset[0], dataset[1]])
    num_views = len(batch['inputs']['views'])
    assert num_views == 4

    torch.manual_seed(0)
    module = Segmentor(backbone=dict(type='PointMLP', in_channels=6, channels=(8,)),
                       decode_head=dict(type='SegHead', num_classes=20)).eval()
    model = VotingModel(module=module)
    merged = model.test_step(batch)
    assert len(merged) == 2 and merged[0]['num_votes'] == num_views

    # reference: each view's per-point softmax, spread to every vertex with the
    # view's own inverse map, averaged over views
    for i in range(2):
        per_view = []
        for v in range(num_views):
            view = batch['inputs']['views'][v]
            mask = view['batch'] == i
            feat = model.module.data_preprocessor({'inputs': view})['inputs']
            with torch.no_grad():
                probs = module._forward(feat).softmax(1)[mask]
            per_view.append(probs[batch['data_samples'][i][v]['inverse']])
        expected = torch.stack(per_view).mean(0)
        assert merged[i]['probs'].shape == (500, 20)
        assert torch.allclose(merged[i]['probs'], expected, atol=1e-5)
        assert torch.equal(merged[i]['pred'], expected.argmax(1))
        assert not torch.allclose(per_view[0], per_view[1])  # the copies really differ
        assert torch.equal(merged[i]['gt'], batch['data_samples'][i][0]['origin_labels'])


def test_voting_model_classification_turns(tmp_path):
    from downstream_data import make_modelnet_root

    from d3l.datasets import ModelNet40Dataset
    from d3l.models import Classifier
    init_default_scope('d3l')
    root = make_modelnet_root(str(tmp_path / 'modelnet'), {'train': 1, 'test': 1}, 64)
    pipeline = Config.fromfile('configs/_base_/datasets/modelnet40.py').tta_pipeline
    dataset = ModelNet40Dataset(root, split='test', pipeline=pipeline, test_mode=True)
    batch = point_collate([dataset[0], dataset[1]])
    views = batch['inputs']['views']
    assert len(views) == 8
    # view k is the shape turned by k * 45 degrees about z around its box centre
    first = views[0]['coord'][views[0]['batch'] == 0]
    third = views[2]['coord'][views[2]['batch'] == 0]
    centre = (first.min(0).values + first.max(0).values) / 2
    turned = (first - centre) @ torch.tensor([[0., -1, 0], [1, 0, 0], [0, 0, 1]]).T + centre
    assert torch.allclose(turned, third, atol=1e-5)

    torch.manual_seed(0)
    module = Classifier(backbone=dict(type='PointMLP', in_channels=6, channels=(8,),
                                      global_pool=True),
                        cls_head=dict(type='ClsHead', num_classes=4, dropout=0.0)).eval()
    merged = VotingModel(module=module).test_step(batch)
    for i in range(2):
        scores = []
        for view in views:
            feats = module.data_preprocessor({'inputs': view})['inputs']
            with torch.no_grad():
                scores.append(module._forward(feats).softmax(1)[i])
        expected = torch.stack(scores).mean(0)
        assert torch.allclose(merged[i]['scores'], expected, atol=1e-5)
        assert merged[i]['pred_label'] == int(expected.argmax())
        assert merged[i]['gt_label'] == dataset.get_data_info(i)['label']
