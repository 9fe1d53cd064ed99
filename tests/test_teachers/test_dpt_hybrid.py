"""isl-org DPT-Hybrid -> transformers conversion: a small checkpoint in the
ORIGINAL key layout (isl-org DPTSegmentationModel on timm's
vit_base_resnet50_384) with random weights, a reference forward written from
isl-org / timm's definitions, and the converted model compared to it."""
import json
import math
import os
import os.path as osp

import numpy as np
import pytest
import torch
import torch.nn.functional as F

transformers = pytest.importorskip('transformers', reason='transformers is not installed')

from d3l.teachers import HFTeacher, TeacherCheckpointError  # noqa: E402
from d3l.teachers.dpt_hybrid import (  # noqa: E402
    convert_isl_dpt_hybrid,
    dpt_hybrid_config,
    load_isl_state_dict,
)
from d3l.teachers.hf_teacher import dpt_resize_size  # noqa: E402

#: small sizes of the same architecture (ViT-B: 768 / 12 heads / 12 blocks, hooks 8 and 11;
#: ResNetV2 stages (3, 4, 9) of 256 / 512 / 1024, GroupNorm 32; features 256 ... 768)
STEM, WIDTHS, DEPTHS, GROUPS = 16, (32, 64, 96), (1, 2, 1), 4
HIDDEN, HEADS, LAYERS, MLP, HOOKS, GRID = 32, 2, 4, 64, (2, 3), 4
FEATURES, FUSION, CLASSES = (32, 64, 48, 40), 16, 5
BN_KEYS = ('weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked')


def _isl_state(seed=0):
    """State dict named as isl-org's DPTSegmentationModel(backbone='vitb_rn50_384')."""
    gen = torch.Generator().manual_seed(seed)
    state = {}

    def put(name, *shape, scale=0.2, offset=0.0):
        state[name] = torch.randn(*shape, generator=gen) * scale + offset

    def norm(name, channels, bn=False):
        put(f'{name}.weight', channels, scale=0.1, offset=1.0)
        put(f'{name}.bias', channels, scale=0.1)
        if bn:
            put(f'{name}.running_mean', channels, scale=0.1)
            state[f'{name}.running_var'] = torch.rand(channels, generator=gen) + 0.5
            state[f'{name}.num_batches_tracked'] = torch.tensor(7)

    bb = 'pretrained.model.patch_embed.backbone.'
    put(bb + 'stem.conv.weight', STEM, 3, 7, 7)
    norm(bb + 'stem.norm', STEM)
    in_ch = STEM
    for i, (width, depth) in enumerate(zip(WIDTHS, DEPTHS)):
        mid = width // 4
        for j in range(depth):
            block = f'{bb}stages.{i}.blocks.{j}.'
            if j == 0:
                put(block + 'downsample.conv.weight', width, in_ch, 1, 1)
                norm(block + 'downsample.norm', width)
            put(block + 'conv1.weight', mid, in_ch if j == 0 else width, 1, 1)
            norm(block + 'norm1', mid)
            put(block + 'conv2.weight', mid, mid, 3, 3)
            norm(block + 'norm2', mid)
            put(block + 'conv3.weight', width, mid, 1, 1)
            norm(block + 'norm3', width)
        in_ch = width
    vit = 'pretrained.model.'
    put(vit + 'patch_embed.proj.weight', HIDDEN, WIDTHS[-1], 1, 1)
    put(vit + 'patch_embed.proj.bias', HIDDEN)
    put(vit + 'cls_token', 1, 1, HIDDEN)
    put(vit + 'pos_embed', 1, GRID * GRID + 1, HIDDEN)
    for k in range(LAYERS):
        block = f'{vit}blocks.{k}.'
        norm(block + 'norm1', HIDDEN)
        put(block + 'attn.qkv.weight', 3 * HIDDEN, HIDDEN)
        put(block + 'attn.qkv.bias', 3 * HIDDEN)
        put(block + 'attn.proj.weight', HIDDEN, HIDDEN)
        put(block + 'attn.proj.bias', HIDDEN)
        norm(block + 'norm2', HIDDEN)
        put(block + 'mlp.fc1.weight', MLP, HIDDEN)
        put(block + 'mlp.fc1.bias', MLP)
        put(block + 'mlp.fc2.weight', HIDDEN, MLP)
        put(block + 'mlp.fc2.bias', HIDDEN)
    norm(vit + 'norm', HIDDEN)
    put(vit + 'head.weight', 7, HIDDEN)  # timm's ImageNet classifier, unused by DPT
    put(vit + 'head.bias', 7)
    for n in (3, 4):
        post = f'pretrained.act_postprocess{n}.'
        put(post + '0.project.0.weight', HIDDEN, 2 * HIDDEN)
        put(post + '0.project.0.bias', HIDDEN)
        put(post + '3.weight', FEATURES[n - 1], HIDDEN, 1, 1)
        put(post + '3.bias', FEATURES[n - 1])
    put('pretrained.act_postprocess4.4.weight', FEATURES[3], FEATURES[3], 3, 3)
    put('pretrained.act_postprocess4.4.bias', FEATURES[3])
    for n in range(1, 5):
        put(f'scratch.layer{n}_rn.weight', FUSION, FEATURES[n - 1], 3, 3)
        ref = f'scratch.refinenet{n}.'
        put(ref + 'out_conv.weight', FUSION, FUSION, 1, 1)
        put(ref + 'out_conv.bias', FUSION)
        for unit in (1, 2):
            for c in (1, 2):
                put(f'{ref}resConfUnit{unit}.conv{c}.weight', FUSION, FUSION, 3, 3)
                norm(f'{ref}resConfUnit{unit}.bn{c}', FUSION, bn=True)
    for head in ('scratch.output_conv', 'auxlayer'):
        put(f'{head}.0.weight', FUSION, FUSION, 3, 3)
        norm(f'{head}.1', FUSION, bn=True)
        put(f'{head}.4.weight', CLASSES, FUSION, 1, 1)
        put(f'{head}.4.bias', CLASSES)
    return state


# ---------------------------------------------------------------- reference forward
def _pad_same(x, kernel, stride, value=0.0):
    pads = [max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
            for size in x.shape[-2:]]
    return F.pad(x, [pads[1] // 2, pads[1] - pads[1] // 2, pads[0] // 2, pads[0] - pads[0] // 2],
                 value=value)


def _std_conv(x, weight, stride=1):
    """timm's StdConv2dSame (eps 1e-8 as in its ViT-hybrid ResNetV2)."""
    mean = weight.mean((1, 2, 3), keepdim=True)
    var = weight.var((1, 2, 3), unbiased=False, keepdim=True)
    weight = (weight - mean) / torch.sqrt(var + 1e-8)
    return F.conv2d(_pad_same(x, weight.shape[-1], stride), weight, stride=stride)


def _gn(x, s, name, act=True):
    x = F.group_norm(x, GROUPS, s[f'{name}.weight'], s[f'{name}.bias'], eps=1e-5)
    return F.relu(x) if act else x


def _bn(x, s, name):
    return F.batch_norm(x, s[f'{name}.running_mean'], s[f'{name}.running_var'],
                        s[f'{name}.weight'], s[f'{name}.bias'], training=False, eps=1e-5)


def _resnet(x, s):
    bb = 'pretrained.model.patch_embed.backbone.'
    x = _gn(_std_conv(x, s[bb + 'stem.conv.weight'], 2), s, bb + 'stem.norm')
    x = F.max_pool2d(_pad_same(x, 3, 2, float('-inf')), 3, 2)
    stages = []
    for i, depth in enumerate(DEPTHS):
        for j in range(depth):
            b = f'{bb}stages.{i}.blocks.{j}.'
            stride = 2 if i > 0 and j == 0 else 1
            shortcut = x
            if j == 0:
                shortcut = _gn(_std_conv(x, s[b + 'downsample.conv.weight'], stride), s,
                               b + 'downsample.norm', act=False)
            y = _gn(_std_conv(x, s[b + 'conv1.weight']), s, b + 'norm1')
            y = _gn(_std_conv(y, s[b + 'conv2.weight'], stride), s, b + 'norm2')
            y = _gn(_std_conv(y, s[b + 'conv3.weight']), s, b + 'norm3', act=False)
            x = F.relu(y + shortcut)
        stages.append(x)
    return stages


def _vit_block(x, s, b):
    batch, num, dim = x.shape
    h = F.layer_norm(x, (dim,), s[b + 'norm1.weight'], s[b + 'norm1.bias'], 1e-6)
    qkv = F.linear(h, s[b + 'attn.qkv.weight'], s[b + 'attn.qkv.bias'])
    q, k, v = qkv.reshape(batch, num, 3, HEADS, dim // HEADS).permute(2, 0, 3, 1, 4)
    attn = torch.softmax(q @ k.transpose(-2, -1) * (dim // HEADS) ** -0.5, -1)
    h = (attn @ v).transpose(1, 2).reshape(batch, num, dim)
    x = x + F.linear(h, s[b + 'attn.proj.weight'], s[b + 'attn.proj.bias'])
    h = F.layer_norm(x, (dim,), s[b + 'norm2.weight'], s[b + 'norm2.bias'], 1e-6)
    h = F.gelu(F.linear(h, s[b + 'mlp.fc1.weight'], s[b + 'mlp.fc1.bias']))
    return x + F.linear(h, s[b + 'mlp.fc2.weight'], s[b + 'mlp.fc2.bias'])


def _vit_hooks(stage, s, grid_hw):
    vit = 'pretrained.model.'
    tokens = F.conv2d(stage, s[vit + 'patch_embed.proj.weight'], s[vit + 'patch_embed.proj.bias'])
    tokens = tokens.flatten(2).transpose(1, 2)
    pos = s[vit + 'pos_embed']
    old = int(math.sqrt(pos.shape[1] - 1))
    grid = pos[0, 1:].reshape(1, old, old, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid, size=grid_hw, mode='bilinear')
    pos = torch.cat([pos[:, :1], grid.permute(0, 2, 3, 1).reshape(1, -1, pos.shape[-1])], 1)
    x = torch.cat([s[vit + 'cls_token'].expand(len(tokens), -1, -1), tokens], 1) + pos
    hooked = {}
    for k in range(LAYERS):
        x = _vit_block(x, s, f'{vit}blocks.{k}.')
        hooked[k] = x
    return [hooked[h] for h in HOOKS]


def _reassemble(tokens, s, n, grid_hw):
    post = f'pretrained.act_postprocess{n}.'
    body = tokens[:, 1:]
    readout = tokens[:, :1].expand_as(body)
    body = F.gelu(F.linear(torch.cat([body, readout], -1), s[post + '0.project.0.weight'],
                           s[post + '0.project.0.bias']))
    body = body.transpose(1, 2).reshape(len(tokens), -1, *grid_hw)
    body = F.conv2d(body, s[post + '3.weight'], s[post + '3.bias'])
    if n == 4:
        body = F.conv2d(body, s[post + '4.weight'], s[post + '4.bias'], stride=2, padding=1)
    return body


def _rcu(x, s, name):
    out = F.conv2d(F.relu(x), s[f'{name}.conv1.weight'], padding=1)
    out = F.conv2d(F.relu(_bn(out, s, f'{name}.bn1')), s[f'{name}.conv2.weight'], padding=1)
    return _bn(out, s, f'{name}.bn2') + x


def _fuse(s, n, x, skip=None):
    ref = f'scratch.refinenet{n}.'
    if skip is not None:
        x = x + _rcu(skip, s, ref + 'resConfUnit1')
    x = _rcu(x, s, ref + 'resConfUnit2')
    x = F.interpolate(x, scale_factor=2, mode='bilinear', align_corners=True)
    return F.conv2d(x, s[ref + 'out_conv.weight'], s[ref + 'out_conv.bias'])


@torch.no_grad()
def isl_forward(s, x):
    """isl-org DPT.forward + DPTSegmentationModel's head, in eval mode."""
    grid_hw = (x.shape[-2] // 16, x.shape[-1] // 16)
    stages = _resnet(x, s)
    layer3, layer4 = _vit_hooks(stages[-1], s, grid_hw)
    layers = [stages[0], stages[1], _reassemble(layer3, s, 3, grid_hw),
              _reassemble(layer4, s, 4, grid_hw)]
    rn = [F.conv2d(f, s[f'scratch.layer{i + 1}_rn.weight'], padding=1)
          for i, f in enumerate(layers)]
    path = _fuse(s, 4, rn[3])
    path = _fuse(s, 3, path, rn[2])
    path = _fuse(s, 2, path, rn[1])
    path = _fuse(s, 1, path, rn[0])
    out = F.conv2d(path, s['scratch.output_conv.0.weight'], padding=1)
    out = F.relu(_bn(out, s, 'scratch.output_conv.1'))
    out = F.conv2d(out, s['scratch.output_conv.4.weight'], s['scratch.output_conv.4.bias'])
    return F.interpolate(out, scale_factor=2, mode='bilinear', align_corners=True)


# ---------------------------------------------------------------- tests
def _hf_model(state, converted=None):
    config = dpt_hybrid_config(state, num_attention_heads=HEADS, num_groups=GROUPS,
                               vit_hooks=HOOKS, class_names=[f'c{i}' for i in range(CLASSES)])
    model = transformers.DPTForSemanticSegmentation(config).eval()
    result = model.load_state_dict(converted or convert_isl_dpt_hybrid(state), strict=False)
    return model, result


@pytest.fixture(scope='module')
def converted_dir(tmp_path_factory):
    import sys
    sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(__file__))), 'tools'))
    from convert_dpt_hybrid import main as convert  # the tool, in-process
    tmp = tmp_path_factory.mktemp('dpt_hybrid')
    state = _isl_state()
    torch.save(state, tmp / 'dpt_hybrid-tiny.pt')
    convert([str(tmp / 'dpt_hybrid-tiny.pt'), str(tmp / 'hf'), '--num-attention-heads',
             str(HEADS), '--num-groups', str(GROUPS), '--vit-hooks', *map(str, HOOKS),
             '--class-names', *[f'c{i}' for i in range(CLASSES)]])
    return state, tmp


def test_every_key_maps_and_the_forward_matches_isl_org():
    state = _isl_state()
    converted = convert_isl_dpt_hybrid(state)
    model, result = _hf_model(state, converted)
    assert set(converted) == set(model.state_dict())  # every key mapped, every target filled
    assert not result.missing_keys and not result.unexpected_keys
    assert len(converted) == len(state) - 2 + 4 * LAYERS  # classifier out; qkv w, b -> 3 each
    # in float64 the two agree to rounding; float32 sums differ at ~1e-6 of the
    # logits' scale (random weights give logits in the hundreds)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1), dtype=torch.float64)
    reference = isl_forward(_double(state), x)
    with torch.no_grad():
        logits = model.double()(pixel_values=x).logits
    assert logits.shape == reference.shape == (1, CLASSES, 64, 64)
    assert reference.std() > 0.1
    torch.testing.assert_close(logits, reference, atol=1e-8 * reference.abs().max(), rtol=1e-7)


def _double(state):
    return {k: v.double() if v.is_floating_point() else v for k, v in state.items()}


@pytest.mark.parametrize('corrupt', ['fusion_order', 'qkv_order'])
def test_a_wrong_key_map_changes_the_output(corrupt):
    """The comparison above catches a mis-mapped key: two plausible mistakes."""
    state = _isl_state()
    converted = convert_isl_dpt_hybrid(state)
    wrong = dict(converted)
    if corrupt == 'fusion_order':  # refinenet n -> layers.(n - 1) instead of 4 - n
        for key, value in converted.items():
            for a, b in (('layers.0.', 'layers.3.'), ('layers.1.', 'layers.2.')):
                if key.startswith(f'neck.fusion_stage.{a}'):
                    wrong[key.replace(a, b)] = value
                    wrong[key.replace(a, b).replace(b, a)] = converted[key.replace(a, b)]
    else:
        for key in converted:
            if '.attention.attention.query.' in key:
                other = key.replace('.query.', '.key.')
                wrong[key], wrong[other] = converted[other], converted[key]
    model, _ = _hf_model(state, wrong)
    x = torch.randn(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        reference = isl_forward(state, x)
        diff = (model(pixel_values=x).logits - reference).abs().max()
    assert diff > 1e-2 * reference.abs().max()  # far above the float32 rounding (1e-5)


def test_unknown_or_unreadable_checkpoints_are_errors(tmp_path):
    state = _isl_state()
    state['pretrained.model.blocks.0.attn.extra.weight'] = torch.zeros(1)
    with pytest.raises(TeacherCheckpointError, match='attn.extra'):
        convert_isl_dpt_hybrid(state, 'mine.pt')
    bad = tmp_path / 'bad.pt'
    bad.write_bytes(b'not a checkpoint')
    with pytest.raises(TeacherCheckpointError, match='bad.pt'):
        load_isl_state_dict(str(bad))
    with pytest.raises(TeacherCheckpointError, match='does not exist'):
        load_isl_state_dict(str(tmp_path / 'none.pt'))


def test_converted_directory_is_an_hf_teacher_with_isl_preprocessing(converted_dir):
    state, tmp = converted_dir
    out = tmp / 'hf'
    with open(out / 'conversion.json') as f:
        report = json.load(f)
    assert report['left_out'] == ['pretrained.model.head.bias', 'pretrained.model.head.weight']
    assert report['source_keys'] == len(state)
    assert not [f for f in os.listdir(tmp) if '.tmp' in f]  # no temporary left beside out
    teacher = HFTeacher(str(out), device='cpu')
    assert teacher.class_names == [f'c{i}' for i in range(CLASSES)]
    assert teacher.resample == 'bicubic'
    # a 480 x 640 photo stays as it is, a 512 x 1024 panorama becomes 480 x 960 (isl-org)
    assert teacher.input_size(480, 640) == (480, 640)
    assert teacher.input_size(512, 1024) == (480, 960)
    # a 64 x 96 image is fed as it is (multiples of 32): compare with the reference
    img = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 3, 64, 96))).float()
    teacher.size = ('dpt', 64, 64, 32)
    with torch.no_grad():
        logits = teacher.logits(img)
    expected = isl_forward(state, (img / 255 - 0.5) / 0.5)
    assert logits.shape == expected.shape == (1, CLASSES, 64, 96)
    assert (logits - expected).abs().max() < 1e-5 * expected.abs().max()
    assert teacher(img).shape == (1, CLASSES, 64, 96)
    # the whole-panorama mode: an equirectangular frame goes through as one image
    pano = dict(img=np.random.default_rng(3).integers(0, 256, (64, 128, 3), dtype=np.uint8),
                projection='equirect')
    assert teacher.panorama is None
    assert teacher.label_frame(pano, stride=2).shape == (CLASSES, 32, 64)


@pytest.mark.parametrize('size', [(40, 56), (512, 1024), (480, 640), (968, 1296), (97, 31)])
def test_dpt_resize_matches_transformers_image_processor(size):
    resize = pytest.importorskip('transformers.models.dpt.image_processing_pil_dpt')
    expected = resize.get_resize_output_image_size(np.zeros((3, *size), np.uint8), (480, 480),
                                                   keep_aspect_ratio=True, multiple=32)
    assert dpt_resize_size(*size, 480, 480, 32) == (expected.height, expected.width)


def test_plain_dpt_goes_through_the_same_path(tmp_path):
    """HFTeacher's DPT forward equals transformers' on a square input (ViT DPT,
    not hybrid) and also takes non-square ones, which transformers' does not."""
    config = transformers.DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2,
                                    intermediate_size=64, image_size=64, patch_size=16,
                                    backbone_out_indices=[0, 1, 2, 3], fusion_hidden_size=16,
                                    neck_hidden_sizes=[8, 16, 32, 32], num_labels=3)
    torch.manual_seed(0)
    transformers.DPTForSemanticSegmentation(config).eval().save_pretrained(tmp_path)
    teacher = HFTeacher(str(tmp_path), size=None, device='cpu')
    img = torch.rand(1, 3, 64, 64) * 255
    with torch.no_grad():
        expected = teacher.model(pixel_values=(img - teacher.mean) / teacher.std).logits
        torch.testing.assert_close(teacher.logits(img), expected)
        assert teacher.logits(torch.rand(1, 3, 64, 96) * 255).shape == (1, 3, 64, 96)


def test_teacher_config_builds_the_converted_teacher(converted_dir):
    from mmengine.config import Config

    from d3l.registry import MODELS
    _, tmp = converted_dir
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg = Config.fromfile(osp.join(repo, 'configs/_base_/teachers/dpt-hybrid_ade20k.py'))
    assert cfg.num_teacher_classes == 150 and cfg.teacher.panorama == 'whole'
    teacher = MODELS.build(dict(cfg.teacher, model_dir=str(tmp / 'hf'), device='cpu'))
    assert isinstance(teacher, HFTeacher) and teacher.panorama_config() == {'mode': 'whole'}
    assert teacher.input_size(512, 1024) == (480, 960)


def test_ade20k_names_come_from_mmseg():
    from d3l.teachers.dpt_hybrid import ade20k_class_names
    pytest.importorskip('mmseg', reason='mmsegmentation is not installed')
    names = ade20k_class_names(150)
    assert len(names) == 150 and names[:4] == ['wall', 'building', 'sky', 'floor']
    assert ade20k_class_names(5) == [f'class_{i}' for i in range(5)]
