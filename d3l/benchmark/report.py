"""The demo's report: ``results.json``, ``results.md`` and ``results.png``
from the jobs' results (:mod:`d3l.benchmark.demo`; not a CLI)."""
from __future__ import annotations

import math
from typing import Dict, List

from d3l.utils import fileio, markdown

from .plan import FUSED

#: a cell of a setting that a row does not run (the fused row: LR)
NOT_RUN = '–'


def _mean_std(values: List[float]):
    import numpy as np
    values = np.asarray(values, np.float64)
    std = float(values.std(ddof=1)) if len(values) > 1 else 0.0
    return float(values.mean()), std


def _mean_iou(runs: List[dict]) -> Dict[str, float]:
    """Per-class IoU averaged over seeds (a class absent from the validation
    rooms stays None)."""
    names = list(runs[0]['iou'])
    out = {}
    for name in names:
        values = [r['iou'].get(name) for r in runs]
        values = [v for v in values if v is not None and not math.isnan(v)]
        out[name] = round(sum(values) / len(values), 2) if values else None
    return out


def _runs(plan, results, init: str, setting: str) -> List[dict]:
    return [results[f'finetune/{init}_{setting}_seed{s}'] for s in plan.seeds]


def _finetune_rows(plan, results: Dict[str, dict]) -> dict:
    """Means, spreads, per-seed scores, gains and per-class IoU of the rows."""
    summary, per_seed, std, iou = {}, {}, {}, {}
    rows = [(init, plan.fused_settings if init == FUSED else plan.settings)
            for init in plan.inits] + [('full', ['full'])]
    for init, settings in rows:
        summary[init], per_seed[init], std[init], iou[init] = {}, {}, {}, {}
        for setting in settings:
            runs = (_runs(plan, results, init, setting) if init != 'full' else
                    [results[f'finetune/scratch_full_seed{s}'] for s in plan.full_seeds])
            mean, spread = _mean_std([r['miou'] for r in runs])
            summary[init][setting] = round(mean, 2)
            std[init][setting] = round(spread, 2)
            per_seed[init][setting] = [round(r['miou'], 2) for r in runs]
            iou[init][setting] = _mean_iou(runs)
    summary['full'] = summary['full']['full']
    iou['full'] = iou['full']['full']
    summary.update(per_seed=per_seed, std=std, per_class_iou=iou,
                   gain=_gains(plan, per_seed, 'pretrained', 'scratch'),
                   full_minus_scratch={s: round(summary['full'] - summary['scratch'][s], 2)
                                       for s in plan.settings})
    if plan.fusion:
        summary['gain_fused'] = _gains(plan, per_seed, FUSED, 'scratch')
        # the question of the fused row: does it beat the paper's single-view pre-training?
        summary['fused_vs_pretrained'] = _gains(plan, per_seed, FUSED, 'pretrained')
        summary['fused_settings'] = plan.fused_settings
        for entry in summary['fused_vs_pretrained'].values():
            entry['beats_single_view'] = entry['mean'] > 0
    return summary


def _gains(plan, per_seed: dict, init: str, reference: str) -> dict:
    """Per setting: the mean and spread over seeds of ``init`` minus
    ``reference`` (same seed, same split files), and the seeds it wins."""
    gain = {}
    for setting in plan.settings:
        if setting not in per_seed[init]:  # the fused row: LA settings only
            continue
        diffs = [a - b for a, b in zip(per_seed[init][setting], per_seed[reference][setting])]
        mean, spread = _mean_std(diffs)
        gain[setting] = dict(mean=round(mean, 2), std=round(spread, 2),
                             wins=sum(d > 0 for d in diffs), seeds=len(diffs))
    return gain


def _fusion_summary(results: Dict[str, dict]) -> dict:
    labels, pretrain = results['fused_labels'], results['pretrain_fused']
    return dict(frames_per_room=labels['frames_per_room'], seen_percent=labels['seen_percent'],
                counts={k: v for k, v in labels['counts'].items() if isinstance(v, int)},
                pretrain=dict(iters=pretrain['iters'],
                              final_loss_soft=pretrain.get('final_loss_soft'),
                              final_acc_teacher=pretrain.get('final_acc_teacher')),
                seconds=dict(fused_labels=labels['seconds'], pretrain=pretrain['seconds']))


def summarize(plan, results: Dict[str, dict], wall: Dict[str, float], cpu: dict,
              coverage: dict) -> dict:
    """The content of results.json."""
    # the oracle's labels are the ground truth: 100 % by definition
    teacher = results.get('teacher', dict(miou=100.0, pixel_acc=100.0, seconds=0.0))
    summary = dict(teacher_2d_miou=round(teacher['miou'], 2),
                   teacher_2d_pixel_acc=round(teacher['pixel_acc'], 2),
                   teacher_2d=dict(source=plan.teacher, miou=round(teacher['miou'], 2),
                                   pixel_acc=round(teacher['pixel_acc'], 2),
                                   checkpoint=teacher.get('checkpoint'),
                                   sha256=teacher.get('sha256'), iou=teacher.get('iou'),
                                   images=teacher.get('images'),
                                   scored_on='the world\'s held-out teacher photos (seg2d val)'
                                   if plan.teacher != 'oracle' else None))
    summary.update(_finetune_rows(plan, results))
    labels, pretrain = results['pseudo_labels'], results['pretrain']
    finetune_seconds = [r['seconds'] for n, r in results.items() if n.startswith('finetune/')]
    summary.update(
        seeds=plan.seeds, preset=plan.preset.name, teacher=plan.teacher,
        backbone=plan.backbone,
        settings={s: setting_text(plan, s) for s in plan.settings + ['full']},
        label_counts=coverage,
        pseudo_labels={k: labels.get(k) for k in ('miou', 'pixel_acc', 'perspective',
                                                  'equirect', 'iou') if k in labels},
        pretrain=dict(iters=pretrain['iters'], final_loss_soft=pretrain.get('final_loss_soft'),
                      final_acc_teacher=pretrain.get('final_acc_teacher')),
        finetune_iters=plan.schedule['finetune_iters'],
        val_rooms=plan.preset.val_rooms, train_rooms=plan.preset.train_rooms,
        seconds=dict(
            jobs={'teacher': teacher['seconds'], 'pseudo_labels': labels['seconds'],
                  'pretrain': pretrain['seconds'],
                  'finetune_total': round(sum(finetune_seconds), 2)},
            wall={k: round(v, 2) for k, v in wall.items()},
            cpu=cpu))
    if plan.fusion:
        summary['fusion'] = _fusion_summary(results)
    return summary


def setting_text(plan, setting: str) -> str:
    rooms = plan.preset.train_rooms
    if setting == 'full':
        return f'every point of every training room ({rooms} rooms), from scratch'
    if setting.startswith('la'):
        return f'Limited Annotations: {setting[2:]} labelled points per training room'
    count = max(1, int(round(rooms * plan.schedule['lr_percent'] / 100.0)))
    return (f'Limited Reconstructions: {plan.schedule["lr_percent"]:g} % of the training '
            f'rooms ({min(count, rooms)} of {rooms})')


def teacher_text(plan) -> str:
    return dict(oracle='ground-truth 2D labels', zoo='shipped 2D teacher',
                train='2D teacher trained in the demo')[plan.teacher]


def column(setting: str) -> str:
    if setting == 'full':
        return 'full labels'
    return f'LA {setting[2:]} pts' if setting.startswith('la') else f'LR {setting[2:]} %'


def _cell(summary: dict, init: str, setting: str, seeds: int) -> str:
    if setting not in summary[init]:
        return NOT_RUN
    mean, spread = summary[init][setting], summary['std'][init][setting]
    return f'{mean:.1f} ± {spread:.1f}' if seeds > 1 else f'{mean:.1f}'


def _main_table(plan, summary: dict) -> List[str]:
    settings, n = plan.settings, len(plan.seeds)
    full = summary['std']['full']['full']
    full_seeds = len(plan.full_seeds)
    full_cell = f'{summary["full"]:.1f}' + (f' ± {full:.1f}' if full_seeds > 1 else '')
    rows = [['Scratch'] + [_cell(summary, 'scratch', s, n) for s in settings],
            [f'Pre-trained ({teacher_text(plan)})']
            + [_cell(summary, 'pretrained', s, n) for s in settings],
            ['Gain'] + _gain_cells(summary['gain'], settings, n)]
    if plan.fusion:
        rows += [[f'Pre-trained on fused labels of the training rooms ({teacher_text(plan)})']
                 + [_cell(summary, FUSED, s, n) for s in settings],
                 ['Gain (fused)'] + _gain_cells(summary['gain_fused'], settings, n),
                 ['Fused minus single-view pre-training']
                 + _gain_cells(summary['fused_vs_pretrained'], settings, n)]
    lines = markdown.table_lines(['Method'] + [column(s) for s in settings], rows)
    if plan.fusion:
        lines += [
            '',
            'Does pre-training on the fused labels of the training rooms beat the paper\'s '
            'single-view pre-training? ' + '; '.join(
                f'{column(s)}: '
                + ('yes' if summary['fused_vs_pretrained'][s]['beats_single_view'] else 'no')
                for s in plan.fused_settings) + ' (mean over seeds of the same-seed '
            f'differences). {NOT_RUN}: not run, LR withholds the other rooms\' '
            'reconstructions, onto which fusion would project (docs/fusion.md).']
    lines += [
        '',
        f'Reference: scratch with **every label** of the {plan.preset.train_rooms} training '
        f'rooms (same schedule): **{full_cell}** mIoU (seed'
        f'{"s" if full_seeds > 1 else ""} {", ".join(map(str, plan.full_seeds))}); '
        'full minus scratch: '
        + ', '.join(f'{column(s)} {summary["full_minus_scratch"][s]:+.1f}' for s in settings)
        + '.', '']
    return lines


def _gain_cells(gain: dict, settings: List[str], n: int) -> List[str]:
    return [NOT_RUN if s not in gain else f'{gain[s]["mean"]:+.1f}'
            + (f' ± {gain[s]["std"]:.1f} ({gain[s]["wins"]}/{n} seeds)' if n > 1 else '')
            for s in settings]


def _per_class_table(plan, summary: dict) -> List[str]:
    iou = summary['per_class_iou']
    columns = [(f'scratch {column(s)}', iou['scratch'][s]) for s in plan.settings]
    columns += [(f'pre-trained {column(s)}', iou['pretrained'][s]) for s in plan.settings]
    columns += [(f'fused {column(s)}', iou[FUSED][s]) for s in plan.fused_settings]
    columns.append(('full labels', iou['full']))
    smallest = plan.settings[0]
    counts = summary['label_counts'].get(smallest, {}).get('expected', {})
    val_rooms = summary['label_counts'].get('val_rooms', {})
    def fmt(value):
        return '-' if value is None else f'{value:.1f}'
    rows = [[name, fmt(counts.get(name)), str(val_rooms.get(name, '-'))]
            + [fmt(values.get(name)) for _, values in columns] for name in iou['full']]
    return (['## Per-class IoU (mean over seeds)', '',
             f'Labels: expected {column(smallest)} labelled points in all training rooms; '
             'val rooms: validation rooms that hold the class.', '']
            + markdown.table_lines(['Class', 'labels', 'val rooms'] + [c for c, _ in columns],
                                   rows) + [''])


def _teacher_lines(plan, summary: dict) -> List[str]:
    labels = summary['pseudo_labels']
    lines = ['## The 2D teacher and its pseudo-labels', '']
    if plan.teacher == 'oracle':
        lines.append('- Oracle teacher: the RGB-D frames\' ground-truth 2D labels (30 classes, '
                     'one-hot with label smoothing 0.1), the upper bound of a perfect 2D teacher.')
    else:
        kind = ('DPT-Hybrid shipped with d3l: `d3l.model_zoo`, docs/model_zoo.md; trained once '
                'on the teacher corpus' if plan.teacher == 'zoo' else
                'DPT trained from scratch inside the demo on the world\'s photos')
        lines.append(f'- 2D teacher (mmseg {kind}; 30 classes): mIoU '
                     f'**{summary["teacher_2d_miou"]:.1f}**, pixel accuracy '
                     f'{summary["teacher_2d_pixel_acc"]:.1f} on this world\'s held-out photos.')
    if 'miou' in labels:
        lines.append(f'- Its top-1 on the pre-training RGB-D against their ground truth '
                     f'(reporting only; training never reads it): mIoU {labels["miou"]:.1f}, '
                     f'pixel accuracy {labels["pixel_acc"]:.1f}' + ''.join(
                         f'; {kind} {labels[kind]["miou"]:.1f} / {labels[kind]["pixel_acc"]:.1f}'
                         for kind in ('perspective', 'equirect') if kind in labels) + '.')
    pretrain = summary['pretrain']
    if pretrain.get('final_acc_teacher') is not None:
        lines.append(f'- 3D pre-training ({pretrain["iters"]} iterations): final soft '
                     f'cross-entropy {pretrain["final_loss_soft"]:.3f}, agreement with the '
                     f'teacher\'s top-1 {pretrain["final_acc_teacher"]:.1f} % (training crops).')
    return lines


def _fusion_lines(summary: dict) -> List[str]:
    fusion = summary['fusion']
    pretrain = fusion['pretrain']
    lines = ['', '## Pre-training on fused labels of the training rooms (--fusion)', '',
             f'- {fusion["frames_per_room"]} RGB-D frames rendered per training room, labelled '
             f'once by the same teacher, fused onto the rooms\' vertices (depth-tested, mean '
             f'over views; docs/fusion.md): {fusion["seen_percent"]:.1f} % of the vertices seen '
             'by a frame; no 3D label is read.']
    if pretrain.get('final_acc_teacher') is not None:
        lines.append(f'- 3D pre-training on them ({pretrain["iters"]} iterations, the same '
                     f'model and schedule): final soft cross-entropy '
                     f'{pretrain["final_loss_soft"]:.3f}, agreement with the fused top-1 '
                     f'{pretrain["final_acc_teacher"]:.1f} % (training crops).')
    return lines


def _time_lines(summary: dict) -> List[str]:
    seconds = summary['seconds']
    cpu = seconds['cpu']
    rows = ([[f'{key} (wall, this run)', f'{value:.0f}'] for key, value in seconds['wall'].items()]
            + [[f'{key} (job wall time, when it ran)', f'{value:.0f}']
               for key, value in seconds['jobs'].items()]
            + [['CPU time of this run, all processes', f'{cpu["total"]:.0f}']])
    lines = ['', '## Time', ''] + markdown.table_lines(['Stage', 'Seconds'], rows)
    lines += ['', f'Load average of the machine: {cpu["load_start"]:.1f} at the start, '
              f'{cpu["load_end"]:.1f} at the end ({cpu["cores"]} cores).']
    return lines


def write_markdown(path: str, plan, summary: dict) -> None:
    n = len(plan.seeds)
    lines = [
        '# d3l demo: 3D pre-training on 2D-teacher pseudo-labels vs. training from scratch',
        '',
        f'Synthetic world (seed {plan.world_seed}), preset `{plan.preset.name}`, backbone '
        f'{plan.backbone}; mIoU (%) over the 20 ScanNet classes on every point of the '
        f'{plan.preset.val_rooms} held-out rooms'
        + (f', mean ± std over {n} seeds ({", ".join(map(str, plan.seeds))}).' if n > 1
           else f', seed {plan.seeds[0]}.'),
        f'{"All" if plan.fusion else "Both"} rows use the same config, schedule, seeds and '
        'split files; the only difference is `load_from` (the pre-trained backbone).', '']
    lines += _main_table(plan, summary)
    lines += [f'- {column(s)}: {summary["settings"][s]}' for s in plan.settings + ['full']]
    lines += ['', '## Per seed', ''] + _per_seed_table(plan, summary)
    lines += [''] + _per_class_table(plan, summary) + _teacher_lines(plan, summary)
    lines += _fusion_lines(summary) if plan.fusion else []
    lines += _time_lines(summary)
    lines += ['', 'Files: `results.json` (these numbers, label counts per class), '
              '`results.png`, `ply/` (a pre-training frame coloured by pseudo-label and by '
              'RGB, one validation room\'s predictions and ground truth).', '']
    fileio.write_text(path, '\n'.join(lines))


def _per_seed_table(plan, summary: dict) -> List[str]:
    rows = []
    full = summary['per_seed']['full']['full']
    for init in plan.inits:
        for i, seed in enumerate(plan.seeds):
            rows.append([init, str(seed)] + [
                f'{summary["per_seed"][init][s][i]:.1f}' if s in summary[init] else NOT_RUN
                for s in plan.settings]
                + [f'{full[i]:.1f}' if init == 'scratch' and i < len(full) else ''])
    return markdown.table_lines(['Method', 'Seed', *map(column, plan.settings), 'full labels'],
                                rows)


def write_plot(path: str, plan, summary: dict) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    settings = plan.settings
    x = np.arange(len(settings))
    bars = [('scratch', '#9e9e9e', 'scratch'),
            ('pretrained', '#1f77b4', f'pre-trained ({teacher_text(plan)})')]
    if plan.fusion:
        bars.append((FUSED, '#2ca02c', 'pre-trained on fused labels of the training rooms'))
    width = 0.76 / len(bars)
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=120)
    for k, (init, color, label) in enumerate(bars):
        offset = (k - (len(bars) - 1) / 2) * width
        # a setting the row does not run has no bar
        means = [summary[init].get(s, np.nan) for s in settings]
        spreads = [summary['std'][init].get(s, 0.0) for s in settings]
        ax.bar(x + offset, means, width, yerr=spreads if len(plan.seeds) > 1 else None,
               capsize=4, color=color, label=label)
        for i, s in enumerate(settings):
            values = summary['per_seed'][init].get(s, [])
            ax.scatter(np.full(len(values), x[i] + offset), values, s=10, color='black',
                       zorder=3)
    ax.axhline(summary['full'], color='#d62728', linestyle='--', linewidth=1,
               label=f'scratch, full labels ({summary["full"]:.1f})')
    ax.set_xticks(x, [column(s) for s in settings])
    ax.set_ylabel('mIoU (%) on held-out rooms')
    seeds = f'{len(plan.seeds)} seeds' if len(plan.seeds) > 1 else f'seed {plan.seeds[0]}'
    teacher = ('oracle 2D labels' if plan.teacher == 'oracle' else
               f'2D teacher mIoU {summary["teacher_2d_miou"]:.1f}')
    ax.set_title(f'd3l demo ({plan.preset.name} preset, {seeds}); {teacher}', fontsize=10)
    ax.legend(loc='upper left', fontsize=8)
    top = max([summary['full']] + [summary[i][s] + summary['std'][i][s] for i in plan.inits
                                   for s in settings if s in summary[i]])
    ax.set_ylim(0, max(5.0, top * 1.25))
    fig.tight_layout()
    with fileio.atomic_path(path, suffix='.png') as tmp:
        fig.savefig(tmp)
    plt.close(fig)
