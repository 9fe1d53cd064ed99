"""The 2D teacher's soft labels: compact top-k codec, sharded storage,
manifest, source fingerprints, writer lock, verification.

Called ``d3l.pseudo_labels`` until issue 15 (that name is a deprecated alias
for one release): "pseudo-labels" now means only the hard 3D labels of the
LR recipe (:mod:`d3l.datasets.semi.confident`). The tool that fills a store
keeps its name, ``tools/generate_pseudo_labels.py``, so that scripts calling
it keep working."""
from .codec import SoftLabelCodec, SoftLabelError, check_distributions
from .layout import (
    checksum_path,
    expected_checksum,
    planned_frames,
    read_checksum,
    row_path,
    shard_files,
    write_checksum,
)
from .lock import LOCK_NAME, StoreLock, StoreLockError, read_lock
from .manifest import (
    MANIFEST_NAME,
    LabelStoreError,
    make_manifest,
    manifest_differences,
    read_manifest,
    write_manifest,
)
from .shards import (
    ShardFile,
    ShardWriter,
    SoftLabelRecord,
    SoftLabelStore,
    file_sha256,
    frame_crc32,
    grid_shape,
    iter_records,
    list_shards,
    plan_shards,
    shard_path,
    shards_of_rank,
)
from .source import check_dataset_source, describe_source, file_stats, source_differences
from .verify import check_shard, verify_store

__all__ = ['SoftLabelCodec', 'ShardWriter', 'ShardFile', 'SoftLabelRecord', 'SoftLabelStore',
           'LabelStoreError', 'MANIFEST_NAME', 'make_manifest', 'manifest_differences',
           'read_manifest', 'write_manifest', 'file_sha256', 'grid_shape', 'iter_records',
           'list_shards', 'plan_shards', 'shard_path', 'shards_of_rank',
           'SoftLabelError', 'check_distributions', 'checksum_path', 'expected_checksum',
           'planned_frames', 'read_checksum', 'row_path', 'shard_files', 'write_checksum',
           'LOCK_NAME', 'StoreLock',
           'StoreLockError', 'read_lock', 'frame_crc32', 'check_dataset_source',
           'describe_source', 'file_stats', 'source_differences', 'check_shard', 'verify_store']
