"""``transform --engine dask``: one HDF5 shard per partition, joined by virtual datasets.

Layout, for ``-o OUT.h5``::

    OUT.h5                                the file readers open
    OUT.h5.shards/part-00000-<key>.h5     one per partition (single input)
    OUT.h5.shards/SPLIT/part-00000-<key>.h5   (several splits)

Each shard is written by one Dask task with the local engine's own writer (``Hdf5Writer``:
the same datasets, under a temporary name, renamed when complete), for one partition of
consecutive files. The driver then writes ``OUT.h5``, whose ``images``, ``labels``,
``paths`` (and augmentation datasets) are h5py virtual datasets mapping the shards in input
order, with the attributes a local run writes plus ``engine`` and ``shards``; it too is
written under a temporary name and renamed last, so a failed run leaves no main file and no
half shard under a final name. Pixels are computed by the same code as the local engine's,
so ``images`` is byte-identical to a local run with the same options and seed.

Resuming: a shard's name carries a key, a hash of everything that decides its contents
(shard format and imgprep version, the pipeline with its numbers, the augmentation plan and
seed, the split, the partition's first index, the path width, compression and its files with
their labels), and inside it ``files_sha256`` records each file's size and modification time
as the worker saw them. A re-run submits every partition again; a worker that finds a
complete shard under that name for unchanged files returns its summary without decoding
anything, so a crashed 10-hour job goes on from the shards it had finished. Shards that a
successful run no longer references (other keys, temporary files of killed workers) are
deleted from the shard folder at the end.

The virtual datasets name their shards by paths relative to ``OUT.h5``: move or copy the
file together with its ``.shards`` folder. (When ``-o`` is a symbolic link, the file is
written through it, beside its target, with absolute shard paths, so that it reads the same
through the link and through the target.) HDF5 reads a missing shard as zeros, so
``imgprep inspect`` refuses a virtual dataset whose source file is missing.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep.augment import AugmentParams, AugmentSettings
from imgprep.errors import ImgprepError
from imgprep.io.atomic import atomic_path
from imgprep.io.formats.base import Column
from imgprep.io.formats.hdf5 import Hdf5Writer
from imgprep.io.formats.hdf5_layout import check_like_first, write_dataset_attrs
from imgprep.io.items import ItemList, absolute_segments, iter_segments
from imgprep.io.remote import file_stat
from imgprep.run.policy import ErrorPolicy
from imgprep.run.worker import AugmentPlan, TransformTask, transform_batch
from imgprep.transforms.pipeline import Pipeline
from imgprep.version import __version__

SHARD_FORMAT = "imgprep-shard"
SHARD_FORMAT_VERSION = 1
SHARDS_SUFFIX = ".shards"
_SHARD_NAME = re.compile(r"^part-\d{5,}-[0-9a-f]{16}\.h5$")
# a shard's temporary (atomic.temporary_name, and its .rows scratch; or an older, plain name)
_TEMPORARY_NAME = re.compile(
    r"^\.part-\d{5,}-[0-9a-f]{16}\.h5\.(?:imgprep-[0-9a-f]{8}-\d+-)?[0-9a-f]+\.tmp(?:\.rows)?$"
)

Segments = list[tuple[str, tuple[str, ...]]]
Files = Sequence[tuple[str, str, int | None]]  # (opened path, stored path, label) per file
Order = np.ndarray | None  # a shuffled split's positions before shuffling, else None


@dataclass(frozen=True)
class ShardSpec:
    """What every shard of a split shares: how its rows are made and stored."""

    pipeline: Pipeline
    plan: AugmentPlan | None
    split: int  # the split's position: augmentation draws depend on it
    labelled: bool
    path_bytes: int
    compression: str
    batch_size: int  # rows per batch inside a shard (memory only; not in the key)
    columns: tuple[Column, ...] | None = None  # recorded augmentation columns (from the plan)
    shown: AugmentSettings | None = None  # a split not augmented: the run's crops' view

    def key(self, start: int, files: Files, order: Sequence[int] | None = None) -> str:
        """16 hex digits of SHA-256 over everything that decides a shard's bytes: this spec,
        the partition's first index, its (opened path, stored path, label) per file and, when
        shuffled, each file's position before shuffling."""
        pipeline, plan = self.pipeline, self.plan
        described = {
            "format": [SHARD_FORMAT, SHARD_FORMAT_VERSION, __version__],
            "pipeline": pipeline.describe(),
            "stats": pipeline.stats.to_dict() if pipeline.stats is not None else None,
            "plan": plan.to_dict() if plan is not None else None,
            **({"shown": self.shown.to_dict()} if self.shown is not None else {}),
            "split": self.split,
            "start": start,
            "labelled": self.labelled,
            "path_bytes": self.path_bytes,
            "compression": self.compression,
            "files": [list(file) for file in files],
            **({"order": list(order)} if order is not None else {}),
        }
        text = json.dumps(described, sort_keys=True, ensure_ascii=False, default=str)
        return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()[:16]


@dataclass(frozen=True)
class ShardTask:
    """One partition for a worker: its files (in batches), where its shard goes, how."""

    shard: str  # absolute path of the final shard
    key: str
    spec: ShardSpec
    batches: list[Segments]
    labels: list[int | None]
    start: int  # index of the partition's first file in the split
    order: list[int] | None = None  # shuffled: each file's position before (``permutation``)


@dataclass
class ShardResult:
    """What a shard holds: rows, failures (offset in the partition, reason), its datasets."""

    rows: int
    errors: list[tuple[int, str]]
    columns: tuple[str, ...]  # row-aligned datasets: images, labels, augmentation/theta ...
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    first_path: str | None = None
    reused: bool = False


def files_digest(batches: Sequence[Segments]) -> str:
    """SHA-256 of each file's path, size and modification time (-1 when unreadable)."""
    digest = hashlib.sha256()
    for segments in batches:
        for path, _ in iter_segments(segments):
            size, mtime = file_stat(path)
            digest.update(f"{path}\t{size}\t{mtime}\n".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def write_shard(task: ShardTask) -> ShardResult:
    """Write one partition's shard, or reuse the complete one already there (runs on a worker)."""
    digest = files_digest(task.batches)
    reused = read_shard(task.shard, task.key, digest)
    if reused is not None:
        return reused
    os.makedirs(os.path.dirname(task.shard), exist_ok=True)
    spec = task.spec
    rels = [rel for segments in task.batches for _, rel in iter_segments(segments)]
    errors: list[tuple[int, str]] = []
    begin = 0
    with Hdf5Writer(task.shard, compression=spec.compression, batch_size=spec.batch_size) as out:
        out.start_split(
            None,
            labelled=spec.labelled,
            augmentation=spec.columns,
            path_bytes=spec.path_bytes,
        )
        for segments in task.batches:
            work = TransformTask(
                segments,
                spec.pipeline,
                start=task.start + begin,
                split=spec.split,
                plan=spec.plan,
                shown=spec.shown,
            )
            batch = transform_batch(work)
            errors += [(begin + offset, reason) for offset, reason in batch.errors]
            owners = [begin + offset for offset in batch.owners]
            names = [name for name, _ in spec.columns or ()]
            extra = [
                (task.start + owner, copy, (params or AugmentParams()).as_row(names))
                for owner, copy, params in zip(owners, batch.copies, batch.params, strict=True)
            ]
            out.write(
                batch.images,
                [rels[owner] for owner in owners],
                [task.labels[owner] for owner in owners],
                extra if spec.plan is not None else None,
                None if task.order is None else [task.order[owner] for owner in owners],
            )
            begin += batch.count
        out.end_split(skipped=[], allow_empty=True)
        out.finish(
            {
                "shard": {"format": SHARD_FORMAT, "version": SHARD_FORMAT_VERSION},
                "shard_key": task.key,
                "files_sha256": digest,
                "files": len(rels),
                "errors": errors,
            }
        )
    result = read_shard(task.shard, task.key, digest)  # the summary, read as a reuse reads it
    if result is None:  # replaced or damaged since the rename: another run writing here?
        raise ImgprepError(f"{task.shard}: the shard just written cannot be read back")
    return dataclasses.replace(result, reused=False)


def read_shard(path: str, key: str, digest: str) -> ShardResult | None:
    """The summary of a complete shard for ``key`` over unchanged files, else None."""
    import h5py

    if not os.path.isfile(path):
        return None
    try:
        with h5py.File(path, "r") as shard:
            attrs = shard.attrs
            if json.loads(attrs["shard_key"]) != key or json.loads(attrs["files_sha256"]) != digest:
                return None
            images = shard.get("images")
            return ShardResult(
                columns=tuple(sorted(_columns(shard))),
                rows=int(attrs["count"]),
                errors=[
                    (int(offset), str(reason)) for offset, reason in json.loads(attrs["errors"])
                ],
                shape=tuple(images.shape[1:]) if images is not None else None,
                dtype=images.dtype.name if images is not None else None,
                first_path=_text(shard["paths"][0]) if images is not None else None,
                reused=True,
            )
    except (OSError, KeyError, ValueError, TypeError):
        return None  # damaged or foreign: written again


def _text(value: Any) -> str:
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


@dataclass
class SplitShards:
    """A split's shards in input order, and what the driver learnt from them."""

    name: str | None
    folder: str
    names: list[str] = field(default_factory=list)  # shard file names, in order
    results: list[ShardResult] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)


def shard_folder(output: str, split: str | None) -> str:
    """Where a split's shards go: ``OUT.h5.shards`` (or its subfolder ``SPLIT``)."""
    root = output + SHARDS_SUFFIX
    return root if split is None else os.path.join(root, split)


def plan_shards(
    items: ItemList, spec: ShardSpec, *, folder: str, partition_files: int, order: Order = None
) -> list[ShardTask]:
    """The split's partitions as shard tasks (batches of ``spec.batch_size`` inside each);
    ``order``: a shuffled split's positions before shuffling, recorded per row and keyed."""
    size = max(partition_files, 1)
    tasks = []
    for number, start in enumerate(range(0, len(items), size)):
        stop = min(start + size, len(items))
        batches = [
            absolute_segments(items.segments(begin, min(begin + spec.batch_size, stop)))
            for begin in range(start, stop, spec.batch_size)
        ]
        located = [path for segments in batches for path, _ in iter_segments(segments)]
        labels = [items.label(i) for i in range(start, stop)]
        files = zip(located, (items.rel(i) for i in range(start, stop)), labels, strict=True)
        positions = None if order is None else order[start:stop].tolist()
        key = spec.key(start, list(files), positions)
        shard = os.path.join(folder, f"part-{number:05d}-{key}.h5")
        tasks.append(ShardTask(shard, key, spec, batches, labels, start, positions))
    return tasks


def collect_split(
    shards: SplitShards,
    tasks: Sequence[ShardTask],
    results: Sequence[ShardResult] | Any,
    items: ItemList,
    *,
    policy: ErrorPolicy,
) -> None:
    """Fold a split's shard results in order: failures (stop or skip), one shape and dtype."""
    first: ShardResult | None = None
    for task, result in zip(tasks, results, strict=True):
        for offset, reason in result.errors:
            policy.failed(shards.skipped, items.path(task.start + offset), reason)
        if result.rows:
            first = first or result
            _check_like(first, result)
            if result.columns != first.columns:
                raise ImgprepError(
                    f"{task.shard}: holds {', '.join(result.columns)}, but the first shard "
                    f"holds {', '.join(first.columns)}; delete the .shards folder and run again"
                )
        shards.names.append(os.path.basename(task.shard))
        shards.results.append(result)


def _check_like(first: ShardResult, other: ShardResult) -> None:
    """One dataset holds one shape and one dtype: the local engine's check, across shards."""
    assert first.shape is not None and other.shape is not None
    check_like_first(
        first.first_path or "",
        first.shape,
        np.dtype(first.dtype),
        other.first_path or "",
        other.shape,
        np.dtype(other.dtype),
    )


def write_virtual_file(
    output: str,
    splits: Sequence[SplitShards],
    metadata: dict[str, Any],
    *,
    absolute_sources: bool = False,
) -> None:
    """Write ``output`` (atomically): virtual datasets over each split's shards.

    The shards are named relative to ``output``'s folder (the pair can be moved together),
    or by absolute paths with ``absolute_sources``: HDF5 resolves a relative source from the
    name the file was opened by, so an output reached through a symbolic link needs them.
    """
    import h5py

    base = os.path.dirname(os.path.abspath(output))

    def named(path: str) -> str:
        return os.path.abspath(path) if absolute_sources else os.path.relpath(path, base)

    referenced: list[str] = []
    with atomic_path(output) as temporary, h5py.File(temporary, "w") as out:
        for split in splits:
            group = out if split.name is None else out.create_group(split.name)
            filled = [
                (os.path.join(split.folder, name), result)
                for name, result in zip(split.names, split.results, strict=True)
                if result.rows
            ]
            total = sum(result.rows for _, result in filled)
            if total == 0:
                raise ImgprepError("no image could be read; nothing to write")
            with h5py.File(filled[0][0], "r") as sample:
                columns = _columns(sample)
            for name, (tail, dtype) in columns.items():
                layout = h5py.VirtualLayout(shape=(total, *tail), dtype=dtype)
                offset = 0
                for path, result in filled:
                    source = h5py.VirtualSource(
                        named(path), name, shape=(result.rows, *tail), dtype=dtype
                    )
                    layout[offset : offset + result.rows] = source
                    offset += result.rows
                group.create_virtual_dataset(name, layout)
            group.attrs["skipped"] = json.dumps(split.skipped)
            group.attrs["count"] = total
            referenced += [named(path) for path, _ in filled]
        write_dataset_attrs(out.attrs, {**metadata, "engine": "dask", "shards": referenced})


def _columns(shard: Any) -> dict[str, tuple[tuple[int, ...], np.dtype]]:
    """Every row-aligned dataset of a shard (``augmentation/theta`` ...): tail shape, dtype."""
    import h5py

    columns: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

    def visit(name: str, node: Any) -> None:
        if isinstance(node, h5py.Dataset):
            columns[name] = (tuple(node.shape[1:]), node.dtype)

    shard.visititems(visit)
    return columns


def remove_stale(root: str, splits: Sequence[SplitShards]) -> int:
    """Delete the shard files under ``root`` (``OUT.h5.shards``) that the new main file does
    not reference: other keys, earlier partition sizes or split layouts, temporaries of
    killed workers; then folders left empty. Other files are left alone. Returns how many."""
    keep = {os.path.join(split.folder, name) for split in splits for name in split.names}
    removed = 0
    for folder, _, names in os.walk(root, topdown=False):
        for name in names:
            path = os.path.join(folder, name)
            ours = _SHARD_NAME.match(name) or _TEMPORARY_NAME.match(name)
            if ours and path not in keep:
                with contextlib.suppress(OSError):
                    os.unlink(path)
                    removed += 1
        if folder != root:
            with contextlib.suppress(OSError):
                os.rmdir(folder)  # only when empty
    return removed
