"""Soft pseudo-labels: compact top-k codec, sharded storage, manifest."""
from .codec import SoftLabelCodec
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
    grid_shape,
    iter_records,
    list_shards,
    plan_shards,
    shard_path,
    shards_of_rank,
)

__all__ = ['SoftLabelCodec', 'ShardWriter', 'ShardFile', 'SoftLabelRecord', 'SoftLabelStore',
           'LabelStoreError', 'MANIFEST_NAME', 'make_manifest', 'manifest_differences',
           'read_manifest', 'write_manifest', 'file_sha256', 'grid_shape', 'iter_records',
           'list_shards', 'plan_shards', 'shard_path', 'shards_of_rank']
