"""Convert the official ScanNet v2 release to d3l's per-scene format
(Pointcept's preprocessed layout, so either tool's output serves both).

    python tools/data_converters/scannet.py --scans-root /data/ScanNet/scans \
        --scans-root /data/ScanNet/scans_test --meta-dir /data/ScanNet/meta \
        --out data/scannet [--workers 4] [--axis-align] [--keep-going]

Reads per scene ``{id}_vh_clean_2.ply`` (vertices x y z red green blue
alpha, faces) and ``{id}_vh_clean_2.labels.ply`` (per-vertex NYU40 id in
``label``); when the labels ply is absent, the segment/aggregation json
files are used with ``scannetv2-labels.combined.tsv`` (raw category ->
NYU40 id). ``--meta-dir`` holds that tsv and ``scannetv2_{train,val,test}.txt``.

Writes ``{out}/{split}/{scene_id}/``: ``coord.npy`` (N, 3) float32,
``color.npy`` (N, 3) uint8, ``normal.npy`` (N, 3) float32 (area-weighted
face normals), and for labelled scenes ``segment20.npy`` (int16, 20
benchmark classes, -1 = ignore, as Pointcept), ``segment_nyu40.npy``
(uint8, 0 = unannotated) and, when aggregation files exist, ``instance.npy``
(int16, -1 = none).

Resumable: a scene whose outputs are complete is skipped (and counted);
each scene is written to a temporary folder and moved into place, and its
completion marker ``.d3l_complete`` (the size of every array file) is written
last, so an interrupted run, or leftovers of an older run, never look
complete: a scene without the marker, or whose files differ from it, is
converted again.

Refused with an error naming the scene: NaN / infinite vertex coordinates
(they would collapse the scene into one octree cell) and a mesh without
faces (no normals). A vertex that no face uses gets a zero normal (the
documented fallback; ScanNet's cleaned meshes have none).
"""
import argparse
import csv
import json
import os
import os.path as osp
import sys
from multiprocessing import Pool
from typing import Dict, List, Optional, Tuple

import numpy as np

from d3l.utils import fileio
from d3l.utils.errors import D3LError

MESH_SUFFIX = '_vh_clean_2.ply'
LABELS_SUFFIX = '_vh_clean_2.labels.ply'
SEGS_SUFFIX = '_vh_clean_2.0.010000.segs.json'
AGGREGATION_SUFFIX = '.aggregation.json'
SPLITS = ('train', 'val', 'test')


class SceneError(D3LError, ValueError):
    """A scene's files are inconsistent; the message names the scene."""


# ----------------------------------------------------------------------------
# metadata
# ----------------------------------------------------------------------------
def read_label_map(path: str) -> Dict[str, int]:
    """``scannetv2-labels.combined.tsv``: raw category -> NYU40 id."""
    if not osp.isfile(path):
        raise FileNotFoundError(f'label map {path} does not exist')
    mapping = {}
    with open(path, encoding='utf-8', newline='') as f:
        reader = csv.DictReader(f, delimiter='\t')
        fields = reader.fieldnames or []
        for column in ('raw_category', 'nyu40id'):
            if column not in fields:
                raise ValueError(f'{path}: no column {column!r} (columns: {fields})')
        for line_no, row in enumerate(reader, 2):
            try:
                nyu40 = int(row['nyu40id'])
            except (TypeError, ValueError):
                raise ValueError(f'{path}:{line_no}: nyu40id {row["nyu40id"]!r} is not an '
                                 'integer') from None
            mapping[row['raw_category'].strip()] = nyu40
    if not mapping:
        raise ValueError(f'label map {path} has no rows')
    return mapping


def read_split_lists(meta_dir: str) -> Dict[str, str]:
    """scene id -> split from ``scannetv2_{train,val,test}.txt`` (those present)."""
    from d3l.datasets.data_efficient import read_id_list

    split_of = {}
    found = [split for split in SPLITS
             if osp.isfile(osp.join(meta_dir, f'scannetv2_{split}.txt'))]
    if not found:
        raise FileNotFoundError(f'{meta_dir} has none of scannetv2_{{train,val,test}}.txt')
    for split in found:
        path = osp.join(meta_dir, f'scannetv2_{split}.txt')
        for scene_id in read_id_list(path, 'scene'):
            if scene_id in split_of:
                raise ValueError(f'{path}: scene {scene_id} is also in the '
                                 f'{split_of[scene_id]} list')
            split_of[scene_id] = split
    return split_of


# ----------------------------------------------------------------------------
# one scene
# ----------------------------------------------------------------------------
def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted average of the incident face normals, unit length
    (zero for a vertex no face uses)."""
    v = vertices.astype(np.float64)
    cross = np.cross(v[faces[:, 1]] - v[faces[:, 0]], v[faces[:, 2]] - v[faces[:, 0]])
    normals = np.zeros_like(v)
    for corner in range(3):  # |cross| = 2 * area: the sum is area weighted
        np.add.at(normals, faces[:, corner], cross)
    length = np.linalg.norm(normals, axis=1, keepdims=True)
    return np.where(length > 0, normals / np.maximum(length, 1e-12), 0.0).astype(np.float32)


def read_mesh(path: str, scene_id: str) -> Tuple[np.ndarray, np.ndarray, np.ndarray]:
    from plyfile import PlyData

    try:
        ply = PlyData.read(path)
    except Exception as err:  # noqa: BLE001 - plyfile raises many types
        raise SceneError(f'scene {scene_id}: cannot read {path}: {err}') from None
    names = [e.name for e in ply.elements]
    if 'vertex' not in names or 'face' not in names:
        raise SceneError(f'scene {scene_id}: {path} needs vertex and face elements, has {names}')
    vertex = ply['vertex'].data
    for prop in ('x', 'y', 'z', 'red', 'green', 'blue'):
        if prop not in vertex.dtype.names:
            raise SceneError(f'scene {scene_id}: {path} has no vertex property {prop!r}')
    coord = np.stack([vertex['x'], vertex['y'], vertex['z']], 1).astype(np.float32)
    bad = ~np.isfinite(coord).all(axis=1)
    if bad.any():
        raise SceneError(f'scene {scene_id}: {path} has {int(bad.sum())} of {len(coord)} '
                         'vertices with NaN / infinite coordinates')
    color = np.stack([vertex['red'], vertex['green'], vertex['blue']], 1).astype(np.uint8)
    face_data = ply['face'].data
    key = 'vertex_indices' if 'vertex_indices' in face_data.dtype.names else 'vertex_index'
    faces = np.vstack(face_data[key]).astype(np.int64) if len(face_data) else \
        np.zeros((0, 3), np.int64)
    if len(faces) == 0:
        raise SceneError(f'scene {scene_id}: {path} has 0 faces; vertex normals need the '
                         'mesh faces (is it a point cloud, not the _vh_clean_2 mesh?)')
    if faces.shape[1] != 3:
        raise SceneError(f'scene {scene_id}: {path} has non-triangle faces')
    if faces.size and (faces.min() < 0 or faces.max() >= len(coord)):
        raise SceneError(f'scene {scene_id}: {path} has faces indexing vertex {faces.max()} '
                         f'of {len(coord)}')
    return coord, color, faces


def read_vertex_labels(path: str, num_vertices: int, scene_id: str) -> np.ndarray:
    from plyfile import PlyData

    try:
        vertex = PlyData.read(path)['vertex'].data
    except Exception as err:  # noqa: BLE001
        raise SceneError(f'scene {scene_id}: cannot read {path}: {err}') from None
    if 'label' not in vertex.dtype.names:
        raise SceneError(f'scene {scene_id}: {path} has no vertex property "label"')
    if len(vertex) != num_vertices:
        raise SceneError(f'scene {scene_id}: {path} has {len(vertex)} vertices but the mesh has '
                         f'{num_vertices}; the label file belongs to another mesh')
    return np.asarray(vertex['label']).astype(np.int64)


def read_aggregation(scene_dir: str, scene_id: str, num_vertices: int,
                     label_map: Optional[Dict[str, int]]) -> Optional[Tuple[np.ndarray,
                                                                             np.ndarray]]:
    """(nyu40 per vertex or None without a label map, instance per vertex)
    from the segment + aggregation json files; None when they are absent."""
    segs_path = osp.join(scene_dir, scene_id + SEGS_SUFFIX)
    agg_path = osp.join(scene_dir, scene_id + AGGREGATION_SUFFIX)
    if not (osp.isfile(segs_path) and osp.isfile(agg_path)):
        return None
    try:
        with open(segs_path, encoding='utf-8') as f:
            seg_indices = np.asarray(json.load(f)['segIndices'], np.int64)
        with open(agg_path, encoding='utf-8') as f:
            groups = json.load(f)['segGroups']
    except (KeyError, ValueError) as err:
        raise SceneError(f'scene {scene_id}: cannot read {segs_path} / {agg_path}: '
                         f'{err}') from None
    if len(seg_indices) != num_vertices:
        raise SceneError(f'scene {scene_id}: {segs_path} has {len(seg_indices)} vertices but the '
                         f'mesh has {num_vertices}')
    nyu40 = np.zeros(num_vertices, np.int64)
    instance = np.full(num_vertices, -1, np.int64)
    for group in groups:
        member = np.isin(seg_indices, np.asarray(group['segments'], np.int64))
        instance[member] = int(group.get('objectId', group.get('id', -1)))
        if label_map is not None:
            category = str(group['label']).strip()
            if category not in label_map:
                raise SceneError(f'scene {scene_id}: category {category!r} of {agg_path} is not '
                                 'in the label map (scannetv2-labels.combined.tsv)')
            nyu40[member] = label_map[category]
    return (nyu40 if label_map is not None else None), instance


def read_axis_alignment(scene_dir: str, scene_id: str) -> np.ndarray:
    path = osp.join(scene_dir, f'{scene_id}.txt')
    if osp.isfile(path):
        with open(path, encoding='utf-8') as f:
            for line in f:
                if line.startswith('axisAlignment'):
                    values = np.array(line.split('=', 1)[1].split(), np.float64)
                    if values.size != 16:
                        raise SceneError(f'scene {scene_id}: axisAlignment in {path} has '
                                         f'{values.size} numbers, expected 16')
                    return values.reshape(4, 4)
    return np.eye(4)


def expected_files(split: str, with_instance: bool = False) -> List[str]:
    files = ['coord.npy', 'color.npy', 'normal.npy']
    if split != 'test':
        files += ['segment20.npy', 'segment_nyu40.npy']
    return files + (['instance.npy'] if with_instance else [])


COMPLETE_MARKER = '.d3l_complete'


def is_complete(out_dir: str, split: str) -> bool:
    """The scene's marker exists and lists every expected file at its
    current size (a truncated or missing array means: convert again)."""
    marker = osp.join(out_dir, COMPLETE_MARKER)
    try:
        with open(marker, encoding='utf-8') as f:
            sizes = json.load(f)['sizes']
    except (OSError, ValueError, KeyError, TypeError):
        return False
    if not all(name in sizes for name in expected_files(split)):
        return False
    return all(osp.isfile(osp.join(out_dir, name))
               and osp.getsize(osp.join(out_dir, name)) == size
               for name, size in sizes.items())


def convert_scene(scene_dir: str, scene_id: str, split: str,
                  label_map: Optional[Dict[str, int]] = None,
                  axis_align: bool = False) -> Dict[str, np.ndarray]:
    """Arrays of one scene (keys = output file stems)."""
    from d3l.datasets.scannet import nyu40_to_scannet20

    mesh_path = osp.join(scene_dir, scene_id + MESH_SUFFIX)
    if not osp.isfile(mesh_path):
        raise SceneError(f'scene {scene_id}: mesh {mesh_path} is missing')
    coord, color, faces = read_mesh(mesh_path, scene_id)
    normal = vertex_normals(coord, faces)
    if axis_align:
        matrix = read_axis_alignment(scene_dir, scene_id)
        coord = (coord @ matrix[:3, :3].T + matrix[:3, 3]).astype(np.float32)
        normal = (normal @ matrix[:3, :3].T).astype(np.float32)
    out = dict(coord=coord, color=color, normal=normal)
    if split == 'test':
        return out
    aggregation = read_aggregation(scene_dir, scene_id, len(coord), label_map)
    labels_path = osp.join(scene_dir, scene_id + LABELS_SUFFIX)
    if osp.isfile(labels_path):
        nyu40 = read_vertex_labels(labels_path, len(coord), scene_id)
    elif aggregation is not None and aggregation[0] is not None:
        nyu40 = aggregation[0]
    else:
        raise SceneError(f'scene {scene_id} ({split}): no labels; expected {labels_path} or the '
                         'segment/aggregation json files plus the label map')
    segment20 = nyu40_to_scannet20(nyu40, scene_id)  # validates the ids
    out['segment20'] = np.where(segment20 == 255, -1, segment20).astype(np.int16)
    out['segment_nyu40'] = nyu40.astype(np.uint8)
    if aggregation is not None:
        out['instance'] = aggregation[1].astype(np.int16)
    return out


def _save_arrays(folder: str, arrays: Dict[str, np.ndarray]) -> str:
    """Each array as ``<name>.npy``; returns the marker text (their sizes)."""
    sizes = {}
    for name, array in arrays.items():
        path = fileio.save_npy(osp.join(folder, f'{name}.npy'), array)
        sizes[f'{name}.npy'] = osp.getsize(path)
    return json.dumps({'sizes': sizes})


def write_scene(arrays: Dict[str, np.ndarray], out_dir: str) -> None:
    """Write into a temporary sibling folder, then move into place."""
    if not osp.exists(out_dir):
        with fileio.atomic_dir(out_dir, overwrite=False) as tmp:
            marker = _save_arrays(tmp, arrays)
        _write_marker(out_dir, marker)
        return
    # an earlier partial folder (or another tool's, whose other files stay):
    # drop its marker first, replace file by file, and mark the scene complete last
    if osp.exists(osp.join(out_dir, COMPLETE_MARKER)):
        os.remove(osp.join(out_dir, COMPLETE_MARKER))
    _write_marker(out_dir, _save_arrays(out_dir, arrays))


def _write_marker(out_dir: str, text: str) -> None:
    fileio.write_text(osp.join(out_dir, COMPLETE_MARKER), text)


# ----------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------
def _job(task):
    scene_dir, scene_id, split, out_dir, label_map, axis_align = task
    try:
        write_scene(convert_scene(scene_dir, scene_id, split, label_map, axis_align), out_dir)
        return scene_id, None
    except (ValueError, OSError) as err:  # SceneError and the label checks; name the scene
        message = str(err)
        return scene_id, message if scene_id in message else f'scene {scene_id}: {message}'



def find_scenes(scans_roots: List[str]) -> Dict[str, str]:
    scenes = {}
    for root in scans_roots:
        if not osp.isdir(root):
            raise FileNotFoundError(f'scans root {root} does not exist')
        for name in sorted(os.listdir(root)):
            if name.startswith('scene') and osp.isdir(osp.join(root, name)):
                scenes[name] = osp.join(root, name)
    return scenes


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--scans-root', action='append', required=True,
                        help='folder of scene folders (scans/, scans_test/); repeatable')
    parser.add_argument('--meta-dir', required=True,
                        help='folder with scannetv2-labels.combined.tsv and '
                        'scannetv2_{train,val,test}.txt')
    parser.add_argument('--out', required=True, help='output root (train/ val/ test/)')
    parser.add_argument('--workers', type=int, default=1)
    parser.add_argument('--axis-align', action='store_true',
                        help='apply each scene\'s axisAlignment (Pointcept does not)')
    parser.add_argument('--overwrite', action='store_true', help='redo complete scenes')
    parser.add_argument('--keep-going', action='store_true',
                        help='convert the other scenes when one fails; list failures at the end')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    from mmengine.utils import ProgressBar

    split_of = read_split_lists(args.meta_dir)
    tsv = osp.join(args.meta_dir, 'scannetv2-labels.combined.tsv')
    label_map = read_label_map(tsv) if osp.isfile(tsv) else None
    scenes = find_scenes(args.scans_root)
    tasks, complete, unlisted = [], 0, []
    for scene_id, scene_dir in scenes.items():
        split = split_of.get(scene_id)
        if split is None:
            unlisted.append(scene_id)
            continue
        out_dir = osp.join(args.out, split, scene_id)
        if not args.overwrite and is_complete(out_dir, split):
            complete += 1
            continue
        tasks.append((scene_dir, scene_id, split, out_dir, label_map, args.axis_align))
    print(f'{len(scenes)} scenes found: {len(tasks)} to convert, {complete} already complete '
          f'(skipped), {len(unlisted)} in no split list (skipped)', flush=True)
    failures = []
    if tasks:
        bar = ProgressBar(len(tasks))
        if args.workers > 1:
            with Pool(args.workers) as pool:
                results = pool.imap_unordered(_job, tasks)
                failures = _collect(results, bar, args.keep_going)
        else:
            failures = _collect(map(_job, tasks), bar, args.keep_going)
        print()
    print(f'converted {len(tasks) - len(failures)}, skipped {complete} complete, '
          f'{len(unlisted)} unlisted, failed {len(failures)}')
    for _, message in failures:
        print(f'  failed: {message}', file=sys.stderr)
    return 1 if failures else 0


def _collect(results, bar, keep_going):
    failures = []
    for scene_id, message in results:
        bar.update()
        if message is not None:
            if not keep_going:
                raise SceneError(message)
            failures.append((scene_id, message))
    return failures


if __name__ == '__main__':
    repo_root = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    if repo_root not in sys.path:
        sys.path.insert(0, repo_root)
    try:
        sys.exit(main())
    except (SceneError, FileNotFoundError, ValueError) as err:
        print(f'error: {err}', file=sys.stderr)
        sys.exit(2)
