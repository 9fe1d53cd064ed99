"""tools/demo.py end to end on the tiny preset (world -> 2D teacher ->
pseudo-labels -> 3D pre-training -> fine-tuning scratch / pre-trained and the
full-labels reference -> report), its resume and its refusal of a folder made
with other settings."""
import json
import math
import os
import os.path as osp
import re

import numpy as np
import pytest

SETTINGS = ('la20', 'lr25')  # the tiny preset's LR setting: 25 % of 4 rooms
SEEDS = 2
TEACHER = 'zoo'  # the default: the 2D teacher shipped with d3l


@pytest.fixture(scope='module')
def demo(tmp_path_factory, request):
    from conftest import run_tool
    out = tmp_path_factory.mktemp('demo') / 'tiny'
    # ~4 min on 2 idle cores; 600 s ran out at a load average of 10-12 (shared machine)
    proc = run_tool('demo.py', '--out', out, '--preset', 'tiny', '--seeds', SEEDS,
                    '--teacher', TEACHER, timeout=1500)
    return out, proc


def _results(out):
    with open(out / 'results.json', encoding='utf-8') as f:
        return json.load(f)


def _job_result(out, name):
    with open(out / 'finetune' / name / 'result.json', encoding='utf-8') as f:
        return json.load(f)


def test_results_json_has_the_issue_schema(demo):
    out, _ = demo
    results = _results(out)
    assert 0.0 <= results['teacher_2d_miou'] <= 100.0
    teacher = results['teacher_2d']
    assert teacher['source'] == TEACHER and teacher['miou'] == results['teacher_2d_miou']
    assert 0.0 <= teacher['pixel_acc'] <= 100.0 and osp.isfile(teacher['checkpoint'])
    # the shipped teacher is only scored: the world holds its held-out photos, no training ones
    seg2d = out / 'world' / 'seg2d' / 'img_dir'
    assert len(list((seg2d / 'val').glob('*.png'))) == teacher['images']
    assert not (seg2d / 'train').exists()
    for init in ('scratch', 'pretrained'):
        assert set(results[init]) == set(SETTINGS)
        for setting in SETTINGS:
            per_seed = results['per_seed'][init][setting]
            assert len(per_seed) == SEEDS
            assert all(math.isfinite(v) and 0.0 <= v <= 100.0 for v in per_seed)
            # the headline number is the mean over seeds, std the sample spread
            assert results[init][setting] == pytest.approx(np.mean(per_seed), abs=0.01)
            assert results['std'][init][setting] == pytest.approx(
                np.std(per_seed, ddof=1), abs=0.01)
    for setting in SETTINGS:
        gain = np.subtract(results['per_seed']['pretrained'][setting],
                           results['per_seed']['scratch'][setting])
        assert results['gain'][setting]['mean'] == pytest.approx(gain.mean(), abs=0.02)
    # the full-labels reference: scratch on every point (one seed in the tiny preset)
    full = results['per_seed']['full']['full']
    assert len(full) == 1 and results['full'] == pytest.approx(full[0], abs=0.01)
    assert results['full_minus_scratch']['la20'] == pytest.approx(
        results['full'] - results['scratch']['la20'], abs=0.02)


def test_full_labels_run_trains_on_every_point(demo):
    out, _ = demo
    log = (out / 'finetune' / 'scratch_full_seed0' / 'job.log').read_text()
    config = log.split('Config:')[1] if 'Config:' in log else log
    config = config.replace(' ', '')
    assert 'la_file=None' in config
    assert 'lr_file=' not in config or 'lr_file=None' in config
    assert _job_result(out, 'scratch_full_seed0')['setting'] == 'full'


def test_per_class_iou_is_the_mean_of_the_runs(demo):
    out, _ = demo
    results = _results(out)
    iou = results['per_class_iou']
    from d3l.benchmark.world import CLASSES_3D
    runs = {('full', None): [_job_result(out, 'scratch_full_seed0')]}
    for init in ('scratch', 'pretrained'):
        for setting in SETTINGS:
            runs[init, setting] = [_job_result(out, f'{init}_{setting}_seed{s}')
                                   for s in range(SEEDS)]
    for (init, setting), jobs in runs.items():
        table = iou['full'] if init == 'full' else iou[init][setting]
        assert set(table) == set(CLASSES_3D)
        for name in CLASSES_3D:
            values = [j['iou'][name] for j in jobs if j['iou'][name] is not None]
            if values:
                assert table[name] == pytest.approx(np.mean(values), abs=0.01)
            else:
                assert table[name] is None


def test_label_counts_per_class(demo):
    out, _ = demo
    from d3l.benchmark.world import CLASSES_3D
    counts = _results(out)['label_counts']
    scannet = out / 'world' / 'scannet'
    train = (scannet / 'meta' / 'scannetv2_train.txt').read_text().split()
    for points in (20,):
        entry = counts[f'la{points}']
        labelled = [int((np.load(scannet / 'train' / s / 'segment20.npy') >= 0).sum())
                    for s in train]
        total = sum(min(points, n) for n in labelled)
        # every labelled point drawn is counted once, in expectation and per seed
        assert sum(entry['expected'].values()) == pytest.approx(total, abs=0.1 * len(CLASSES_3D))
        assert sum(entry['per_seed_mean'].values()) == pytest.approx(total, abs=0.1 * 20)
        assert entry['min_expected'] == min(entry['expected'].values())
    # validation rooms per class, recounted from the files
    val = (scannet / 'meta' / 'scannetv2_val.txt').read_text().split()
    for name in ('wall', 'floor', 'bed', 'sink'):
        k = CLASSES_3D.index(name)
        rooms = sum(bool((np.load(scannet / 'val' / s / 'segment20.npy') == k).any())
                    for s in val)
        assert counts['val_rooms'][name] == rooms


def test_each_run_scores_its_own_evaluation(demo):
    out, _ = demo
    results = _results(out)
    for init in ('scratch', 'pretrained'):
        for seed in range(SEEDS):
            job = out / 'finetune' / f'{init}_la20_seed{seed}'
            with open(job / 'eval' / 'metrics.json', encoding='utf-8') as f:
                metrics = json.load(f)
            assert results['per_seed'][init]['la20'][seed] == pytest.approx(
                metrics['mIoU'], abs=0.01)


def test_only_the_pretrained_runs_load_the_pretrained_backbone(demo):
    out, _ = demo
    def training_log(init):
        # the part before the final checkpoint (tools/test.py loads one too)
        log = (out / 'finetune' / f'{init}_la20_seed0' / 'job.log').read_text()
        assert 'Saving checkpoint' in log
        return log.split('Saving checkpoint')[0]

    scratch_log, pretrained_log = training_log('scratch'), training_log('pretrained')
    assert 'weight transfer' not in scratch_log
    # d3l's transfer report names what it loaded and how many tensors
    backbone = str(out / 'pretrain' / 'backbone.pth')
    assert re.search(r'weight transfer from .*: loaded [1-9]\d*', pretrained_log)
    assert backbone in pretrained_log


def test_report_files(demo):
    from plyfile import PlyData
    out, proc = demo
    markdown = (out / 'results.md').read_text(encoding='utf-8')
    assert '| Method | LA 20 pts | LR 25 % |' in markdown
    assert f'every label** of the 4 training rooms (same schedule): **{_results(out)["full"]:.1f}' \
        in markdown
    # the per-class table: one row per class, scratch / pre-trained / full columns
    assert '| Class | labels | val rooms | scratch LA 20 pts |' in markdown
    assert 'full labels |' in markdown and '| sink |' in markdown
    results = _results(out)
    assert f'{results["scratch"]["la20"]:.1f} ± {results["std"]["scratch"]["la20"]:.1f}' \
        in markdown
    import matplotlib.image
    image = matplotlib.image.imread(out / 'results.png')
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 100
    # the console named every stage with its duration
    for stage in ('2D teacher', 'soft pseudo-labels', '3D pre-training', 'fine-tuning'):
        assert any(stage in line and 'done in' in line for line in proc.stdout.splitlines())

    plys = sorted(os.listdir(out / 'ply'))
    pseudo = [p for p in plys if p.endswith('_pseudo.ply')]
    assert len(pseudo) == 1
    vertex = PlyData.read(str(out / 'ply' / pseudo[0]))['vertex']
    labels = np.asarray(vertex['label'])
    assert vertex.count > 100
    assert ((labels < 30) | (labels == 255)).all() and (labels < 30).mean() > 0.5
    # predictions cover every point of the validation room, beside its ground truth
    pred_dir = out / 'ply' / 'val_pretrained_la20'
    (pred_name,) = [p for p in os.listdir(pred_dir) if p.endswith('_pred.ply')]
    scene = pred_name[:-len('_pred.ply')]
    coord = np.load(out / 'world' / 'scannet' / 'val' / scene / 'coord.npy')
    gt_labels = np.load(out / 'world' / 'scannet' / 'val' / scene / 'segment20.npy')
    pred = PlyData.read(str(pred_dir / pred_name))['vertex']
    gt = PlyData.read(str(pred_dir / f'{scene}_gt.ply'))['vertex']
    assert pred.count == gt.count == len(coord)
    np.testing.assert_allclose(np.stack([gt['x'], gt['y'], gt['z']], 1), coord, atol=1e-5)
    gt_ply = np.asarray(gt['label'])
    valid = gt_labels.reshape(-1) >= 0
    np.testing.assert_array_equal(gt_ply[valid], gt_labels.reshape(-1)[valid])


def test_rerun_resumes_finished_and_redoes_removed_jobs(demo):
    from conftest import run_tool
    out, _ = demo
    before = _results(out)
    os.remove(out / 'finetune' / 'scratch_lr25_seed1' / 'result.json')
    proc = run_tool('demo.py', '--out', out, '--preset', 'tiny', '--seeds', SEEDS,
                    '--teacher', TEACHER)
    total_jobs = 3 + 2 * len(SETTINGS) * SEEDS + 1
    assert f'{total_jobs - 1} of {total_jobs} jobs already done' in proc.stdout
    started = [line for line in proc.stdout.splitlines() if 'started' in line]
    assert len(started) == 1 and 'scratch lr25 seed 1' in started[0]
    after = _results(out)
    # seeded: the redone run reproduces its score; the others are the cached ones
    assert after['per_seed'] == before['per_seed']


def test_refuses_a_folder_of_another_preset_or_teacher(demo):
    from conftest import run_tool
    out, _ = demo
    for other in (['--preset', 'default', '--teacher', TEACHER],
                  ['--preset', 'tiny', '--teacher', 'oracle']):
        proc = run_tool('demo.py', '--out', out, *other, check=False)
        assert proc.returncode == 2
        assert 'another configuration' in proc.stderr and str(out) in proc.stderr
    assert osp.isfile(out / 'results.json')


def test_oracle_teacher_config_uses_the_worlds_2d_classes():
    from mmengine.config import Config
    from mmengine.registry import DefaultScope

    from d3l.benchmark.world import CLASSES_2D
    from d3l.registry import MODELS
    config = osp.join(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))),
                      'configs', 'demo', 'pretrainer_gt-synthetic_synthetic-rgbd_spunet.py')
    cfg = Config.fromfile(config)
    assert tuple(cfg.teacher.class_names) == CLASSES_2D
    assert cfg.model.decode_head.num_classes == len(CLASSES_2D)
    # an earlier test may have left another default scope (mmseg's)
    with DefaultScope.overwrite_default_scope('d3l'):
        teacher = MODELS.build(cfg.teacher)
    labels = np.array([[0, 29], [255, 4]])
    probs = teacher.label_frame(dict(frame_id='f', pixel_labels=labels,
                                     img=np.zeros((2, 2, 3), np.uint8))).numpy()
    assert probs.shape == (len(CLASSES_2D), 2, 2)
    flat = probs.reshape(len(CLASSES_2D), 4)
    np.testing.assert_array_equal(flat.argmax(0)[[0, 1, 3]], [0, 29, 4])
    # label smoothing 0.1 over 30 classes; an unlabelled pixel has no distribution
    assert flat[0, 0] == pytest.approx(0.9 + 0.1 / 30, abs=1e-6)
    assert flat[:, 2].sum() == 0


def test_oracle_teacher_demo(tmp_path):
    from conftest import run_tool
    out = tmp_path / 'oracle'
    proc = run_tool('demo.py', '--out', out, '--preset', 'tiny', '--seeds', 1,
                    '--teacher', 'oracle')
    results = _results(out)
    assert results['teacher'] == 'oracle' and results['teacher_2d_miou'] == 100.0
    # the stored labels are the frames' ground truth
    assert results['pseudo_labels']['miou'] == pytest.approx(100.0)
    assert not (out / 'teacher').exists()
    assert not (out / 'world' / 'seg2d').exists()  # the oracle needs no teacher photos
    assert 'oracle teacher' in proc.stdout
    assert set(results['pretrained']) == set(SETTINGS)


def test_fusion_row_on_the_same_folder(demo):
    """--fusion on a finished folder adds only the fused-labels jobs: frames of
    the training rooms, the teacher's labels fused onto them, pre-training on
    them, and the same fine-tuning runs (config, seeds, split files) loading
    that backbone; the other rows stay as they were. Cheap: it reuses the
    module's tiny demo (world, teacher, scratch and pre-trained runs)."""
    from conftest import run_tool
    from mmengine.config import Config

    from d3l.soft_labels import read_manifest
    out, _ = demo
    before = _results(out)
    proc = run_tool('demo.py', '--out', out, '--preset', 'tiny', '--seeds', SEEDS,
                    '--teacher', TEACHER, '--fusion', timeout=900)
    started = [line for line in proc.stdout.splitlines() if 'started' in line]
    # LA only: LR withholds the reconstructions of the rooms fusion would project onto
    assert len(started) == 2 + SEEDS
    assert all('fused' in line for line in started)
    results = _results(out)
    for init in ('scratch', 'pretrained', 'full'):
        assert results['per_seed'][init] == before['per_seed'][init]
    assert set(results['fused']) == {'la20'} == set(results['fused_vs_pretrained'])
    for setting in ('la20',):
        fused = results['per_seed']['fused'][setting]
        assert len(fused) == SEEDS and all(0.0 <= v <= 100.0 for v in fused)
        diffs = np.subtract(fused, results['per_seed']['pretrained'][setting])
        versus = results['fused_vs_pretrained'][setting]
        assert versus['mean'] == pytest.approx(diffs.mean(), abs=0.02)
        assert versus['wins'] == int((diffs > 0).sum())
        assert versus['beats_single_view'] == (versus['mean'] > 0)
    # the fused store holds the training rooms only (the validation rooms are the benchmark's)
    train = (out / 'world' / 'scannet' / 'meta' / 'scannetv2_train.txt').read_text().split()
    fused_dir = out / 'fused' / 'fused'
    assert sorted(read_manifest(str(fused_dir))['frame_ids']) == sorted(train)
    fusion = results['fusion']
    assert fusion['counts']['scenes'] == len(train)
    assert fusion['counts']['used'] == fusion['frames_per_room'] * len(train)
    assert 0.0 < fusion['seen_percent'] == pytest.approx(
        100.0 * fusion['counts']['seen'] / fusion['counts']['vertices'], abs=0.01)
    cfg = Config.fromfile(str(out / 'fused' / 'pretrain_fused.py'))
    assert cfg.train_dataloader.dataset.type == 'FusedSceneDataset'
    assert cfg.train_dataloader.dataset.scenes.split == 'train'
    # the fused row's fine-tuning runs load the fused backbone, the paper's row its own
    backbone = str(out / 'pretrain_fused' / 'backbone.pth')
    fused_log = (out / 'finetune' / 'fused_la20_seed0' / 'job.log').read_text()
    assert backbone in fused_log
    assert backbone not in (out / 'finetune' / 'pretrained_la20_seed0' / 'job.log').read_text()
    markdown = (out / 'results.md').read_text(encoding='utf-8')
    assert '| Pre-trained on fused labels of the training rooms (shipped 2D teacher) |' in markdown
    assert 'beat the paper\'s single-view pre-training? LA 20 pts: ' in markdown
