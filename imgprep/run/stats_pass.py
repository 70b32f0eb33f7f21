"""The statistics pass: batches of files decoded and summarised by workers, folded in order.

Files are cut into batches; each batch is decoded and summarised by a runner's worker
(``imgprep.run.runner``). Summaries are folded in input order, never completion order, so the
statistics do not depend on the runner, ``workers`` or ``batch_size``; integer pixels are
counted exactly, float pixels merged with Chan's formula one image at a time.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, ImgprepError, InputError
from imgprep.io.decode import DecodedFile, bomb_warnings_silenced, decode_file
from imgprep.io.discover import discover
from imgprep.io.items import Discovery, ItemList, iter_segments
from imgprep.io.remote import file_stat
from imgprep.pixels import mixed_depth_reason
from imgprep.profile import Profiler
from imgprep.run.policy import ErrorPolicy
from imgprep.run.runner import Runner, as_runner
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from imgprep.stats.moments import ExactRun, ImageMoments, batch_moments, is_exact_dtype

DEFAULT_BATCH_SIZE = 256  # files per task on a Dask cluster (partitions group them)
MIN_AUTO_BATCH, MAX_AUTO_BATCH, TASKS_PER_WORKER = 16, 1024, 8
ProgressCallback = Callable[[int], None]


@dataclass(frozen=True)
class StatsTask:
    """One batch for a worker: (root, relative paths) runs and how to decode them."""

    segments: list[tuple[str, tuple[str, ...]]]
    settings: DecodeSettings
    profiles: bool = False  # also a profile row per image (imgprep.profile)

    @property
    def count(self) -> int:
        return sum(len(rels) for _, rels in self.segments)


class Part(NamedTuple):
    """Consecutive images of a batch summarised together (offsets within the batch).

    Integer images with the same dtype and channel count form one exact part; each float
    image is a part of its own, so float results never depend on how files are batched.
    """

    start: int
    stop: int
    dtype: str
    shape: tuple[int, ...] | None  # common H, W, C of the part, None when sizes differ
    moments: ImageMoments


@dataclass
class BatchSummary:
    """What a worker sends back for one batch."""

    count: int
    parts: list[Part]
    errors: list[tuple[int, str]]  # (offset within the batch, reason)
    provenance: bytes  # one line per file, for the running hash
    profiles: np.ndarray | None = None  # PROFILE_DTYPE rows, index = offset in the batch


class BatchSummarizer:
    """Builds a batch's ``BatchSummary`` from decoded images and failures, in file order.

    Shared by fit-stats workers and by transform workers that compute the training
    statistics in the same pass as they write (so both give the same bytes).
    """

    def __init__(self, *, profiles: bool = False) -> None:
        self.profiler = Profiler() if profiles else None
        self.parts: list[Part] = []
        self.errors: list[tuple[int, str]] = []
        self.lines: list[str] = []
        self._run: ExactRun | None = None  # integer images, counted as they come
        self._run_start = 0
        self._run_shape: tuple[int, ...] | None = None  # None once sizes differ

    def add_image(self, offset: int, rel: str, decoded: DecodedFile) -> None:
        array = decoded.array
        self.lines.append(_provenance_line(rel, decoded.size, decoded.mtime_ns))
        if self.profiler is not None:
            self.profiler.add(offset, array)
        if not is_exact_dtype(array.dtype):
            self._flush(offset)
            moments = batch_moments([array])[0]
            self.parts.append(Part(offset, offset + 1, array.dtype.name, array.shape, moments))
            return
        if self._run is not None and not self._run.accepts(array):
            self._flush(offset)
        if self._run is None:
            self._run = ExactRun(array)
            self._run_start = offset
            self._run_shape = array.shape
        elif self._run_shape != array.shape:
            self._run_shape = None
        self._run.add(array)

    def add_error(self, offset: int, rel: str, path: str, reason: str) -> None:
        self._flush(offset)
        self.errors.append((offset, reason))
        self.lines.append(_provenance_line(rel, *file_stat(path)))

    def finish(self, count: int) -> BatchSummary:
        self._flush(count)
        return BatchSummary(
            count=count,
            parts=self.parts,
            errors=self.errors,
            provenance="".join(self.lines).encode("utf-8", "surrogateescape"),
            profiles=self.profiler.rows() if self.profiler is not None else None,
        )

    def _flush(self, stop: int) -> None:
        run = self._run
        if run is not None:
            name = run.dtype.name
            self.parts.append(Part(self._run_start, stop, name, self._run_shape, run.moments()))
            self._run = None


def summarise_batch(task: StatsTask) -> BatchSummary:
    """Decode each file of a batch and summarise it; failures become data, not exceptions."""
    summary = BatchSummarizer(profiles=task.profiles)
    with bomb_warnings_silenced():
        for offset, (path, rel) in enumerate(iter_segments(task.segments)):
            try:
                decoded = decode_file(path, task.settings)
            except DecodeError as exc:
                summary.add_error(offset, rel, path, exc.reason)
                continue
            summary.add_image(offset, rel, decoded)
    return summary.finish(task.count)


def auto_batch_size(files: int, runner: Runner) -> int:
    """Files per statistics task when none is given: at least ``TASKS_PER_WORKER`` tasks per
    worker (so the last tasks balance and the progress bar moves), between 16 and 1024 files.

    Why so large for small images: a task costs about 1 ms besides its files (sending it,
    the summary back, waking the main process), which at 256 MNIST digits per task was 5-10%
    of a 2-worker run on 2 cores (measured: 1.64-1.77 s with 1024, 1.73-2.53 s with 256, in
    interleaved runs). Memory does not grow with it: a worker counts integer pixels into a
    running histogram (``ExactRun``) and holds one image plus at most 4M waiting values.
    Photos get small tasks instead: 400 photos on 2 workers are 25 tasks of 16, not 2 of 256
    split 256 / 144. The result is byte-identical for any batch size.
    """
    if runner.on_cluster:
        return DEFAULT_BATCH_SIZE
    per_task = -(-files // (TASKS_PER_WORKER * runner.slots))
    return max(MIN_AUTO_BATCH, min(MAX_AUTO_BATCH, per_task))


def compute_stats(
    inputs: Sequence[str] | Discovery,
    *,
    settings: DecodeSettings | None = None,
    workers: int | Runner = 1,
    batch_size: int | None = None,
    on_error: str = "stop",
    progress: ProgressCallback | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_profiles: Callable[[np.ndarray], None] | None = None,
) -> Stats:
    """One streaming pass over ``inputs``: per-channel and global statistics.

    Args:
        inputs: directories and files (see ``imgprep.io.discover``) or a ``Discovery``.
        settings: the pre-processing that defines the space of the statistics.
        workers: worker processes, or a runner (``imgprep.run.runner``: a ``DaskRunner``
            from ``imgprep.connect_dask``); the result is byte-identical for any value.
        batch_size: files per task (default: ``auto_batch_size``); the result is
            byte-identical for any value.
        on_error: ``stop`` raises at the first unreadable file (in input order); ``skip``
            records it in ``Stats.skipped`` and goes on.
        progress: called with the number of files finished, after each batch.
        on_skip: called with (path, reason) for each skipped file, as it is skipped.
        on_profiles: when given, workers also profile each image (``imgprep.profile``), and
            this is called with each batch's rows (``PROFILE_DTYPE``, ``index`` the file's
            position in ``inputs``' items), in input order; skipped files have none.

    Raises:
        DecodeError: a file cannot be read and ``on_error == "stop"``.
        ImgprepError: no file at all could be read.
        InputError: bad arguments, missing paths, no images.
    """
    settings = settings or DecodeSettings()
    policy = ErrorPolicy(on_error, on_skip)
    if batch_size is not None and batch_size < 1:
        raise InputError(f"batch_size must be at least 1, got {batch_size}")
    runner = as_runner(workers)
    if isinstance(inputs, Discovery):
        found = inputs
    else:
        found = discover([inputs] if isinstance(inputs, str) else list(inputs))
    items = found.items
    batch_size = batch_size or auto_batch_size(len(items), runner)
    tasks = (
        StatsTask(
            items.segments(start, min(start + batch_size, len(items))),
            settings,
            profiles=on_profiles is not None,
        )
        for start in range(0, len(items), batch_size)
    )
    fold = StatsFold(items, policy)
    # closing(): a stop at a bad file cancels the work still queued, at once
    summaries = runner.map_batches(summarise_batch, tasks, desc="statistics")
    with contextlib.closing(summaries):
        for batch, summary in enumerate(summaries):
            fold.add_batch(batch * batch_size, summary)
            if on_profiles is not None and summary.profiles is not None:
                on_profiles(fold.kept_profiles(batch * batch_size, summary.profiles))
            if progress:
                progress(summary.count)
    return stats_from_fold(fold, found, settings)


def stats_from_fold(fold: StatsFold, found: Discovery, settings: DecodeSettings) -> Stats:
    """The ``Stats`` of a completed fold over ``found``."""
    items = found.items
    if fold.accumulator.images == 0:
        raise ImgprepError(f"none of the {len(items)} files could be read; all were skipped")
    return Stats(
        accumulator=fold.accumulator,
        settings=settings,
        dtype=fold.dtype or "uint8",
        image_shape=list(fold.shape) if fold.uniform and fold.shape else None,
        inputs=list(found.inputs),
        provenance={
            "files": len(items),
            "files_sha256": fold.digest.hexdigest(),
            "ignored": found.ignored,
        },
        skipped=fold.skipped,
    )


class StatsFold:
    """Merges batch summaries in input order; decides what is skipped and what stops."""

    def __init__(self, items: ItemList, policy: ErrorPolicy) -> None:
        self.items = items
        self.policy = policy
        self.accumulator = MomentAccumulator()
        self.digest = hashlib.sha256()
        self.skipped: list[dict[str, str]] = []
        self.dtype: str | None = None
        self.shape: tuple[int, ...] | None = None
        self.uniform = True
        self.failed: set[int] = set()  # indices skipped so far

    def kept_profiles(self, base: int, rows: np.ndarray) -> np.ndarray:
        """A batch's profile rows with run-wide indices, without the images the fold
        skipped (another bit depth, another channel count)."""
        rows = rows.copy()
        rows["index"] += base
        if self.failed:
            rows = rows[~np.isin(rows["index"], np.fromiter(self.failed, dtype=np.int64))]
        return rows

    def add_batch(self, base: int, summary: BatchSummary) -> None:
        self.digest.update(summary.provenance)
        events: list[tuple[int, Part | str]] = [(p.start, p) for p in summary.parts]
        events += [(offset, reason) for offset, reason in summary.errors]
        for offset, event in sorted(events, key=lambda pair: pair[0]):
            if isinstance(event, str):
                self._fail(base + offset, event)
            else:
                self._add_part(base, event)

    def _add_part(self, base: int, part: Part) -> None:
        reason = None
        if self.dtype is not None and part.dtype != self.dtype:
            reason = mixed_depth_reason(part.dtype, self.dtype)
        else:
            try:
                self.accumulator.add(part.moments)
            except ImgprepError as exc:
                reason = exc.for_command_line()
        if reason is not None:
            for offset in range(part.start, part.stop):
                self._fail(base + offset, reason)
            return
        self.dtype = self.dtype or part.dtype
        self.uniform = self.uniform and part.shape is not None and self.shape in (None, part.shape)
        self.shape = self.shape or part.shape

    def _fail(self, index: int, reason: str) -> None:
        self.policy.failed(self.skipped, self.items.path(index), reason)
        self.failed.add(index)


def _provenance_line(rel: str, size: int, mtime_ns: int) -> str:
    return f"{rel}\t{size}\t{mtime_ns}\n"
