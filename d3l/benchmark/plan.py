"""What the demo runs: its schedules per preset, the configs of
``configs/demo/`` and the jobs with their dependencies (:class:`Plan`)."""
from __future__ import annotations

import os.path as osp
from typing import Dict, List

from d3l.utils.errors import D3LError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_DIR = osp.join(REPO_ROOT, 'configs', 'demo')
#: the 3D network of the demo's configs (configs/demo/*_{BACKBONE}_*.py)
BACKBONE = 'spunet'
PRETRAIN_CONFIG = osp.join(CONFIG_DIR, f'pretrainer_dpt-synthetic_synthetic-rgbd_{BACKBONE}.py')
#: --teacher oracle: the frames' ground-truth 2D labels instead of a DPT
PRETRAIN_GT_CONFIG = osp.join(CONFIG_DIR, f'pretrainer_gt-synthetic_synthetic-rgbd_{BACKBONE}.py')
#: --teacher train: the small DPT trained inside the demo on the world's photos
TRAIN_TEACHER_CONFIG = osp.join(CONFIG_DIR, 'dpt_scratch_synthetic-seg2d_vit-tiny.py')
#: the teachers, with the 2D photos each needs from the world: held-out ones
#: to score the shipped one, training and held-out ones to train one here,
#: none for the oracle (1000 training photos are ~100 s of the default world)
TEACHER_PHOTOS = dict(zoo=('val',), train=('train', 'val'), oracle=())
TEACHERS = tuple(TEACHER_PHOTOS)
INITS = ('scratch', 'pretrained')
#: --fusion adds this row: pre-trained on the teacher's labels fused onto the
#: training rooms (d3l.benchmark.fused), fine-tuned with the pre-trained row's
#: config, only ``load_from`` differs. LA settings only: fusing onto every
#: training room's reconstruction would use the rooms that LR withholds
#: (docs/fusion.md, "What fusion may use")
FUSED = 'fused'
INIT_TAGS = dict(scratch='scratch', pretrained='dpt-synthetic', fused='dpt-synthetic')
#: --fusion: RGB-D frames rendered per training room (kept out of SCHEDULES,
#: which identifies a demo folder: --fusion adds jobs to an existing folder)
FUSION_FRAMES = dict(tiny=4, default=20)

#: the demo's schedules per preset (the world's sizes and the trained
#: teacher's iterations live in d3l.benchmark.world.presets).
#: ``la_points``: the Limited Annotations settings (points per training room);
#: ``lr_percent``: the Limited Reconstructions setting, a percentage of the
#: training rooms; ``full_seeds``: seeds of the full-labels reference (a
#: reference, not a comparison: one run keeps the default within 15 minutes).
SCHEDULES = {
    'tiny': dict(pretrain_iters=12, finetune_iters=8, la_points=(20,), lr_percent=25,
                 full_seeds=1),
    'default': dict(pretrain_iters=2000, finetune_iters=400, la_points=(20,), lr_percent=5,
                    full_seeds=1),
}
#: bump when a change of the demo alters its results (invalidates caches)
DEMO_VERSION = 5


class DemoError(D3LError):
    """A user-facing problem (printed as one line, exit code 2)."""


def setting_names(schedule: dict) -> List[str]:
    """The fine-tuning settings (keys of results.json), in the paper's order;
    the full-labels reference ``full`` comes on top."""
    return [f'la{n}' for n in schedule['la_points']] + [f'lr{schedule["lr_percent"]:g}']


def zoo_teacher() -> dict:
    """Config, checkpoint and sha256 of the shipped 2D teacher (checked)."""
    try:
        from d3l import model_zoo
    except ImportError as err:
        raise DemoError(f'the shipped 2D teacher (d3l.model_zoo) cannot be imported ({err}); '
                        'use --teacher train or --teacher oracle') from None
    try:
        entry = model_zoo.SYNTHETIC_DPT
        checkpoint = model_zoo.zoo_checkpoint(entry.name)
    except Exception as err:  # noqa: BLE001 - a missing or corrupt file, said in one line
        raise DemoError(f'the shipped 2D teacher is not usable: {err}') from None
    return dict(config=entry.config, checkpoint=checkpoint, sha256=entry.sha256)


class Plan:
    """Where everything goes under ``DIR`` and which jobs depend on which."""

    def __init__(self, out_dir: str, preset: str, seeds: int, world: Dict[str, str],
                 teacher: str = 'zoo', world_seed: int = 0, fusion: bool = False):
        from .world import get_preset

        self.out = osp.abspath(out_dir)
        self.preset = get_preset(preset)
        self.schedule = SCHEDULES[preset]
        self.seeds = list(range(seeds))
        self.world = world
        self.world_seed = world_seed
        self.teacher = teacher
        self.fusion = fusion
        self.inits = INITS + ((FUSED,) if fusion else ())
        self.backbone = BACKBONE
        self.settings = setting_names(self.schedule)
        self.fused_settings = [s for s in self.settings if s.startswith('la')] if fusion else []
        self.full_seeds = self.seeds[:self.schedule['full_seeds']]
        self.ply_dir = osp.join(self.out, 'ply')

    def job_dir(self, name: str) -> str:
        return osp.join(self.out, *name.split('/'))

    def split_files(self, seed: int) -> Dict[str, str]:
        root = osp.join(self.out, 'splits', f'seed{seed}')
        files = {f'la{n}': osp.join(root, 'points', f'points{n}')
                 for n in self.schedule['la_points']}
        files['lr'] = osp.join(root, 'scenes', f'{self.schedule["lr_percent"]:g}.txt')
        return files

    def _teacher_jobs(self) -> List[dict]:
        oracle = self.teacher == 'oracle'
        config = PRETRAIN_GT_CONFIG if oracle else PRETRAIN_CONFIG
        jobs = []
        if self.teacher == 'train':
            jobs.append(dict(name='teacher', kind='teacher', dir=self.job_dir('teacher'),
                             deps=[], seg2d=self.world['seg2d'],
                             iters=self.preset.teacher_iters,
                             batch_size=self.preset.teacher_batch_size,
                             title=f'2D teacher (DPT trained here, '
                             f'{self.preset.teacher_iters} iterations)'))
        elif self.teacher == 'zoo':
            zoo = zoo_teacher()
            jobs.append(dict(name='teacher', kind='teacher_zoo', dir=self.job_dir('teacher'),
                             deps=[], seg2d=self.world['seg2d'], teacher_config=zoo['config'],
                             teacher_checkpoint=zoo['checkpoint'],
                             teacher_sha256=zoo['sha256'],
                             title='2D teacher (shipped DPT) on held-out photos'))
        jobs += [
            dict(name='pseudo_labels', kind='pseudo_labels', dir=self.job_dir('pseudo_labels'),
                 deps=[] if oracle else ['teacher'], config=config, rgbd=self.world['rgbd'],
                 title=('ground-truth 2D labels of the RGB-D frames (oracle teacher)' if oracle
                        else 'soft pseudo-labels of the RGB-D frames')),
            dict(name='pretrain', kind='pretrain', dir=self.job_dir('pretrain'),
                 deps=['pseudo_labels'], config=config, rgbd=self.world['rgbd'],
                 ply_dir=self.ply_dir, iters=self.schedule['pretrain_iters'],
                 title=f'3D pre-training ({self.schedule["pretrain_iters"]} iterations)')]
        return jobs + (self._fusion_jobs(config) if self.fusion else [])

    def _fusion_jobs(self, label_config: str) -> List[dict]:
        """--fusion: frames of the training rooms -> the teacher's labels ->
        fused onto the rooms' vertices -> pre-training on them."""
        frames = FUSION_FRAMES[self.preset.name]
        iters = self.schedule['pretrain_iters']
        return [
            dict(name='fused_labels', kind='fused_labels', dir=self.job_dir('fused'),
                 deps=[] if self.teacher == 'oracle' else ['teacher'], config=label_config,
                 world_root=self.world['root'], preset=self.preset.name,
                 world_seed=self.world_seed, frames_per_room=frames,
                 title=f'teacher labels of {frames} frames per training room, fused onto '
                 'the rooms'),
            dict(name='pretrain_fused', kind='pretrain_fused', dir=self.job_dir('pretrain_fused'),
                 deps=['fused_labels'], iters=iters,
                 title=f'3D pre-training on the fused labels ({iters} iterations)')]

    def _finetune_job(self, init: str, setting: str, seed: int) -> dict:
        name = f'finetune/{init}_{setting}_seed{seed}'
        files = self.split_files(seed)
        # one LR config (the default preset's percentage); the split file sets the rooms
        config_setting = (f'lr{SCHEDULES["default"]["lr_percent"]:g}' if setting.startswith('lr')
                          else setting)
        config = osp.join(CONFIG_DIR, f'segmentor_{INIT_TAGS[init]}_synthetic-scannet_'
                          f'{self.backbone}_{config_setting}.py')
        show = (osp.join(self.ply_dir, f'val_{init}_{setting}')
                if seed == 0 and setting == self.settings[0] else None)
        return dict(
            name=name, kind='finetune', dir=self.job_dir(name),
            deps=dict(pretrained=['pretrain'], fused=['pretrain_fused']).get(init, []),
            init=init, setting=setting, seed=seed, config=config,
            scannet=self.world['scannet'], iters=self.schedule['finetune_iters'],
            la_file=files.get(setting), lr_file=files['lr'] if setting.startswith('lr') else None,
            load_from=None, show_dir=show, title=f'fine-tuning {init} {setting} seed {seed}')

    def jobs(self) -> List[dict]:
        """Job specs, most urgent first (the teacher -> labels -> pre-training
        chain gates the pre-trained runs; scratch runs fill the other
        workers meanwhile)."""
        finetune = []
        for seed in self.seeds:
            for setting in self.settings:
                finetune += [self._finetune_job(init, setting, seed) for init in self.inits
                             if init != FUSED or setting in self.fused_settings]
            if seed in self.full_seeds:
                finetune.append(self._finetune_job('scratch', 'full', seed))
        return self._teacher_jobs() + finetune

    def fill(self, spec: dict, results: Dict[str, dict]) -> dict:
        """Add what a job needs from the jobs it depends on."""
        spec = dict(spec)
        if spec['kind'] in ('pseudo_labels', 'fused_labels') and 'teacher' in results:
            spec['checkpoint'] = results['teacher']['checkpoint']
            spec['teacher_config'] = results['teacher']['config']
        elif spec['kind'] == 'pretrain':
            spec['label_dir'] = results['pseudo_labels']['label_dir']
        elif spec['kind'] == 'pretrain_fused':
            spec['config'] = results['fused_labels']['config']
        elif spec['kind'] == 'finetune' and spec['init'] != 'scratch':
            spec['load_from'] = results[spec['deps'][0]]['backbone']
        return spec
