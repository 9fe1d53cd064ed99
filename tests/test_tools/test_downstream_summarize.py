"""tools/summarize.py: the paper's table layout from work dirs."""
import json
import os.path as osp
import statistics
import sys

import pytest

sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                            'tools'))
from summarize import main, parse_config_name  # noqa: E402


def _run(tmp_path, folder, config_name, metrics, how='run.json'):
    path = tmp_path / folder
    path.mkdir(parents=True)
    if how == 'run.json':
        (path / 'run.json').write_text(json.dumps({'config_name': config_name}))
        (path / 'metrics.json').write_text(json.dumps(metrics))
    else:  # a training work dir: dumped config + MMEngine json log lines
        (path / f'{config_name}.py').write_text('')
        log = path / '20240101_000000' / 'vis_data'
        log.mkdir(parents=True)
        lines = [{'lr': 0.1, 'loss': 1.0, 'step': 1}, {**metrics, 'step': 1},
                 {'lr': 0.05, 'step': 2}, {k: v + 1 for k, v in metrics.items()}]
        (log / 'scalars.json').write_text('\n'.join(json.dumps(x) for x in lines))
    return str(path)


def test_parse_config_name():
    info = parse_config_name('meanteacher_dpt-ade20k_scannet_ocnn_la200')
    assert (info['method'], info['dataset'], info['backbone'], info['setting']) == \
        ('meanteacher (dpt-ade20k)', 'scannet', 'ocnn', 'la200')
    assert parse_config_name('classifier_scratch_modelnet40_spconv_5pct')['setting'] == '5pct'
    assert parse_config_name('segmentor_scratch_scannet_ocnn')['setting'] == 'full'


def test_table_layout(tmp_path, capsys):
    dirs = [_run(tmp_path, f'seed{i}', 'segmentor_dpt-ade20k_scannet_ocnn_la20', {'mIoU': v})
            for i, v in enumerate((50.0, 52.0, 57.0))]
    dirs.append(_run(tmp_path, 'scratch50', 'segmentor_scratch_scannet_ocnn_la50',
                     {'mIoU': 41.26}, how='log'))
    dirs.append(_run(tmp_path, 'parts', 'segmentor_scratch_shapenet-part_ocnn_5pct',
                     {'ins_mIoU': 70.0, 'cat_mIoU': 60.0}))
    dirs.append(_run(tmp_path, 'broken', 'segmentor_scratch_scannet_ocnn_la20', {'aAcc': 1.0}))
    out = tmp_path / 'table.md'
    text = main([*dirs, '--out', str(out)])
    assert out.read_text() == text
    std = statistics.stdev([50.0, 52.0, 57.0])
    assert '| method | 20 pts | 50 pts |' in text
    assert f'| segmentor (dpt-ade20k), ocnn | 53.0 ± {std:.1f} (3) | – |' in text
    assert '| segmentor (scratch), ocnn | – | 42.3 |' in text  # the last logged evaluation
    assert '### shapenet-part (ins_mIoU)' in text and '| 70.0 |' in text
    assert "broken (no 'mIoU'" in capsys.readouterr().err
    with pytest.raises(FileNotFoundError):
        main([str(tmp_path / 'nowhere')])
