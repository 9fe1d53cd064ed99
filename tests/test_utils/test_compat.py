"""Each third-party workaround in d3l.utils.compat, against the library it patches."""
import os
import pickle

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from d3l.utils import compat


# ---------------------------------------------------------------- checkpoints
def _mmengine_like_checkpoint():
    from mmengine.logging import HistoryBuffer, MessageHub
    hub = MessageHub('compat-test')
    hub.update_scalar('train/loss', 0.5)
    hub.update_scalar('train/loss', 0.25)
    hub.update_info('eta', np.float64(3.5))
    hub.update_info('dataset_meta', {'classes': ('a', 'b'), 'palette': np.zeros((2, 3))})
    buffer = HistoryBuffer([1.0, 2.0], [1, 1])
    return {'meta': {'epoch': 1, 'iter': 8, 'seed': np.int64(3), 'cfg': 'x = 1'},
            'state_dict': {'w': torch.arange(4.0)},
            'message_hub': hub.state_dict(), 'buffer': buffer}


def test_mmengine_checkpoint_loads_with_weights_only(tmp_path):
    path = tmp_path / 'ckpt.pth'
    torch.save(_mmengine_like_checkpoint(), path)
    # without the allowlist, torch>=2.6 refuses MMEngine's own checkpoint
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path, weights_only=True)
    loaded = compat.safe_torch_load(path)
    assert torch.equal(loaded['state_dict']['w'], torch.arange(4.0))
    assert loaded['message_hub']['log_scalars']['train/loss'].mean() == pytest.approx(0.375)
    assert loaded['buffer'].statistics('max') == 2.0
    assert loaded['meta']['seed'] == 3


def test_mmengine_load_checkpoint_goes_through_safe_loader(tmp_path):
    from mmengine.runner import load_checkpoint
    model = torch.nn.Linear(2, 2)
    path = tmp_path / 'model.pth'
    checkpoint = _mmengine_like_checkpoint()
    checkpoint['state_dict'] = {k: v + 1 for k, v in model.state_dict().items()}
    torch.save(checkpoint, path)
    load_checkpoint(model, str(path))
    assert torch.equal(model.weight, checkpoint['state_dict']['weight'])


class _RunsCode:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


def test_checkpoint_that_would_run_code_is_refused(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'payload': _RunsCode(marker)}, path)
    with pytest.raises(compat.UnsafeCheckpointError, match=str(path)):
        compat.safe_torch_load(path)
    assert not marker.exists()


class _GetattrEscape:
    def __reduce__(self):
        from mmengine.logging import HistoryBuffer
        return (getattr, (HistoryBuffer, '__init__'))


def test_getattr_is_allowed_only_for_history_buffer_methods(tmp_path):
    path = tmp_path / 'escape.pth'
    torch.save({'x': _GetattrEscape()}, path)
    with pytest.raises(compat.UnsafeCheckpointError):
        compat.safe_torch_load(path)


def test_truncated_and_empty_checkpoints_are_reported(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save(_mmengine_like_checkpoint(), good)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(compat.CorruptCheckpointError, match='truncated.pth'):
        compat.safe_torch_load(truncated)
    empty = tmp_path / 'empty.pth'
    empty.write_bytes(b'')
    with pytest.raises(compat.CorruptCheckpointError, match='empty'):
        compat.safe_torch_load(empty)
    with pytest.raises(FileNotFoundError):
        compat.safe_torch_load(tmp_path / 'missing.pth')


# ---------------------------------------------------------------- mmcv-lite
def test_mmcv_lite_ops_import_and_compiled_ops_raise():
    if not compat.APPLIED.get('mmcv_ops_placeholder'):
        pytest.skip('full mmcv is installed: the placeholder is inactive')
    import mmseg.models  # noqa: F401  (imports mmcv.ops eagerly)
    from mmcv.ops import nms, point_sample
    with pytest.raises(compat.MissingCompiledOpError, match='full mmcv'):
        nms(torch.rand(3, 4), torch.rand(3), 0.5)
    # pure-PyTorch ops still work: point_sample is grid_sample on [0, 1] coords
    feats, points = torch.rand(1, 2, 8, 8), torch.rand(1, 5, 2)
    expected = F.grid_sample(feats, points[:, :, None] * 2 - 1, align_corners=False)[..., 0]
    assert torch.allclose(point_sample(feats, points), expected)


def test_mmcv_placeholder_inactive_with_compiled_ops(tmp_path, monkeypatch):
    fake_mmcv = tmp_path / 'mmcv'
    fake_mmcv.mkdir()
    (fake_mmcv / '_ext.cpython-311-x86_64-linux-gnu.so').write_bytes(b'')
    monkeypatch.setattr(compat, '_mmcv_dir', lambda: str(fake_mmcv))
    assert compat._install_mmcv_ops_placeholder() is False


# ---------------------------------------------------------------- spconv
def test_spconv_cpu_ops_are_deterministic_with_several_threads():
    spconv = pytest.importorskip('spconv.pytorch')
    import spconv.pytorch.ops as ops
    assert all(getattr(getattr(ops, name), '_d3l_single_threaded', False)
               for name in compat.SPCONV_CPU_OPS if hasattr(ops, name))
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    cells = np.unique(rng.integers(0, 24, (3000, 3)), axis=0)
    indices = torch.tensor(np.concatenate([np.zeros((len(cells), 1)), cells], 1),
                           dtype=torch.int32)
    features = torch.rand(len(cells), 16)
    net = spconv.SparseSequential(
        spconv.SubMConv3d(16, 32, 3, indice_key='a'), torch.nn.ReLU(),
        spconv.SparseConv3d(32, 32, 2, stride=2, indice_key='down'), torch.nn.ReLU(),
        spconv.SparseInverseConv3d(32, 16, 2, indice_key='down'))
    threads = torch.get_num_threads()
    torch.set_num_threads(2)  # the racing case (spconv 2.3.8 unpatched: diffs ~0.05)
    try:
        outs = []
        for _ in range(4):
            out = net(spconv.SparseConvTensor(features, indices, [24, 24, 24], 1)).features
            outs.append(out.detach())
    finally:
        torch.set_num_threads(threads)
    for out in outs[1:]:
        assert torch.equal(out, outs[0])


def test_spconv_forward_backward_on_cpu():
    spconv = pytest.importorskip('spconv.pytorch')
    if torch.cuda.is_available():
        pytest.skip('CUDA present: the CPU stream patch is inactive')
    import spconv.pytorch.ops as ops
    assert ops.get_current_stream() == 0
    indices = torch.tensor([[0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 1, 1]], dtype=torch.int32)
    features = torch.rand(3, 2, requires_grad=True)
    tensor = spconv.SparseConvTensor(features, indices, [4, 4, 4], 1)
    conv = spconv.SubMConv3d(2, 3, 3, indice_key='a')
    out = conv(tensor)
    out.features.sum().backward()
    assert out.features.shape == (3, 3)
    assert features.grad is not None and conv.weight.grad is not None


# ---------------------------------------------------------------- ocnn
def test_ocnn_imports_without_torchvision():
    ocnn = pytest.importorskip('ocnn')
    assert hasattr(ocnn.models, 'UNet')
    if compat.APPLIED.get('ocnn_without_torchvision'):
        with pytest.raises(ImportError, match='torchvision'):
            ocnn.models.Image2Shape()


# ---------------------------------------------------------------- distributed
def test_mmengine_init_dist_does_not_need_cuda():
    if torch.cuda.is_available():
        pytest.skip('CUDA present: mmengine is left alone')
    from mmengine.dist import utils
    assert getattr(utils._init_dist_pytorch, '_d3l_patched', False)


# ---------------------------------------------------------------- mmdet3d + spconv
def test_plain_spconv_state_dict_loads_after_mmdet3d_import():
    spconv = pytest.importorskip('spconv.pytorch')
    pytest.importorskip('mmdet3d')
    import mmdet3d.models  # noqa: F401  (installs mmdet3d's spconv loader override)
    from spconv.pytorch.modules import SparseModule
    assert getattr(SparseModule._load_from_state_dict, '_d3l_patched', False)

    conv = spconv.SubMConv3d(4, 6, 3, indice_key='k')
    current = {k: torch.rand_like(v) for k, v in conv.state_dict().items()}  # no metadata
    conv.load_state_dict(current)
    assert torch.equal(conv.weight, current['weight'])

    # mmdet3d's own conversion of the old mmcv layout (D, H, W, in, out) still works
    old_layout = {'weight': current['weight'].permute(1, 2, 3, 4, 0).contiguous() + 1}
    if 'bias' in current:
        old_layout['bias'] = current['bias']
    conv.load_state_dict(old_layout)
    assert torch.equal(conv.weight, current['weight'] + 1)
