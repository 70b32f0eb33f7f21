"""``transform``: write a prepared copy of a dataset, with its pipeline and statistics.

The steps: ``imgprep.run.transform_plan`` builds the splits (one input, several named
inputs, or a seeded stratified split of one input) and checks the run before any work; here,
get featurewise statistics (from the plan's stats file, or from a first streaming pass over
the training part only, so no validation or test pixel leaks into them); then stream every
split through the workers and into the writer in input order (on a Dask cluster:
``imgprep.run.shard_pass``).

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
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgprep.api import fitted_pipeline
from imgprep.augment import AugmentParams, AugmentSettings, recorded_columns
from imgprep.errors import ImgprepError, InputError, option
from imgprep.io.formats.base import OutputOptions, Writer
from imgprep.io.formats.registry import check_format, open_writer, writer_class
from imgprep.io.items import ItemList
from imgprep.pixels import PixelKind
from imgprep.run.checks import check_output_space, check_stats_match_images, first_image
from imgprep.run.policy import ErrorPolicy
from imgprep.run.runner import Runner, as_runner
from imgprep.run.shard_pass import run_sharded
from imgprep.run.stats_pass import StatsFold, compute_stats, stats_from_fold
from imgprep.run.tasks import FirstRows, default_batch_size, row_sizes, task_spans
from imgprep.run.transform_plan import TransformPlan, TransformReport
from imgprep.run.worker import AugmentPlan, TransformedBatch, TransformTask, transform_batch
from imgprep.splits import Split
from imgprep.transforms.pipeline import Pipeline


def run_transform(
    plan: TransformPlan,
    *,
    workers: int | Runner = 1,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> TransformReport:
    """Everything ``transform`` does once planned (``plan_transform``): statistics,
    pipeline, writing.

    Before its first row it decodes the run's first image: the dtype every image must
    share and what a stats file is checked against, and the row size that sizes the tasks
    and the room the output needs on its disk (``imgprep.run.checks``).

    When featurewise statistics must be computed from the training part and the output is
    float32 HDF5 (``plan.single_pass``), the training images are decoded once, not twice:
    their rows wait raw in a scratch file beside the output (as decoded; float32 when
    augmented, which holds 8/16-bit originals and float32 copies exactly) while the
    statistics are folded exactly as ``compute_stats`` folds them, then are normalized into
    the file. Every step is a pure function of the pixel values, so the output is
    byte-identical to computing the statistics first (``single_pass=False``, tested).

    Args:
        plan: what ``plan_transform`` checked and decided.
        workers: worker processes, or a runner (a ``DaskRunner`` writes HDF5 shards).
        progress: called with the number of files finished (``plan.total`` in all).
        on_skip: called with (path, reason) for each file skipped under ``on_error="skip"``.
    """
    request = plan.request
    if plan.fmt is None or request.output is None:
        raise InputError("this transform plan writes a preview only: there is no output")
    runner = as_runner(workers)
    policy = ErrorPolicy(request.on_error, on_skip)
    options = request.options
    if runner.on_cluster and not request.on_cluster:  # planned for this machine
        check_format(plan.fmt, options, on_cluster=True)
    first = first_image(plan.splits, options.decode, policy=policy)
    if plan.augment is not None and first is not None:  # color "keep": the first image's
        plan.augment.settings.check_channels(first[1].shape[2])
    allow = request.allow_mismatch
    expect = check_stats_match_images(plan.stats, first, options, allow_mismatch=allow)
    first_rows = FirstRows(options)
    batch_size = request.batch_size or default_batch_size(
        plan.splits, options, plan.fmt, plan.augment, first_rows
    )
    check_output_space(
        plan.splits,
        options,
        request.output,
        fmt=plan.fmt,
        plan=plan.augment,
        compression=request.compression,
        first_rows=first_rows,
    )
    job = _Job(plan, runner, batch_size, policy, expect, first_rows)
    if not options.needs_stats:
        pipeline = Pipeline(options)
    elif plan.stats is not None:
        pipeline = fitted_pipeline(options, plan.stats)
    else:
        assert plan.fit_split is not None
        if plan.single_pass and not runner.on_cluster:
            return job.run(None, progress, plan.fit_split)
        computed = compute_stats(
            plan.splits[plan.fit_split].discovery,
            settings=options.decode,
            workers=runner,
            batch_size=batch_size,
            on_error=request.on_error,
            progress=progress,
        )
        pipeline = Pipeline(options, computed)
    if runner.on_cluster:
        return run_sharded(plan, pipeline, runner, batch_size=batch_size, policy=policy,
                           expect=expect)  # fmt: skip
    return job.run(pipeline, progress)


@dataclass
class _Job:
    """One planned transform run on this machine: the plan, and how its tasks are cut."""

    plan: TransformPlan
    runner: Runner
    batch_size: int
    policy: ErrorPolicy
    expect: PixelKind | None  # what every image must decode to (workers check it)
    first_rows: FirstRows  # each split's first row size, decoded once

    def run(
        self,
        pipeline: Pipeline | None,
        progress: Callable[[int], None] | None,
        fit_split: int | None = None,
    ) -> TransformReport:
        """Write every split; with ``fit_split``, fit the statistics on it in the same pass."""
        plan, request = self.plan, self.plan.request
        assert plan.fmt is not None and request.output is not None
        chosen = OutputOptions(request.compression, self.batch_size, request.overwrite)
        writer = open_writer(plan.fmt, request.output, chosen)
        order = list(range(len(plan.splits)))
        if fit_split is not None:
            order.remove(fit_split)
            order.insert(0, fit_split)
        report = TransformReport(stats_source=plan.stats_source)
        with writer:
            for ordinal in order:
                split_plan = plan.split_plan(ordinal)
                if ordinal == fit_split:
                    pipeline = self._write_and_fit(writer, ordinal, split_plan, report, progress)
                else:
                    assert pipeline is not None
                    self._write_split(writer, ordinal, pipeline, split_plan, report, progress)
            assert pipeline is not None
            report.stats = pipeline.stats
            writer.finish(plan.metadata(pipeline))
        return report

    def _write_and_fit(
        self,
        writer: Writer,
        ordinal: int,
        plan: AugmentPlan | None,
        report: TransformReport,
        progress: Callable[[int], None] | None,
    ) -> Pipeline:
        """Hold the split's rows raw while folding its statistics, then write them normalized."""
        assert writer.holds_raw_rows  # single_pass_applies asked the format
        split = self.plan.splits[ordinal]
        options = self.plan.request.options
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
        split = self.plan.splits[ordinal]
        key = split.name or ""
        items = split.discovery.items
        columns = tuple(recorded_columns(plan.settings)) if plan is not None else None
        layout: dict[str, Any] = {
            "labelled": split.discovery.labelled,
            "augmentation": columns,
            "path_bytes": items.longest_rel_bytes(),
        }
        names = self.plan.png_names[ordinal] if self.plan.png_names else None
        # with a fold the statistics are still to come: rows wait raw (holds_raw_rows formats)
        writer.start_split(split.name, names=names, hold_images=fold is not None, **layout)
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
            fmt=self.plan.fmt,
            first_rows=self.first_rows,
            shown=self.plan.shown(ordinal),
        )
        # closing(): a stop (bad file, full disk, Ctrl-C) cancels the queued work at once
        with contextlib.closing(batches):
            for start, batch in batches:
                written += self._take_batch(
                    writer,
                    split,
                    start,
                    batch,
                    plan,
                    fold,
                    skipped,
                    [n for n, _ in columns or ()],
                )
                if progress:
                    progress(batch.count)
        writer.end_split(skipped=skipped)
        report.written[key] = written
        report.skipped[key] = skipped
        report.found[key] = len(items)

    def _take_batch(
        self,
        writer: Writer,
        split: Split,
        start: int,
        batch: TransformedBatch,
        plan: AugmentPlan | None,
        fold: StatsFold | None,
        skipped: list[dict[str, str]],
        columns: list[str],
    ) -> int:
        """Fold a batch's statistics, record its failures, write its rows (with the split's
        recorded augmentation ``columns``, and a shuffled split's permutation); rows written."""
        items = split.discovery.items
        if fold is not None:
            assert batch.summary is not None
            before = len(fold.skipped)
            fold.add_batch(start, batch.summary)
            if len(fold.skipped) - before > len(batch.errors):
                raise InputError(
                    f"the training images mix bit depths or "
                    f"channel counts; choose {option('color')} "
                    f"(or pass {option('stats')} computed beforehand)"
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
                (start + offset, copy, (params or AugmentParams()).as_row(columns))
                for offset, copy, params in zip(owners, batch.copies, batch.params, strict=True)
            ]
        if split.order is None:  # only records_order formats take a permutation
            writer.write(images, rels, labels, extra)
        else:
            permutation = split.order[np.add(owners, start)]
            writer.write(images, rels, labels, extra, permutation=permutation)
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
    shown: AugmentSettings | None = None,
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
                shown=shown,
            )

    for batch in runner.map_batches(transform_batch, tasks()):
        yield starts.popleft(), batch
