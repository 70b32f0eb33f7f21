"""``transform``: write a prepared copy of a dataset, with its pipeline and statistics.

The steps: build the splits (one input, several named inputs, or a seeded stratified split
of one input); get featurewise statistics (from a stats file, refused if computed in another
pre-processing space, or from a first streaming pass over the training part only, so no
validation or test pixel leaks into them); then stream every split through the workers and
into the writer in input order.

Memory. A task holds at most ``batch_size`` files (default: about 4 MiB of output rows,
1 to 1024 files, or 64 for a PNG tree without ``--size``; see ``default_batch_size``) and,
whatever ``batch_size``, at most about ``TASK_BYTES`` (4 MiB) of output rows and
``MAX_TASK_ROWS`` (8,192) rows, or one row when a row alone is larger (``task_spans``). Row
sizes come from the first file of each split when rows share one size (HDF5, or
``--size``), else from each file's header (``imgprep.io.peek``: about 10 us per PNG, 50 us
per other file, read as tasks are submitted). A file whose copies exceed a task is cut into
ranges of its copies: each copy is keyed by (seed, split, image, copy), so the pixels and
parameters are the same. An HDF5 task ends at the first image whose row would differ from
its first (the run stops there anyway). At most ``2 * workers`` tasks are in flight, and
their results wait in the main process until written. So the peak RSS of any one process
is about::

    (2 x workers + 2) x max(16 MiB, one output row) + 100 MiB

(16 MiB: a task's 4 MiB of rows and its rows' Python objects, about 1.5 kB per augmented
row; 100 MiB: the interpreter, NumPy, Pillow, OpenCV and h5py, 80 MiB measured), plus the
list of input paths (about 150 bytes per file) and, for a PNG tree with copies, about 1 kB
per written copy (its manifest records, kept until ``imgprep.json`` is written). The same
with or without augmentation, for any ``--batch-size`` (``tests/faults/test_memory_*``).
Each worker holds about 3 x max(4 MiB, one row) besides one image being decoded.

Measured (peak RSS of the largest process, -j 1 / -j 2): six 9,400 x 9,400 RGBA PNGs to a
PNG tree, 6.3 GB before, 1.4 / 1.1 GB now (4 and 3 decoded images of 353 MB);
``--copies 200000`` of an 8 x 8 image, 1.6 GB before, 128 / 140 MB; 100 float32 copies of
a 512 x 512 RGB image, 1.03 GB before at any ``--batch-size``, 108 MB now with the default
and with ``--batch-size 1``; 40 photos to 224 x 224 float32 (``bench/transform_bench.py``):
87 MB without augmentation, 110 MB with 8 copies at the default batch and at
``--batch-size 1``, 96 MB with -j 2. Absurd outputs are refused before any work
(``check_output_space``).
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep.api import fitted_pipeline
from imgprep.augment import AugmentParams
from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, ImgprepError, InputError
from imgprep.io.atomic import resolve_target
from imgprep.io.bitdepth import PixelKind
from imgprep.io.decode import bomb_warnings_silenced, decode_file
from imgprep.io.discover import (
    IMAGE_EXTENSIONS,
    Discovery,
    ItemList,
    class_folder_names,
    discover,
)
from imgprep.io.formats.writers import CHUNK_BYTES, Hdf5Writer, PngWriter
from imgprep.io.peek import decoded_size
from imgprep.io.space import check_fits
from imgprep.plan import check_named_inputs, check_output, plan_png_tree
from imgprep.run.engine import (
    StatsFold,
    Workers,
    compute_stats,
    ordered_map,
    stats_from_fold,
)
from imgprep.run.shards import (
    ShardSpec,
    SplitShards,
    collect_split,
    plan_shards,
    remove_stale,
    shard_folder,
    write_shard,
    write_virtual_file,
)
from imgprep.run.worker import AugmentPlan, TransformedBatch, TransformTask, transform_batch
from imgprep.splits import stratified_split
from imgprep.stats.file import Stats
from imgprep.summary import HDF5_EXTENSIONS
from imgprep.transforms.pipeline import Pipeline, PipelineOptions

FORMATS = ("hdf5", "png")
TRAIN = "train"


@dataclass
class Split:
    """One part of the output: its name (None for a single input) and its images."""

    name: str | None
    discovery: Discovery


@dataclass
class TransformReport:
    """What was written: per split, images written and files skipped; the stats used."""

    written: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    found: dict[str, int] = field(default_factory=dict)
    stats: Stats | None = None
    stats_source: str = ""
    shards: int = 0  # with --engine dask: shards in the output, and how many were reused
    reused: int = 0

    def processed(self, key: str) -> int:
        """Source images written (once each, whatever the number of copies)."""
        return self.found[key] - len(self.skipped[key])


# Suffixes that name a file, not a folder: ``-o`` ending so is refused rather than written as
# a PNG folder of that name (``-o train.hdf``, ``-o x.txt``); any other name is a folder
# (``-o mnist-1.0``, ``-o run.v2``).
FILE_SUFFIXES = frozenset(
    {
        ".hdf", ".hdf4", ".nc", ".json", ".txt", ".csv", ".tsv", ".npy", ".npz",
        ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".toml", ".yaml", ".yml",
        ".pkl", ".pickle", ".pt", ".pth", ".tfrecord", ".parquet", ".arrow", ".lmdb", ".db",
        ".sqlite", ".mat", ".bin", ".dat",
    }
)  # fmt: skip


def output_format(output: str, requested: str | None) -> str:
    """``hdf5`` for .h5/.hdf5/.he5 paths (``summary.HDF5_EXTENSIONS``, what inspect reads as
    HDF5), ``png`` (a folder) otherwise, unless ``requested``; a suffix that names another
    kind of file (``FILE_SUFFIXES`` and the image formats' own: ``train.hdf``, ``x.txt``,
    ``a.png``) is refused rather than silently written as a PNG folder of that name, unless
    that folder exists already."""
    if requested:
        if requested not in FORMATS:
            raise InputError(f"invalid format {requested!r}: choose hdf5 or png")
        return requested
    if output in ("-", "/dev/stdout"):
        raise InputError(
            "a dataset cannot be written to standard output (HDF5 needs a file it can seek "
            "in, a PNG tree a folder); give a file name such as out.h5"
        )
    if output.lower().endswith(HDF5_EXTENSIONS):
        return "hdf5"
    suffix = os.path.splitext(os.path.basename(os.path.normpath(output)))[1].lower()
    named_file = suffix in FILE_SUFFIXES or suffix in IMAGE_EXTENSIONS
    if named_file and not os.path.isdir(output):
        raise InputError(
            f"cannot tell what to write to {output}: name an HDF5 file .h5 or .hdf5, or a "
            "folder for a PNG tree (or say which with --format)"
        )
    return "png"


def check_format(fmt: str, options: PipelineOptions, *, on_cluster: bool = False) -> None:
    """Refuse, before any work, a pipeline the output format cannot hold exactly, and a PNG
    tree from a cluster (which writes HDF5 shards)."""
    if on_cluster and fmt != "hdf5":
        raise InputError(
            "--engine dask writes HDF5 (shards joined by virtual datasets); write a PNG tree "
            "with --engine local"
        )
    if fmt == "png" and options.makes_floats:
        raise InputError(
            "a float pipeline (rescale, centre or standardize) cannot be written as PNG without "
            "clipping; write HDF5 (-o FILE.h5) instead"
        )
    if fmt == "png" and options.dtype not in ("auto", "uint8", "uint16"):
        raise InputError(f"PNG output holds integers only, not {options.dtype}")


def build_splits(
    inputs: Sequence[str],
    named: Sequence[tuple[str, str]],
    split_spec: Sequence[tuple[str, float]] | None,
    seed: int | None,
) -> list[Split]:
    """The splits to write, from plain inputs, ``--input NAME=PATH`` or ``--split``."""
    if named and inputs:
        raise InputError("give either INPUTS or --input NAME=PATH, not both")
    if named:
        if split_spec:
            raise InputError("--split divides one input; it cannot be combined with --input")
        names = [name for name, _ in named]
        if len(set(names)) != len(names):
            raise InputError(f"--input names must be unique, got {', '.join(names)}")
        check_named_inputs(named)
        classes = class_folder_names([path for _, path in named])
        return [Split(name, discover([path], class_names=classes)) for name, path in named]
    found = discover(list(inputs))
    if not split_spec:
        return [Split(None, found)]
    if seed is None:
        raise InputError("--split needs --seed so that the split can be reproduced")
    if seed < 0:
        raise InputError(f"--seed must be >= 0, got {seed}")
    parts = stratified_split(found.items.labels(), split_spec, seed)
    empty = [name for name, _ in split_spec if not parts[name]]
    if empty:
        raise InputError(
            f"split {empty[0]!r} would be empty: {len(found.items)} image(s) cannot be divided "
            f"as {', '.join(f'{n}={f:g}' for n, f in split_spec)} per class; use fewer splits "
            "or more images"
        )
    return [
        Split(
            name,
            Discovery(
                items=found.items.take(parts[name]),
                classes=found.classes,
                ignored=found.ignored,
                inputs=found.inputs,
            ),
        )
        for name, _ in split_spec
    ]


FALLBACK_BATCH = 64  # files per task at most when the size of the output rows is not known
MAX_BATCH = 1024
TASK_BYTES = CHUNK_BYTES  # output rows a task holds: about this many bytes, or one row
# and at most this many rows: an augmented row also costs about 1.5 kB of Python objects
# (its parameters, owner, copy number) in the worker and again in the main process
MAX_TASK_ROWS = 8192


def default_batch_size(
    splits: Sequence[Split],
    options: PipelineOptions,
    fmt: str,
    plan: AugmentPlan | None,
    first_rows: FirstRows | None = None,
) -> int:
    """Files per transform task when none is given: about 4 MiB of output rows (1 to 1024
    files), or 64 when row sizes may vary (a PNG tree without ``--size``).

    The rows' size comes from the first file, decoded here (HDF5 rows all share its shape,
    or the run stops). The choice depends on the data and the options only, never on
    ``--workers``: the batch also sets the HDF5 chunk shape, and the file must be the same
    byte for byte with any number of workers. 28x28 digits go 1024 to a task instead of 64
    (a task costs about 1 ms besides its files: 3.4 s instead of 3.9 s for 60,000 on 2
    workers); 224x224 RGB float32 rows go 6 to a task (4 MiB, rather than 38 MB at 64).
    This is the most files a task holds: ``task_spans`` cuts tasks by bytes as well.
    """
    items = splits[0].discovery.items
    if not len(items) or (fmt != "hdf5" and options.decode.size is None):
        return FALLBACK_BATCH
    row_bytes = (first_rows or FirstRows(options)).of(items)
    if row_bytes is None:
        return FALLBACK_BATCH
    rows_per_file = plan.rows_per_file if plan is not None else 1
    return max(1, min(MAX_BATCH, CHUNK_BYTES // (row_bytes * rows_per_file)))


class FirstRows:
    """Bytes of the output row of each split's first file, decoded once per run: the batch
    size, the space check and the task cutting all need it, and one 9,400 x 9,400 PNG takes
    seconds to decode. Keyed by the split's item list (one object per split)."""

    def __init__(self, options: PipelineOptions) -> None:
        self._pipeline = Pipeline.unfitted(options)
        self._known: dict[int, int | None] = {}

    def of(self, items: ItemList) -> int | None:
        key = id(items)
        if key not in self._known:
            self._known[key] = first_row_bytes(items, self._pipeline)
        return self._known[key]


def first_row_bytes(items: ItemList, pipeline: Pipeline) -> int | None:
    """Bytes of the output row of the first file (decoded here), None if it cannot be read."""
    if not len(items):
        return None
    try:
        with bomb_warnings_silenced():
            first = decode_file(items.path(0), pipeline.decode).array
    except ImgprepError:  # the run itself reports it
        return None
    return max(1, first.size * np.dtype(pipeline.output_dtype(first.dtype)).itemsize)


def row_sizes(
    items: ItemList, pipeline: Pipeline, fmt: str, first_rows: FirstRows | None = None
) -> Iterator[int]:
    """Bytes of one output row of each file, in order, lazily: the first file's for all of
    them when rows share a size (HDF5, or ``--size``), else each file's header's
    (``imgprep.io.peek``); a file whose header says nothing counts as a whole task."""
    known = None
    if fmt == "hdf5" or pipeline.decode.size is not None:
        known = first_rows.of(items) if first_rows else first_row_bytes(items, pipeline)
    if known is not None:
        yield from itertools.repeat(known, len(items))
        return
    color = pipeline.decode.color
    for index in range(len(items)):
        size = decoded_size(items.path(index), color)
        if size is None:
            yield TASK_BYTES
        else:
            values, dtype = size
            yield max(1, values * np.dtype(pipeline.output_dtype(np.dtype(dtype))).itemsize)


@dataclass(frozen=True)
class TaskSpan:
    """The files ``start:stop`` of a task, or with ``rows`` a range of one file's rows."""

    start: int
    stop: int
    rows: tuple[int, int] | None = None


def task_spans(sizes: Iterable[int], batch_size: int, rows_per_file: int = 1) -> Iterator[TaskSpan]:
    """Cut consecutive files into tasks of at most ``batch_size`` files, ``MAX_TASK_ROWS``
    rows and about ``TASK_BYTES`` of output rows (``sizes``: one row's bytes per file); a
    file whose rows alone exceed that gets tasks of its own, each a range of its rows
    (copies) within those bounds (at least one row).

    Deterministic: a function of the files and the options, never of ``--workers``. For
    rows of one size it gives what a count of files did before: ``TASK_BYTES // row`` files
    (at most ``batch_size``) per task.
    """
    start = total = 0
    index = -1
    for index, size in enumerate(sizes):
        cost = size * rows_per_file
        files = index - start
        if files and (
            total + cost > TASK_BYTES
            or files >= batch_size
            or (files + 1) * rows_per_file > MAX_TASK_ROWS
        ):
            yield TaskSpan(start, index)
            start, total = index, 0
        if rows_per_file > 1 and (cost > TASK_BYTES or rows_per_file > MAX_TASK_ROWS):
            if index > start:
                yield TaskSpan(start, index)
            step = max(1, min(MAX_TASK_ROWS, TASK_BYTES // size))
            for first in range(0, rows_per_file, step):
                yield TaskSpan(index, index + 1, (first, min(rows_per_file, first + step)))
            start, total = index + 1, 0
            continue
        total += cost
    if index + 1 > start:
        yield TaskSpan(start, index + 1)


MIN_PNG_BYTES = 67  # the smallest PNG file: signature, IHDR, one IDAT, IEND
# HDF5 columns beside ``images`` (never compressed): labels; source_index, copy and the
# sampled parameters (eight float64, two flags) of an augmented split
_LABEL_BYTES = 8
_AUGMENTATION_BYTES = 8 + 4 + 8 * 8 + 2


def check_output_space(
    splits: Sequence[Split],
    options: PipelineOptions,
    output: str,
    *,
    fmt: str,
    plan: AugmentPlan | None,
    compression: str = "none",
    first_rows: FirstRows | None = None,
) -> None:
    """Refuse, before any work, a run whose output cannot fit on the disk that would hold
    it (``imgprep.io.space``): its rows times the bytes each row surely takes. For HDF5
    that is the uncompressed columns, and the pixels too unless compressed (the first
    file of each split gives their size, rows all share it); for a PNG tree, one file of
    at least ``MIN_PNG_BYTES`` per row (and one inode)."""
    augmented = augmented_splits(splits) if plan is not None else set()
    first_rows = first_rows or FirstRows(options)
    rows = needed = 0
    for ordinal, split in enumerate(splits):
        items = split.discovery.items
        count = len(items) * (plan.rows_per_file if plan and ordinal in augmented else 1)
        if fmt == "png":
            per_row = MIN_PNG_BYTES
        else:
            per_row = items.longest_rel_bytes() if len(items) else 0
            per_row += _LABEL_BYTES if split.discovery.labelled else 0
            per_row += _AUGMENTATION_BYTES if ordinal in augmented else 0
            if compression == "none" and len(items):
                per_row += first_rows.of(items) or 0
        rows += count
        needed += count * per_row
    if not rows:
        return
    what = f"--copies {plan.copies}" if plan is not None and plan.copies > 1 else "this run"
    check_fits(output, rows, -(-needed // rows), files=fmt == "png", what=what)


def check_stats_space(stats: Stats, options: PipelineOptions, *, allow_mismatch: bool) -> None:
    """Refuse statistics computed on differently prepared images (colour, size, resize)."""
    if stats.settings.same_space(options.decode) or allow_mismatch:
        return
    raise InputError(
        "the statistics were computed on differently prepared images: stats file has "
        f"{stats.settings.describe()}, this run has {options.decode.describe()}; recompute "
        "them with the same options or pass --allow-stats-mismatch"
    )


def first_image(
    splits: Sequence[Split], settings: DecodeSettings, *, on_error: str
) -> tuple[str, np.ndarray] | None:
    """The run's first decodable image (path, array), decoded before anything is written:
    the dtype every other image must share, and what a stats file is checked against.

    None when the first file cannot be read and the run stops there anyway, or when no file
    can be read at all (under ``--on-error skip`` the files are tried in order until one
    decodes); the run itself then reports it.
    """
    with bomb_warnings_silenced():
        for split in splits:
            items = split.discovery.items
            for index in range(len(items)):
                path = items.path(index)
                try:
                    return path, decode_file(path, settings).array
                except DecodeError:
                    if on_error == "stop":
                        return None
    return None


def check_stats_match_images(
    stats: Stats | None,
    first: tuple[str, np.ndarray] | None,
    options: PipelineOptions,
    *,
    allow_mismatch: bool = False,
) -> PixelKind | None:
    """Refuse statistics of another dtype or channel count than the images' (exit 2), and
    return what every image of the run must then decode to (checked per file by the workers).

    Statistics of 16-bit pixels subtracted from 8-bit ones give numbers on no scale at all, so
    a dtype mismatch is refused even with ``--allow-stats-mismatch``. A channel mismatch is
    allowed by it only when the statistics are applied as one global value (``--stats-scope
    global``, without ZCA), which is defined for any channel count; per-channel statistics of
    another channel count cannot be applied at all. Without statistics, the first image's
    dtype is the run's (a later image of another depth is a mix, see ``imgprep.io.bitdepth``).
    """
    if stats is None:
        return PixelKind(first[1].dtype.name) if first is not None else None
    global_values = options.scope("featurewise") == "global" and not options.zca
    loose = allow_mismatch and global_values
    kind = PixelKind(stats.dtype, None if loose else (stats.channels or None), from_stats=True)
    reason = kind.mismatch(first[1]) if first is not None else None
    if first is not None and reason is not None:
        raise InputError(f"{first[0]}: {reason}")
    return kind


def run_transform(
    splits: Sequence[Split],
    options: PipelineOptions,
    output: str,
    *,
    fmt: str,
    stats: Stats | None = None,
    allow_mismatch: bool = False,
    compression: str = "none",
    overwrite: bool = False,
    workers: Workers = 1,
    batch_size: int | None = None,
    on_error: str = "stop",
    plan: AugmentPlan | None = None,
    single_pass: bool = True,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    planned: list[dict[str, str]] | None = None,
) -> TransformReport:
    """Everything ``transform`` does: statistics, pipeline, writing.

    ``planned`` is what ``plan_output`` returned for these splits and this output, when the
    caller checked them already (the command line does, before its preview); otherwise the
    output rules are checked here.

    When featurewise statistics must be computed from the training part and the output is
    float32 HDF5, the training images are decoded once, not twice: their rows wait raw in a
    scratch file beside the output (as decoded; float32 when augmented, which holds 8/16-bit
    originals and float32 copies exactly) while the statistics are folded exactly as
    ``compute_stats`` folds them, then are normalized into the file. Every step is a pure
    function of the pixel values, so the output is byte-identical to computing the
    statistics first (``single_pass=False``, tested).
    """
    check_format(fmt, options, on_cluster=not isinstance(workers, int))
    names = (
        planned
        if planned is not None
        else plan_output(splits, output, fmt=fmt, overwrite=overwrite, plan=plan)
    )
    if options.zca and (stats is None or not stats.zca):
        raise InputError("--zca needs --stats STATS.json written by fit-stats --zca")
    if stats is not None and options.needs_stats:
        check_stats_space(stats, options, allow_mismatch=allow_mismatch)
    first = first_image(splits, options.decode, on_error=on_error)
    used = stats if options.needs_stats else None
    expect = check_stats_match_images(used, first, options, allow_mismatch=allow_mismatch)
    on_cluster = not isinstance(workers, int)
    first_rows = FirstRows(options)
    batch_size = batch_size or default_batch_size(splits, options, fmt, plan, first_rows)
    check_output_space(
        splits, options, output, fmt=fmt, plan=plan, compression=compression, first_rows=first_rows
    )
    job = _Job(
        splits, output, fmt, compression, overwrite, workers, batch_size, on_error, plan, names
    )
    job.expect = expect
    job.first_rows = first_rows
    if not options.needs_stats:
        pipeline, source = Pipeline(options), ""
    elif stats is not None:
        pipeline, source = fitted_pipeline(options, stats), "stats file"
    else:
        index, label = training_split(splits)
        source = f"computed from {label}"
        if single_pass and not on_cluster and single_pass_applies(fmt, options):
            return job.run(options, None, source, progress, on_skip, index)
        computed = compute_stats(
            splits[index].discovery,
            settings=options.decode,
            workers=workers,
            batch_size=batch_size,
            on_error=on_error,
            progress=progress,
        )
        pipeline = Pipeline(options, computed)
    if on_cluster:
        return job.run_sharded(pipeline, source, on_skip)
    return job.run(options, pipeline, source, progress, on_skip)


def plan_output(
    splits: Sequence[Split],
    output: str,
    *,
    fmt: str,
    overwrite: bool,
    plan: AugmentPlan | None,
) -> list[dict[str, str]]:
    """The output rules of ``imgprep.plan`` for this run, before any image is read: the output
    is none of the inputs, and (a PNG tree) every name it will hold is inside it and unique.

    Returns:
        For a PNG tree, per split, the tree names of files given one by one; else [].
    """
    inputs = [path for split in splits for path in split.discovery.inputs]
    files = frozenset(
        rel
        for split in splits
        for root, rels in split.discovery.items.segments(0, len(split.discovery.items))
        if not root
        for rel in rels
    )
    check_output(output, inputs, folder=fmt == "png", overwrite=overwrite, files=files)
    if fmt != "png":
        return []
    augmented = augmented_splits(splits) if plan is not None else set()
    parts = [
        (split.name, split.discovery.items, plan.copies if index in augmented and plan else 0)
        for index, split in enumerate(splits)
    ]
    return plan_png_tree(output, parts, overwrite=overwrite)


def single_pass_applies(fmt: str, options: PipelineOptions) -> bool:
    """Whether computed statistics come from the writing pass itself (float32 HDF5 holds the
    raw rows exactly) rather than from a separate statistics pass."""
    return fmt == "hdf5" and options.dtype in ("auto", "float32")


_NO_TRAIN_FOR_STATS = (
    f"featurewise statistics must come from the training part: name one split {TRAIN!r} or "
    "pass --stats"
)
_NO_TRAIN_FOR_AUGMENTATION = (
    f"augmentation applies to the training part only: name one split {TRAIN!r}"
)


def training_split(
    splits: Sequence[Split], *, missing: str = _NO_TRAIN_FOR_STATS
) -> tuple[int, str]:
    """The training part: the single input, or the split named 'train' (else ``missing``)."""
    if len(splits) == 1 and splits[0].name is None:
        return 0, "this input"
    for index, split in enumerate(splits):
        if split.name == TRAIN:
            return index, f"the {TRAIN!r} split"
    raise InputError(missing)


@dataclass
class _Job:
    """One transform run: the splits, where they go, and how."""

    splits: Sequence[Split]
    output: str
    fmt: str
    compression: str
    overwrite: bool
    workers: Workers
    batch_size: int
    on_error: str
    plan: AugmentPlan | None
    png_names: list[dict[str, str]]
    expect: PixelKind | None = None  # what every image must decode to (workers check it)
    first_rows: FirstRows | None = None  # each split's first row size, decoded once

    def run(
        self,
        options: PipelineOptions,
        pipeline: Pipeline | None,
        stats_source: str,
        progress: Callable[[int], None] | None,
        on_skip: Callable[[str, str], None] | None,
        fit_split: int | None = None,
    ) -> TransformReport:
        """Write every split; with ``fit_split``, fit the statistics on it in the same pass."""
        splits = self.splits
        writer: Hdf5Writer | PngWriter
        if self.fmt == "hdf5":
            writer = Hdf5Writer(
                self.output, compression=self.compression, batch_size=self.batch_size
            )
        else:
            writer = PngWriter(self.output, overwrite=self.overwrite)
        augmented = augmented_splits(splits) if self.plan is not None else set()
        order = list(range(len(splits)))
        if fit_split is not None:
            order.remove(fit_split)
            order.insert(0, fit_split)
        report = TransformReport(stats_source=stats_source)
        with writer:
            for ordinal in order:
                split_plan = self.plan if ordinal in augmented else None
                if ordinal == fit_split:
                    pipeline = self._write_and_fit(writer, ordinal, options, split_plan, report,
                                                   progress, on_skip)  # fmt: skip
                else:
                    assert pipeline is not None
                    self._write_split(
                        writer, ordinal, pipeline, split_plan, report, progress, on_skip
                    )
            assert pipeline is not None
            report.stats = pipeline.stats
            writer.finish(self.metadata(pipeline, stats_source))
        return report

    def metadata(self, pipeline: Pipeline, stats_source: str) -> dict[str, Any]:
        """The output's attributes: classes, splits, pipeline, statistics, augmentation."""
        splits = self.splits
        metadata: dict[str, Any] = {
            "class_names": splits[0].discovery.classes if splits else [],
            "splits": [split.name for split in splits if split.name is not None],
            "pipeline": pipeline.describe(),
            "stats": pipeline.stats.to_dict() if pipeline.stats is not None else None,
            "stats_source": stats_source,
        }
        if self.plan is not None:
            augmented = augmented_splits(splits)
            metadata["augmentation"] = {
                **self.plan.to_dict(),
                "augmented_splits": [splits[i].name or "" for i in sorted(augmented)],
            }
        return metadata

    def run_sharded(
        self,
        pipeline: Pipeline,
        stats_source: str,
        on_skip: Callable[[str, str], None] | None,
    ) -> TransformReport:
        """Write every split as shards on the Dask cluster, then the virtual main file."""
        runner = self.workers
        target = os.path.abspath(resolve_target(self.output))  # a symbolic link: its target
        augmented = augmented_splits(self.splits) if self.plan is not None else set()
        report = TransformReport(stats_source=stats_source, stats=pipeline.stats)
        done: list[SplitShards] = []
        for ordinal, split in enumerate(self.splits):
            items = split.discovery.items
            folder = shard_folder(target, split.name)
            spec = ShardSpec(
                pipeline=pipeline.expecting(self.expect),
                plan=self.plan if ordinal in augmented else None,
                split=ordinal,
                labelled=split.discovery.labelled,
                path_bytes=items.longest_rel_bytes(),
                compression=self.compression,
                batch_size=self.batch_size,
            )
            tasks = plan_shards(items, spec, folder=folder, partition_files=runner.partition_files)
            shards = SplitShards(split.name, folder)
            desc = f"transform {split.name}" if split.name else "transform"
            results = runner.map(write_shard, [(task,) for task in tasks], desc=desc)
            with contextlib.closing(results):  # at the first error, stop the queued work
                collect_split(
                    shards, tasks, results, items, on_error=self.on_error, on_skip=on_skip
                )
            done.append(shards)
            key = split.name or ""
            report.written[key] = sum(result.rows for result in shards.results)
            report.skipped[key] = shards.skipped
            report.found[key] = len(items)
            report.reused += sum(result.reused for result in shards.results)
            report.shards += len(shards.results)
        write_virtual_file(
            target,
            done,
            self.metadata(pipeline, stats_source),
            absolute_sources=os.path.islink(self.output),
        )
        remove_stale(shard_folder(target, None), done)
        return report

    def _write_and_fit(
        self,
        writer: Hdf5Writer | PngWriter,
        ordinal: int,
        options: PipelineOptions,
        plan: AugmentPlan | None,
        report: TransformReport,
        progress: Callable[[int], None] | None,
        on_skip: Callable[[str, str], None] | None,
    ) -> Pipeline:
        """Hold the split's rows raw while folding its statistics, then write them normalized."""
        assert isinstance(writer, Hdf5Writer)
        split = self.splits[ordinal]
        fold = StatsFold(split.discovery.items, self.on_error, None)
        raw = Pipeline.unfitted(options)
        self._write_split(writer, ordinal, raw, plan, report, progress, on_skip, fold=fold)
        stats = stats_from_fold(fold, split.discovery, options.decode)
        pipeline = Pipeline(options, stats)
        writer.release_images(pipeline.apply_block)
        return pipeline

    def _write_split(
        self,
        writer: Hdf5Writer | PngWriter,
        ordinal: int,
        pipeline: Pipeline,
        plan: AugmentPlan | None,
        report: TransformReport,
        progress: Callable[[int], None] | None,
        on_skip: Callable[[str, str], None] | None,
        *,
        fold: StatsFold | None = None,
    ) -> None:
        split = self.splits[ordinal]
        key = split.name or ""
        items = split.discovery.items
        layout: dict[str, Any] = {
            "labelled": split.discovery.labelled,
            "augmented": plan is not None,
            "path_bytes": items.longest_rel_bytes(),
        }
        if fold is not None:  # statistics still to come: rows wait raw (HDF5 output only)
            assert isinstance(writer, Hdf5Writer)
            writer.start_split(split.name, hold_images=True, **layout)
        elif isinstance(writer, PngWriter):
            writer.start_split(split.name, names=self.png_names[ordinal], **layout)
        else:
            writer.start_split(split.name, **layout)
        skipped: list[dict[str, str]] = []
        written = 0
        pipeline = pipeline.expecting(self.expect)  # workers refuse images of another depth
        batches = _batches(
            items,
            pipeline,
            self.batch_size,
            self.workers,
            ordinal,
            plan,
            fit=fold is not None,
            fmt=self.fmt,
            first_rows=self.first_rows,
        )
        # closing(): a stop (bad file, full disk, Ctrl-C) cancels the queued work at once
        with contextlib.closing(batches):
            for start, batch in batches:
                written += self._take_batch(
                    writer, items, start, batch, plan, fold, skipped, on_skip
                )
                if progress:
                    progress(batch.count)
        writer.end_split(skipped=skipped)
        report.written[key] = written
        report.skipped[key] = skipped
        report.found[key] = len(items)

    def _take_batch(
        self,
        writer: Hdf5Writer | PngWriter,
        items: ItemList,
        start: int,
        batch: TransformedBatch,
        plan: AugmentPlan | None,
        fold: StatsFold | None,
        skipped: list[dict[str, str]],
        on_skip: Callable[[str, str], None] | None,
    ) -> int:
        """Fold a batch's statistics, record its failures, write its rows; rows written."""
        if fold is not None:
            assert batch.summary is not None
            before = len(fold.skipped)
            fold.add_batch(start, batch.summary)
            if len(fold.skipped) - before > len(batch.errors):
                raise InputError(
                    "the training images mix bit depths or channel counts; choose --color "
                    "(or pass --stats computed beforehand)"
                )
        for offset, reason in batch.errors:
            path = items.path(start + offset)
            if self.on_error == "stop":
                raise DecodeError(path, reason)
            skipped.append({"path": path, "reason": reason})
            if on_skip:
                on_skip(path, reason)
        images = batch.images if fold is None or plan is None else _float32(batch.images)
        owners = batch.owners
        # Without augmentation each file gives at most one row and owners ascend: no gap
        # between the first and the last means one slice of the item list.
        if plan is None and owners and owners[-1] - owners[0] == len(owners) - 1:
            rels = items.rels_between(start + owners[0], start + owners[-1] + 1)
            labels = items.labels_between(start + owners[0], start + owners[-1] + 1)
        else:
            rels = [items.rel(start + offset) for offset in owners]
            labels = [items.label(start + offset) for offset in owners]
        extra = None
        if plan is not None:
            extra = [
                (start + offset, copy, params or AugmentParams())
                for offset, copy, params in zip(owners, batch.copies, batch.params, strict=True)
            ]
        writer.write(images, rels, labels, extra)
        if batch.stopped is not None:  # the writer or the statistics refused that row
            path = items.path(start + batch.stopped)
            raise ImgprepError(f"{path}: its rows differ from the images before it")
        return len(images)


def _float32(images: np.ndarray | list[np.ndarray]) -> np.ndarray | list[np.ndarray]:
    """Raw rows of an augmented split as float32, which holds 8/16-bit originals and float32
    copies exactly (rows of one dtype for the writer). Unaugmented raw rows keep the decoded
    dtype: uint8 digits cross the process boundary and wait in a quarter of the bytes."""
    if isinstance(images, np.ndarray):
        return images.astype(np.float32, copy=False)
    return [image.astype(np.float32, copy=False) for image in images]


def augmented_splits(splits: Sequence[Split]) -> set[int]:
    """Which splits are augmented: a single input, or the split named ``train`` only.

    Validation and test data are never augmented, as with Keras users' separate generators.
    """
    index, _ = training_split(splits, missing=_NO_TRAIN_FOR_AUGMENTATION)
    return {index}


def _batches(
    items: ItemList,
    pipeline: Pipeline,
    batch_size: int,
    workers: int,
    split: int = 0,
    plan: AugmentPlan | None = None,
    *,
    fit: bool = False,
    fmt: str = "hdf5",
    first_rows: FirstRows | None = None,
) -> Iterator[tuple[int, TransformedBatch]]:
    """The split's tasks (``task_spans``: bounded in bytes) through the workers, in order.

    The row sizes (file headers for a PNG tree without ``--size``) are read lazily, as
    tasks are submitted, so that with several workers the reading overlaps their work.
    """
    rows_per_file = plan.rows_per_file if plan is not None else 1
    spans = task_spans(row_sizes(items, pipeline, fmt, first_rows), batch_size, rows_per_file)
    starts: deque[int] = deque()

    def tasks() -> Iterator[TransformTask]:
        for span in spans:
            starts.append(span.start)
            yield TransformTask(
                items.segments(span.start, span.stop),
                pipeline,
                start=span.start,
                split=split,
                plan=plan,
                fit=fit,
                rows=span.rows,
                uniform=fmt == "hdf5",
            )

    for batch in ordered_map(transform_batch, tasks(), workers=workers):
        yield starts.popleft(), batch
