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
import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep.api import fitted_pipeline
from imgprep.augment import AugmentParams, recorded_columns
from imgprep.errors import ImgprepError, InputError
from imgprep.io.atomic import resolve_target
from imgprep.io.formats.base import OutputOptions, Writer
from imgprep.io.formats.hdf5 import Hdf5Writer
from imgprep.io.formats.png import PngWriter
from imgprep.io.formats.registry import check_format, open_writer, writer_class
from imgprep.io.items import ItemList
from imgprep.pixels import PixelKind
from imgprep.run.checks import (
    check_output_space,
    check_stats_match_images,
    check_stats_space,
    first_image,
    plan_output,
)
from imgprep.run.policy import ErrorPolicy
from imgprep.run.runner import Runner, as_runner
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
from imgprep.run.stats_pass import StatsFold, compute_stats, stats_from_fold
from imgprep.run.tasks import FirstRows, default_batch_size, row_sizes, task_spans
from imgprep.run.worker import AugmentPlan, TransformedBatch, TransformTask, transform_batch
from imgprep.splits import Split, augmented_splits, training_split
from imgprep.stats.file import Stats
from imgprep.transforms.pipeline import Pipeline, PipelineOptions


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
    workers: int | Runner = 1,
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
    runner = as_runner(workers)
    policy = ErrorPolicy(on_error, on_skip)
    on_cluster = runner.on_cluster
    check_format(fmt, options, on_cluster=on_cluster)
    names = (
        planned
        if planned is not None
        else plan_output(splits, output, fmt=fmt, overwrite=overwrite, plan=plan)
    )
    if options.zca and (stats is None or not stats.zca):
        raise InputError("--zca needs --stats STATS.json written by fit-stats --zca")
    if stats is not None and options.needs_stats:
        check_stats_space(stats, options, allow_mismatch=allow_mismatch)
    first = first_image(splits, options.decode, policy=policy)
    used = stats if options.needs_stats else None
    expect = check_stats_match_images(used, first, options, allow_mismatch=allow_mismatch)
    first_rows = FirstRows(options)
    batch_size = batch_size or default_batch_size(splits, options, fmt, plan, first_rows)
    check_output_space(
        splits, options, output, fmt=fmt, plan=plan, compression=compression, first_rows=first_rows
    )
    job = _Job(splits, output, fmt, compression, overwrite, runner, batch_size, policy, plan, names)
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
            return job.run(options, None, source, progress, index)
        computed = compute_stats(
            splits[index].discovery,
            settings=options.decode,
            workers=runner,
            batch_size=batch_size,
            on_error=on_error,
            progress=progress,
        )
        pipeline = Pipeline(options, computed)
    if on_cluster:
        return job.run_sharded(pipeline, source)
    return job.run(options, pipeline, source, progress)


def single_pass_applies(fmt: str, options: PipelineOptions) -> bool:
    """Whether computed statistics come from the writing pass itself (float32 HDF5 holds the
    raw rows exactly) rather than from a separate statistics pass."""
    return writer_class(fmt).holds_raw_rows and options.dtype in ("auto", "float32")


@dataclass
class _Job:
    """One transform run: the splits, where they go, and how."""

    splits: Sequence[Split]
    output: str
    fmt: str
    compression: str
    overwrite: bool
    runner: Runner
    batch_size: int
    policy: ErrorPolicy
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
        fit_split: int | None = None,
    ) -> TransformReport:
        """Write every split; with ``fit_split``, fit the statistics on it in the same pass."""
        splits = self.splits
        chosen = OutputOptions(self.compression, self.batch_size, self.overwrite)
        writer = open_writer(self.fmt, self.output, chosen)
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
                                                   progress)  # fmt: skip
                else:
                    assert pipeline is not None
                    self._write_split(writer, ordinal, pipeline, split_plan, report, progress)
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
    ) -> TransformReport:
        """Write every split as shards on the Dask cluster, then the virtual main file."""
        runner: Any = self.runner  # a DaskRunner: shards are written by partitions
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
                columns=tuple(recorded_columns()) if ordinal in augmented else None,
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
                collect_split(shards, tasks, results, items, policy=self.policy)
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
        writer: Writer,
        ordinal: int,
        options: PipelineOptions,
        plan: AugmentPlan | None,
        report: TransformReport,
        progress: Callable[[int], None] | None,
    ) -> Pipeline:
        """Hold the split's rows raw while folding its statistics, then write them normalized."""
        assert isinstance(writer, Hdf5Writer)  # the one format that holds_raw_rows
        split = self.splits[ordinal]
        # the fold only decides what stops: the failures are reported as the rows are written
        fold = StatsFold(split.discovery.items, ErrorPolicy(self.policy.mode))
        raw = Pipeline.unfitted(options)
        self._write_split(writer, ordinal, raw, plan, report, progress, fold=fold)
        stats = stats_from_fold(fold, split.discovery, options.decode)
        pipeline = Pipeline(options, stats)
        writer.release_images(pipeline.apply_block)
        return pipeline

    def _write_split(
        self,
        writer: Writer,
        ordinal: int,
        pipeline: Pipeline,
        plan: AugmentPlan | None,
        report: TransformReport,
        progress: Callable[[int], None] | None,
        *,
        fold: StatsFold | None = None,
    ) -> None:
        split = self.splits[ordinal]
        key = split.name or ""
        items = split.discovery.items
        layout: dict[str, Any] = {
            "labelled": split.discovery.labelled,
            "augmentation": tuple(recorded_columns()) if plan is not None else None,
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
            self.runner,
            ordinal,
            plan,
            fit=fold is not None,
            fmt=self.fmt,
            first_rows=self.first_rows,
        )
        # closing(): a stop (bad file, full disk, Ctrl-C) cancels the queued work at once
        with contextlib.closing(batches):
            for start, batch in batches:
                written += self._take_batch(writer, items, start, batch, plan, fold, skipped)
                if progress:
                    progress(batch.count)
        writer.end_split(skipped=skipped)
        report.written[key] = written
        report.skipped[key] = skipped
        report.found[key] = len(items)

    def _take_batch(
        self,
        writer: Writer,
        items: ItemList,
        start: int,
        batch: TransformedBatch,
        plan: AugmentPlan | None,
        fold: StatsFold | None,
        skipped: list[dict[str, str]],
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
            self.policy.failed(skipped, items.path(start + offset), reason)
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
                (start + offset, copy, (params or AugmentParams()).as_row())
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


def _batches(
    items: ItemList,
    pipeline: Pipeline,
    batch_size: int,
    runner: Runner,
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
                uniform=writer_class(fmt).uniform_rows,
            )

    for batch in runner.map_batches(transform_batch, tasks()):
        yield starts.popleft(), batch
