"""OCNNUNet and SparseUNet: the shared interface, invariances and references."""
import numpy as np
import pytest
import torch
from mmengine.model import convert_sync_batchnorm
from model_test_utils import (
    BACKBONES,
    LEAF,
    TINY,
    make_ocnn,
    make_sparse,
    run_eval,
    two_clouds,
)

from d3l.models.backbones import OCNNUNet, SparseUNet
from d3l.registry import MODELS
from d3l.structures import PointBatch, PointOctree, VoxelGrid
from d3l.structures.point_octree import ExtentError

ocnn = pytest.importorskip('ocnn')  # after d3l: its compat layer lets ocnn import

# ----------------------------------------------------------------------------
# the shared interface
# ----------------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_forward_backward_reaches_every_parameter(name):
    torch.manual_seed(0)
    model = BACKBONES[name]()
    batch = two_clouds()
    out = model(batch)
    assert out.shape == (batch.num_points, model.out_channels) == (1100, 8)
    assert torch.isfinite(out).all()
    weights = torch.randn_like(out)
    (out * weights).sum().backward()
    missing = [n for n, p in model.named_parameters()
               if p.grad is None or not torch.isfinite(p.grad).all() or p.grad.abs().sum() == 0]
    assert not missing, f'no gradient for {missing}'


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_output_invariant_to_point_order(name):
    torch.manual_seed(0)
    model = BACKBONES[name]()
    batch = two_clouds()
    model.train()
    model(batch)  # non-trivial BN running statistics
    reference = run_eval(model, batch)
    # shuffle the points inside each cloud (the batch index stays sorted)
    perm = torch.cat([torch.randperm(n) + start for n, start in
                      zip(batch.counts.tolist(), batch.offsets[:-1].tolist())])
    shuffled = PointBatch(batch.coord[perm], batch.feat[perm], batch.batch[perm], 2)
    out = run_eval(model, shuffled)
    torch.testing.assert_close(out, reference[perm], atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_batched_clouds_equal_single_clouds(name):
    """Clouds in one batch do not see each other (eval-mode BN)."""
    torch.manual_seed(0)
    model = BACKBONES[name]()
    batch = two_clouds()
    model.train()
    model(batch)
    together = run_eval(model, batch)
    for i, (coord, feat) in enumerate(zip(batch.split(batch.coord), batch.split(batch.feat))):
        alone = run_eval(model, PointBatch.from_list([coord], [feat]))
        torch.testing.assert_close(batch.split(together)[i], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_translation_by_voxel_multiple_gives_same_output(name):
    torch.manual_seed(0)
    model = BACKBONES[name]()
    rng = np.random.default_rng(3)
    # points kept away from cell borders, so flooring is unambiguous
    cells = rng.integers(0, 20, (600, 3))
    coord = torch.tensor((cells + 0.2 + 0.6 * rng.random((600, 3))) * LEAF, dtype=torch.float32)
    feat = torch.rand(600, 6)
    model.train()
    model(PointBatch.from_list([coord], [feat]))
    model.eval()
    base = run_eval(model, PointBatch.from_list([coord], [feat]))
    shift = torch.tensor([3.0, -5.0, 7.0]) * LEAF
    moved = run_eval(model, PointBatch.from_list([coord + shift], [feat]))
    torch.testing.assert_close(moved, base, atol=1e-5, rtol=1e-4)
    if name == 'spconv':
        # a shift by a fraction of a voxel regroups points: the check can fail
        off = run_eval(model, PointBatch.from_list([coord + 0.5 * LEAF], [feat]))
        assert not torch.allclose(off, base, atol=1e-3)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_global_pool_is_max_of_deepest_features_per_cloud(name):
    torch.manual_seed(0)
    encoder = BACKBONES[name](global_pool=True)
    assert encoder.out_channels == 16
    assert not hasattr(encoder, 'dec') or len(encoder.dec) == 0
    batch = two_clouds()
    pooled = encoder(batch)
    assert pooled.shape == (2, 16)
    pooled.sum().backward()
    assert all(p.grad is not None for p in encoder.parameters())
    together = run_eval(encoder, batch)
    for i, (coord, feat) in enumerate(zip(batch.split(batch.coord), batch.split(batch.feat))):
        alone = run_eval(encoder, PointBatch.from_list([coord], [feat]))
        torch.testing.assert_close(together[i:i + 1], alone, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_registered_and_built_from_config(name):
    type_name = {'ocnn': 'OCNNUNet', 'spconv': 'SparseUNet'}[name]
    model = MODELS.build(dict(type=type_name, in_channels=6, **TINY))
    assert type(model).__name__ == type_name and model.out_channels == 8


@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_wrong_input_channels_is_a_clear_error(name):
    model = BACKBONES[name]()
    batch = two_clouds()
    with pytest.raises(ValueError, match='in_channels=6 but the batch has 3'):
        model(batch.with_feat(batch.feat[:, :3]))


def test_bad_configs_are_rejected():
    with pytest.raises(ValueError, match='too shallow'):
        OCNNUNet(6, depth=3, **TINY)
    with pytest.raises(ValueError, match='dec_channels has 2 stages'):
        SparseUNet(6, stem_channels=8, enc_channels=[8, 16, 16], enc_blocks=[1, 1, 1],
                   dec_channels=[16, 8], dec_blocks=[1, 1])
    with pytest.raises(ValueError, match='enc_blocks has 2 entries'):
        OCNNUNet(6, enc_channels=[8, 16, 16], enc_blocks=[1, 1])
    with pytest.raises(ValueError, match='normal_channels'):
        OCNNUNet(6, octree_feature='FD', **TINY)
    with pytest.raises(ValueError, match='normalize'):
        OCNNUNet(6, normalize='unit', **TINY)
    with pytest.raises(ValueError, match='voxel_size'):
        SparseUNet(6, voxel_size=0, **TINY)


# ----------------------------------------------------------------------------
# references: ocnn's own UNet, octree search, numpy voxelisation
# ----------------------------------------------------------------------------
class _TinyOcnnUNet(ocnn.models.UNet):
    def config_network(self):
        self.encoder_channel = [8, 8, 16, 16]
        self.decoder_channel = [16, 16, 16, 8]
        self.encoder_blocks = [1, 1, 1]
        self.decoder_blocks = [1, 1, 1]
        self.head_channel = 8
        self.bottleneck = 1
        self.resblk = ocnn.modules.OctreeResBlock2


@pytest.mark.parametrize('nempty,interp', [(True, 'nearest'), (False, 'nearest'),
                                           (True, 'linear'), (False, 'linear')])
def test_ocnn_unet_matches_ocnn_models_unet(nempty, interp):
    """Same weights, same octree: d3l's configurable U-Net computes exactly
    what ocnn.models.UNet computes (stages, skip order, interpolation), and
    its leaf features equal ocnn's own averaging of point features."""
    torch.manual_seed(0)
    ours = make_ocnn(nempty=nempty, interp=interp).eval()
    ref = _TinyOcnnUNet(6, 3, interp=interp, nempty=nempty).eval()
    renames = {'stem.': 'conv1.', 'down.': 'downsample.', 'enc.': 'encoder.',
               'up.': 'upsample.', 'dec.': 'decoder.'}
    state = {}
    for key, value in ours.state_dict().items():
        for a, b in renames.items():
            if key.startswith(a):
                state[b + key[len(a):]] = value
    missing, unexpected = ref.load_state_dict(state, strict=False)
    assert not unexpected and all(k.startswith('header.') for k in missing)

    batch = two_clouds()
    with torch.no_grad():
        out = ours(batch)
        tree: PointOctree = batch.cache[('ocnn', 5, 2, 'scene', 1.6, 0.01)]
        # ocnn's own octree with the point features averaged into its leaves
        points = ocnn.octree.Points(tree.query[:, :3].clone(), features=batch.feat,
                                    batch_id=batch.batch, batch_size=2)
        octree = ocnn.octree.Octree(5, 2, batch_size=2)
        octree.build_octree(points, bbmin=0.0, bbmax=32.0)
        octree.construct_all_neigh()
        data = octree.get_input_feature('F', nempty=nempty)
        convd = ref.unet_encoder(data, octree, 5)
        feature = ref.unet_decoder(convd, octree, 5 - 3)
        query = tree.query.clone()
        expected = ocnn.nn.OctreeInterp(interp, nempty, rescale_pts=False)(
            feature, octree, 5, query)
    torch.testing.assert_close(out, expected, atol=1e-5, rtol=1e-4)


def test_point_octree_leaf_index_matches_octree_search_and_merge():
    batch = two_clouds()
    tree = PointOctree.from_batch(batch, depth=6, full_depth=2, normalize='scene', scale=1.6)
    found = tree.octree.search_xyzb(tree.query, 6, nempty=True)
    assert torch.equal(found, tree.point2leaf)
    assert tree.counts.sum() == batch.num_points and (tree.counts > 0).all()
    # one batched build == per-cloud builds merged with ocnn.octree.merge_octrees
    trees = []
    for i in range(2):
        sel = batch.batch == i
        single = ocnn.octree.Octree(6, 2)
        single.build_octree(ocnn.octree.Points(tree.query[sel, :3].clone()), 0.0, 64.0)
        trees.append(single)
    merged = ocnn.octree.merge_octrees(trees)
    merged.construct_all_neigh()
    for d in range(1, 7):
        assert torch.equal(merged.keys[d], tree.octree.keys[d])
        assert torch.equal(merged.neighs[d], tree.octree.neighs[d])


def test_scene_normalisation_gives_metric_leaves():
    coord = torch.tensor([[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.51, 0.5, 0.5]])
    batch = PointBatch.from_list([coord], [torch.rand(3, 6)])
    tree = PointOctree.from_batch(batch, depth=4, normalize='scene', scale=1.6)
    # 2 * 1.6 m / 2^4 = 0.2 m leaves about the box centre (0.5, 0.5, 0.5): the
    # centre point sits in cell 8 + floor(0.01 / 0.2) = 8, the corners 5 cells away
    cells = tree.query[:, :3].floor().long()
    assert cells.tolist() == [[5, 5, 5], [10, 10, 10], [8, 8, 8]]


def test_cloud_larger_than_the_cube_is_an_error_never_clamped():
    model = make_ocnn()
    assert model.extent == pytest.approx(2 * model.scale)
    # a cloud exactly as large as the cube fits: its extreme points land in the border leaves
    edge = 2 * model.scale
    fits = PointBatch.from_list([torch.tensor([[0.0, 0, 0], [edge, 0, 0]])], [torch.rand(2, 6)])
    tree = model.build_octree(fits)
    assert tree.query[:, 0].floor().tolist() == [0, 2 ** model.depth - 1]
    big = PointBatch.from_list([torch.rand(5, 3), torch.tensor([[0.0, 0, 0], [8.0, 0, 0]])],
                               [torch.rand(5, 6), torch.rand(2, 6)])
    with pytest.raises(ExtentError, match=r'cloud 1 of the batch spans 8 x 0 x 0 m.*'
                                          r'octree cube of 3\.2 m') as info:
        model(big)
    assert info.value.cloud == 1 and info.value.limit == pytest.approx(3.2)
    assert info.value.extent == (8.0, 0.0, 0.0)
    # normalize='none': coordinates outside [-1, 1] are an error as well
    unit = make_ocnn(normalize='none')
    with pytest.raises(ExtentError, match="outside \\[-1, 1\\].*normalize='none'"):
        unit(PointBatch.from_list([torch.tensor([[0.0, 0, 0], [1.5, 0, 0]])],
                                  [torch.rand(2, 6)]))
    assert unit.extent is None and make_ocnn(normalize='bbox').extent is None


def test_voxel_grid_matches_numpy_reference():
    batch = two_clouds()
    grid = VoxelGrid.from_batch(batch, 0.07, shape_multiple=8)
    assert all(s % 8 == 0 for s in grid.spatial_shape)
    coords = grid.coords.long().numpy()
    for i in range(2):
        pts = batch.split(batch.coord)[i].double().numpy()
        cells = np.floor(pts / 0.07).astype(np.int64)
        cells -= cells.min(0)
        expected = np.unique(cells, axis=0)
        got = coords[coords[:, 0] == i, 1:]
        np.testing.assert_array_equal(got, expected)  # sorted x, y, z like np.unique
        # every point maps to the voxel holding its cell
        p2v = batch.split(grid.point2voxel)[i].numpy()
        np.testing.assert_array_equal(coords[p2v, 1:], cells)
    pooled = grid.pool(batch.feat)
    manual = torch.stack([batch.feat[grid.point2voxel == v].mean(0) for v in range(5)])
    torch.testing.assert_close(pooled[:5], manual)
    torch.testing.assert_close(grid.to_points(pooled)[:3], pooled[grid.point2voxel[:3]])


# ----------------------------------------------------------------------------
# MMEngine switches: SyncBN, AMP
# ----------------------------------------------------------------------------
@pytest.mark.parametrize('name', sorted(BACKBONES))
def test_sync_bn_conversion_covers_every_norm(name):
    model = convert_sync_batchnorm(BACKBONES[name](), implementation='torch')
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    assert norms and all(isinstance(m, torch.nn.SyncBatchNorm) for m in norms)
    out = model(two_clouds())  # single process: SyncBN falls back to local statistics
    out.sum().backward()


def test_ocnn_unet_runs_under_autocast():
    """ocnn 2.3's transposed conv needs its input in the autocast dtype; CPU
    bfloat16 autocast exercises the same path as CUDA float16 (--amp)."""
    torch.manual_seed(0)
    model = make_ocnn()
    batch = two_clouds()
    reference = model(batch)
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = model(batch)
    out.float().sum().backward()
    assert out.shape == reference.shape
    assert torch.allclose(out.float(), reference, atol=0.3)
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.skipif(not torch.cuda.is_available(),
                    reason='spconv has no half-precision CPU kernels; AMP needs CUDA')
def test_sparse_unet_runs_under_cuda_autocast():  # pragma: no cover - GPU only
    model = make_sparse().cuda()
    batch = two_clouds().to('cuda')
    with torch.autocast('cuda', dtype=torch.float16):
        out = model(batch)
    out.float().sum().backward()
    assert out.shape == (batch.num_points, 8)
