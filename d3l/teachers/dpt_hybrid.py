"""The authors' teacher, isl-org DPT-Hybrid on ADE20K, as a Hugging Face model.

The paper labels its RGB-D frames with isl-org/DPT's ``DPTSegmentationModel``
on the ``vitb_rn50_384`` backbone (timm's ``vit_base_resnet50_384``: three
ResNetV2 stages with weight-standardised convolutions and GroupNorm, then a
ViT-B/16 on their stride-16 map) trained on ADE20K,
``dpt_hybrid-ade20k-53898607.pt``. :func:`convert_isl_dpt_hybrid` maps that
state dict onto ``transformers``' ``DPTForSemanticSegmentation`` with
``is_hybrid=True`` (a BiT backbone), which :class:`~d3l.teachers.HFTeacher`
loads. Every source key must map and every target key must be filled; the
classifier of timm's ImageNet ViT (``pretrained.model.head``), which DPT
never uses, is the only key left out.

Preprocessing is isl-org's ``run_segmentation.py``: keep the aspect ratio,
scale as little as possible so that the image covers 480 x 480, round each
side to a multiple of 32, bicubic; mean = std = 0.5 (a 1024 x 512 panorama
becomes 960 x 480). The 150 outputs are ADE20K's classes 1..150 in the
official order (isl-org adds 1 to the argmax), the same as mmseg's.
"""
from __future__ import annotations

import ast
import hashlib
import os.path as osp
import re
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from d3l.utils import fileio

from .mmseg_teacher import TeacherCheckpointError

#: timm's ImageNet classifier inside DPT's ViT: unused by DPT, not converted
UNUSED_PREFIXES = ('pretrained.model.head.',)
#: isl-org run_segmentation.py: net_w = net_h = 480, ensure_multiple_of=32, minimal, cubic
ISL_PREPROCESSOR = {
    'do_resize': True, 'size': {'height': 480, 'width': 480}, 'keep_aspect_ratio': True,
    'ensure_multiple_of': 32, 'resample': 3, 'do_rescale': True, 'rescale_factor': 1 / 255,
    'do_normalize': True, 'image_mean': [0.5, 0.5, 0.5], 'image_std': [0.5, 0.5, 0.5],
    'image_processor_type': 'DPTImageProcessor'}

_VIT = 'pretrained.model.'
_BIT = 'dpt.embeddings.backbone.bit.'
_BN = r'(weight|bias|running_mean|running_var|num_batches_tracked)'
_WB = r'(weight|bias)'


def _fusion(m: re.Match) -> str:
    # isl-org's refinenet4 fuses the coarsest map first; transformers' layers.0 does
    return f'neck.fusion_stage.layers.{4 - int(m[1])}'


#: (pattern on the isl-org key, target key or a function of the match), tried in order
KEY_RULES: List[Tuple[str, object]] = [
    (_VIT + r'cls_token', 'dpt.embeddings.cls_token'),
    (_VIT + r'pos_embed', 'dpt.embeddings.position_embeddings'),
    (_VIT + r'patch_embed\.proj\.' + _WB, r'dpt.embeddings.projection.\1'),
    (_VIT + r'patch_embed\.backbone\.stem\.conv\.weight', _BIT + 'embedder.convolution.weight'),
    (_VIT + r'patch_embed\.backbone\.stem\.norm\.' + _WB, _BIT + r'embedder.norm.\1'),
    (_VIT + r'patch_embed\.backbone\.stages\.(\d+)\.blocks\.(\d+)\.'
     r'(conv[123]|norm[123]|downsample\.conv|downsample\.norm)\.' + _WB,
     _BIT + r'encoder.stages.\1.layers.\2.\3.\4'),
    (_VIT + r'blocks\.(\d+)\.norm1\.' + _WB, r'dpt.encoder.layer.\1.layernorm_before.\2'),
    (_VIT + r'blocks\.(\d+)\.norm2\.' + _WB, r'dpt.encoder.layer.\1.layernorm_after.\2'),
    (_VIT + r'blocks\.(\d+)\.attn\.proj\.' + _WB,
     r'dpt.encoder.layer.\1.attention.output.dense.\2'),
    (_VIT + r'blocks\.(\d+)\.mlp\.fc1\.' + _WB, r'dpt.encoder.layer.\1.intermediate.dense.\2'),
    (_VIT + r'blocks\.(\d+)\.mlp\.fc2\.' + _WB, r'dpt.encoder.layer.\1.output.dense.\2'),
    (_VIT + r'norm\.' + _WB, r'dpt.layernorm.\1'),
    (r'pretrained\.act_postprocess([1-4])\.0\.project\.0\.' + _WB,
     lambda m: f'neck.reassemble_stage.readout_projects.{int(m[1]) - 1}.0.{m[2]}'),
    (r'pretrained\.act_postprocess([1-4])\.3\.' + _WB,
     lambda m: f'neck.reassemble_stage.layers.{int(m[1]) - 1}.projection.{m[2]}'),
    (r'pretrained\.act_postprocess([1-4])\.4\.' + _WB,
     lambda m: f'neck.reassemble_stage.layers.{int(m[1]) - 1}.resize.{m[2]}'),
    (r'scratch\.layer([1-4])_rn\.weight', lambda m: f'neck.convs.{int(m[1]) - 1}.weight'),
    (r'scratch\.refinenet([1-4])\.out_conv\.' + _WB,
     lambda m: f'{_fusion(m)}.projection.{m[2]}'),
    (r'scratch\.refinenet([1-4])\.resConfUnit([12])\.conv([12])\.' + _WB,
     lambda m: f'{_fusion(m)}.residual_layer{m[2]}.convolution{m[3]}.{m[4]}'),
    (r'scratch\.refinenet([1-4])\.resConfUnit([12])\.bn([12])\.' + _BN,
     lambda m: f'{_fusion(m)}.residual_layer{m[2]}.batch_norm{m[3]}.{m[4]}'),
    (r'scratch\.output_conv\.([014])\.' + _BN, r'head.head.\1.\2'),
    (r'auxlayer\.([014])\.' + _BN, r'auxiliary_head.head.\1.\2'),
]
_COMPILED = [(re.compile(pattern + '$'), target) for pattern, target in KEY_RULES]
_QKV = re.compile(re.escape(_VIT) + r'blocks\.(\d+)\.attn\.qkv\.' + _WB + '$')


def map_key(key: str) -> Optional[str]:
    """The ``transformers`` key of one isl-org key (None: no rule; the fused
    ``attn.qkv`` is split by :func:`convert_isl_dpt_hybrid`)."""
    for pattern, target in _COMPILED:
        match = pattern.match(key)
        if match:
            return target(match) if callable(target) else match.expand(target)
    return None


def convert_isl_dpt_hybrid(state_dict: Dict[str, Tensor], source: str = 'checkpoint'
                           ) -> Dict[str, Tensor]:
    """isl-org DPT-Hybrid state dict -> ``DPTForSemanticSegmentation`` one.

    timm's fused ``qkv`` projection is split into query / key / value (its
    output rows are ordered q, k, v). A key no rule knows is an error
    naming ``source`` and the keys (a checkpoint of another layout)."""
    out, unknown = {}, []
    for key, value in state_dict.items():
        if key.startswith(UNUSED_PREFIXES):
            continue
        qkv = _QKV.match(key)
        if qkv:
            prefix = f'dpt.encoder.layer.{qkv[1]}.attention.attention'
            for name, part in zip(('query', 'key', 'value'), value.chunk(3, dim=0)):
                out[f'{prefix}.{name}.{qkv[2]}'] = part.clone()
            continue
        target = map_key(key)
        if target is None:
            unknown.append(key)
        else:
            out[target] = value
    if unknown:
        raise TeacherCheckpointError(
            f'{source}: {len(unknown)} key(s) are not in the layout of isl-org DPT-Hybrid '
            f'(DPTSegmentationModel, vitb_rn50_384), e.g. {unknown[:4]}')
    return out


def _count(state: Dict[str, Tensor], pattern: str) -> int:
    regex = re.compile(pattern)
    return len({regex.match(k)[1] for k in state if regex.match(k)})


def dpt_hybrid_config(state_dict: Dict[str, Tensor], num_attention_heads: int = 12,
                      num_groups: int = 32, patch_size: int = 16,
                      vit_hooks: Sequence[int] = (8, 11),
                      class_names: Optional[Sequence[str]] = None):
    """A ``DPTConfig`` (hybrid) whose sizes are read from an isl-org state
    dict; what shapes cannot tell (heads, GroupNorm groups, patch size, the
    two ViT blocks DPT taps: 8 and 11 of ViT-B) are arguments."""
    import transformers
    bb = _VIT + 'patch_embed.backbone.'
    depths = [_count(state_dict, re.escape(bb) + rf'stages\.{i}\.blocks\.(\d+)\.')
              for i in range(_count(state_dict, re.escape(bb) + r'stages\.(\d+)\.'))]
    widths = [state_dict[f'{bb}stages.{i}.blocks.0.conv3.weight'].shape[0]
              for i in range(len(depths))]
    hidden = state_dict[_VIT + 'cls_token'].shape[-1]
    grid = int(round((state_dict[_VIT + 'pos_embed'].shape[1] - 1) ** 0.5))
    num_layers = _count(state_dict, re.escape(_VIT) + r'blocks\.(\d+)\.')
    num_labels = state_dict['scratch.output_conv.4.weight'].shape[0]
    names = list(class_names) if class_names is not None else ade20k_class_names(num_labels)
    backbone = transformers.BitConfig(
        layer_type='bottleneck', global_padding='same', embedding_dynamic_padding=True,
        depths=depths, hidden_sizes=widths, num_groups=num_groups,
        embedding_size=state_dict[bb + 'stem.conv.weight'].shape[0],
        out_features=[f'stage{i + 1}' for i in range(len(depths))])
    return transformers.DPTConfig(
        is_hybrid=True, backbone_config=backbone, hidden_size=hidden,
        num_hidden_layers=num_layers, num_attention_heads=num_attention_heads,
        intermediate_size=state_dict[_VIT + 'blocks.0.mlp.fc1.weight'].shape[0],
        image_size=grid * patch_size, patch_size=patch_size, layer_norm_eps=1e-6,  # timm's
        backbone_featmap_shape=[1, widths[-1], grid, grid],
        backbone_out_indices=[0, 1, *vit_hooks], readout_type='project',
        neck_hidden_sizes=[state_dict[f'scratch.layer{i}_rn.weight'].shape[1]
                           for i in range(1, 5)],
        fusion_hidden_size=state_dict['scratch.layer1_rn.weight'].shape[0],
        use_batch_norm_in_fusion_residual=True, use_auxiliary_head='auxlayer.4.weight'
        in state_dict, num_labels=num_labels, id2label=dict(enumerate(names)),
        label2id={n: i for i, n in enumerate(names)})


def ade20k_class_names(num_classes: int = 150) -> List[str]:
    """ADE20K's 150 class names in the official order (mmseg's
    ``ADE20KDataset``, read from its source so that mmcv's compiled ops are
    not needed); ``class_i`` when unavailable or for another class count."""
    if num_classes == 150:
        try:
            import mmseg
            path = osp.join(osp.dirname(mmseg.__file__), 'datasets', 'ade.py')
            with open(path, encoding='utf-8') as f:
                tree = ast.parse(f.read())
            for node in ast.walk(tree):
                if isinstance(node, ast.Assign) and any(
                        getattr(t, 'id', None) == 'METAINFO' for t in node.targets):
                    classes = ast.literal_eval(node.value.keywords[0].value)
                    if len(classes) == 150:
                        return list(classes)
        except (ImportError, OSError, SyntaxError, ValueError, AttributeError, IndexError):
            pass
    return [f'class_{i}' for i in range(num_classes)]


def load_isl_state_dict(path: str) -> Dict[str, Tensor]:
    """Read an isl-org checkpoint (a state dict, or ``{'model': ...,
    'optimizer': ...}`` as their training saves) without running code."""
    if not osp.isfile(path):
        raise TeacherCheckpointError(f'DPT-Hybrid checkpoint {path} does not exist')
    try:
        data = torch.load(path, map_location='cpu', weights_only=True)
    except Exception as err:  # noqa: BLE001 - any unpickling failure names the file
        raise TeacherCheckpointError(f'cannot read DPT-Hybrid checkpoint {path}: '
                                     f'{str(err).splitlines()[0] if str(err) else err!r}') from None
    if isinstance(data, dict) and 'model' in data and 'optimizer' in data:
        data = data['model']
    if not isinstance(data, dict) or not all(isinstance(v, Tensor) for v in data.values()):
        raise TeacherCheckpointError(f'{path} does not hold a state dict of tensors')
    return data


def sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    return digest.hexdigest()


def convert_checkpoint(src: str, out_dir: str, class_names: Optional[Sequence[str]] = None,
                       log: Callable[[str], None] = print, **config_kwargs) -> str:
    """Convert an isl-org DPT-Hybrid checkpoint into a ``save_pretrained``
    directory for :class:`~d3l.teachers.HFTeacher` (weights, config with the
    class names, isl-org's preprocessing, ``conversion.json``). Written to a
    temporary folder and renamed, so an interrupted run leaves nothing
    half-written. Returns ``out_dir``."""
    import transformers
    state = load_isl_state_dict(src)
    converted = convert_isl_dpt_hybrid(state, src)
    config = dpt_hybrid_config(state, class_names=class_names, **config_kwargs)
    model = transformers.DPTForSemanticSegmentation(config)
    missing, unexpected = model.load_state_dict(converted, strict=False)
    if missing or unexpected:
        raise TeacherCheckpointError(
            f'{src}: the converted weights do not fill DPTForSemanticSegmentation: '
            f'{len(missing)} missing (e.g. {missing[:3]}), {len(unexpected)} unexpected '
            f'(e.g. {unexpected[:3]}); check num_attention_heads / vit_hooks')
    report = {'source': osp.abspath(src), 'source_sha256': sha256_of(src),
              'source_keys': len(state), 'converted_keys': len(converted),
              'left_out': sorted(k for k in state if k.startswith(UNUSED_PREFIXES)),
              'num_labels': config.num_labels, 'converter': 'd3l.teachers.dpt_hybrid'}
    with fileio.atomic_dir(out_dir) as tmp:
        model.eval().save_pretrained(tmp)
        fileio.write_json(osp.join(tmp, 'preprocessor_config.json'), ISL_PREPROCESSOR)
        fileio.write_json(osp.join(tmp, 'conversion.json'), report)
    log(f'converted {len(state)} isl-org keys into {len(converted)} transformers keys '
        f'({len(report["left_out"])} unused classifier keys left out) -> {out_dir}')
    return out_dir
