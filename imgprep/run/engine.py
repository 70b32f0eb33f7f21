"""Batches, worker processes, ordered merging and progress.

Files are cut into batches of ``batch_size``; each batch is decoded and summarised by a
worker process (or in this process when ``workers == 1``). Results are consumed in input
order, never completion order, with at most ``2 * workers`` batches in flight, so memory is
bounded by the batch size and the output does not depend on ``workers`` or ``batch_size``.
"""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from typing import Any, NamedTuple, TypeVar

from imgprep import interrupts
from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, ImgprepError, InputError
from imgprep.io.bitdepth import mixed_depth_reason
from imgprep.io.decode import DecodedFile, bomb_warnings_silenced, decode_file
from imgprep.io.discover import Discovery, ItemList, discover, iter_segments
from imgprep.io.remote import file_stat
from imgprep.lifetime import die_with_parent
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from imgprep.stats.moments import ExactRun, ImageMoments, batch_moments, is_exact_dtype

ON_ERROR_CHOICES = ("stop", "skip")
_START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"
DEFAULT_BATCH_SIZE = 256  # files per task on a Dask cluster (partitions group them)
MIN_AUTO_BATCH, MAX_AUTO_BATCH, TASKS_PER_WORKER = 16, 1024, 8

T = TypeVar("T")
R = TypeVar("R")
ProgressCallback = Callable[[int], None]
# Worker processes on this machine, or a cluster.DaskRunner (duck-typed: Dask is optional).
Workers = Any


def ordered_map(
    func: Callable[[T], R],
    tasks: Iterable[T],
    *,
    workers: Workers = 1,
    window: int | None = None,
    desc: str = "",
) -> Iterator[R]:
    """``map(func, tasks)`` over worker processes, yielding results in task order.

    ``workers`` may also be a ``cluster.DaskRunner``: the same tasks then run on a Dask
    cluster, grouped into partitions, and come back in the same order (``desc`` names its
    progress bar over partitions).

    At most ``window`` (default ``2 * workers``) tasks are in flight, which bounds memory.
    With ``workers <= 1`` everything runs in this process. On Linux, workers are forked
    (they start in milliseconds, with the modules already imported); elsewhere they are
    spawned, since fork is unsafe on macOS and absent on Windows.

    Signals and the lifetime of workers (see ``_start_worker``): workers ignore SIGINT
    (Ctrl-C reaches the whole process group, and the main process alone handles it), take
    SIGTERM as by default, and die with the main process, even when it is killed with
    SIGKILL. Every call into the executor runs ``interrupts.shielded`` (SIGINT and SIGTERM
    blocked around the forks), and results are awaited in slices of ``POLL_SECONDS`` with
    ``interrupts.check()`` between them, so a Ctrl-C under ``interrupts.deliver_safely`` is
    raised here, never inside the executor's own code.

    The workers are a ``concurrent.futures.ProcessPoolExecutor``, not a
    ``multiprocessing.Pool``: ``Pool.terminate`` can hang for good while joining its
    handler threads (CPython issues 73945, 78178, 96995; seen here once in about 40 test
    runs), whereas the executor notices dead workers. On any exception, or when the
    consumer stops early, queued tasks are cancelled and the workers are killed rather than
    waited for (``_stop_now``: every wait bounded), so Ctrl-C stops a run at once.
    """
    if not isinstance(workers, int):
        yield from workers.map_batches(func, tasks, desc=desc)
        return
    if workers <= 1:
        for task in tasks:
            interrupts.check()
            yield func(task)
        return
    window = window or 2 * workers
    context = multiprocessing.get_context(_START_METHOD)
    with interrupts.shielded():
        executor = ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
        )
    pending: deque[Future[R]] = deque()
    try:
        for task in tasks:
            with interrupts.shielded(), _signals_blocked():  # the first submit forks
                pending.append(executor.submit(func, task))
            if len(pending) >= window:
                yield _result(pending.popleft())
        while pending:
            yield _result(pending.popleft())
    except BrokenProcessPool as exc:
        _stop_now(executor)
        interrupts.check()  # SIGTERM to the whole process group ends the workers first
        raise ImgprepError(
            "a worker process died (killed, or out of memory?); try fewer --workers "
            "or a smaller --batch-size"
        ) from exc
    except BaseException:
        _stop_now(executor)
        raise
    with interrupts.shielded():
        executor.shutdown(wait=True)


POLL_SECONDS = 0.1  # how long a signal may wait for the engine to notice it
STOP_SECONDS = 2.0  # how long _stop_now waits for each part of the pool to end


def _result(future: Future[R]) -> R:
    """The future's result, waited for in slices so that a signal is taken between them."""
    while True:
        interrupts.check()
        with interrupts.shielded():
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back in this thread (POSIX): a worker forked here starts with
    them blocked, so it cannot take one before ``_start_worker`` has set its handlers."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop_now(executor: ProcessPoolExecutor) -> None:
    """Kill the workers and end the pool without ever waiting for good.

    ``shutdown(wait=True)`` can block forever after its workers died: the manager thread
    joins the call queue's feeder thread, which may be stuck writing to a pipe nobody reads,
    and it waits on locks a killed worker held. So the workers are killed and reaped here,
    the feeder is not waited for, and the manager thread gets ``STOP_SECONDS``; one still
    running then is left behind, and taken off the lists that interpreter exit joins
    (``concurrent.futures``' atexit hook and threading's shutdown), so that exit cannot
    block on it either.
    """
    with interrupts.shielded():
        processes = list((getattr(executor, "_processes", None) or {}).values())
        manager = getattr(executor, "_executor_manager_thread", None)
        calls = getattr(executor, "_call_queue", None)
        for process in processes:
            with contextlib.suppress(OSError, ValueError):
                process.kill()
        if calls is not None:
            calls.cancel_join_thread()  # its feeder may be blocked on a pipe nobody reads
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            with contextlib.suppress(ValueError, AssertionError):
                process.join(max(0.0, deadline - time.monotonic()))
        if manager is not None:
            manager.join(max(0.1, deadline - time.monotonic()))
            if manager.is_alive():
                _leave_behind(manager)


def _leave_behind(thread: threading.Thread) -> None:
    """Let the interpreter exit without joining ``thread`` (a stuck executor manager)."""
    from concurrent.futures import process as futures_process

    wakeups = getattr(futures_process, "_threads_wakeups", None)
    if wakeups is not None:
        wakeups.pop(thread, None)
    locks = getattr(threading, "_shutdown_locks", None)
    lock = getattr(thread, "_tstate_lock", None)
    if locks is not None and lock is not None:
        locks.discard(lock)


def _start_worker(parent: int) -> None:
    """Initializer of every worker process: its own signal handlers, and death with the
    main process (``lifetime.die_with_parent``), then the signals let through."""
    interrupts.reset_in_worker()
    die_with_parent(parent)
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.HANDLED)


@dataclass(frozen=True)
class StatsTask:
    """One batch for a worker: (root, relative paths) runs and how to decode them."""

    segments: list[tuple[str, tuple[str, ...]]]
    settings: DecodeSettings

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


class BatchSummarizer:
    """Builds a batch's ``BatchSummary`` from decoded images and failures, in file order.

    Shared by fit-stats workers and by transform workers that compute the training
    statistics in the same pass as they write (so both give the same bytes).
    """

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.errors: list[tuple[int, str]] = []
        self.lines: list[str] = []
        self._run: ExactRun | None = None  # integer images, counted as they come
        self._run_start = 0
        self._run_shape: tuple[int, ...] | None = None  # None once sizes differ

    def add_image(self, offset: int, rel: str, decoded: DecodedFile) -> None:
        array = decoded.array
        self.lines.append(_provenance_line(rel, decoded.size, decoded.mtime_ns))
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
        )

    def _flush(self, stop: int) -> None:
        run = self._run
        if run is not None:
            name = run.dtype.name
            self.parts.append(Part(self._run_start, stop, name, self._run_shape, run.moments()))
            self._run = None


def summarise_batch(task: StatsTask) -> BatchSummary:
    """Decode each file of a batch and summarise it; failures become data, not exceptions."""
    summary = BatchSummarizer()
    with bomb_warnings_silenced():
        for offset, (path, rel) in enumerate(iter_segments(task.segments)):
            try:
                decoded = decode_file(path, task.settings)
            except DecodeError as exc:
                summary.add_error(offset, rel, path, exc.reason)
                continue
            summary.add_image(offset, rel, decoded)
    return summary.finish(task.count)


def auto_batch_size(files: int, workers: Workers) -> int:
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
    if not isinstance(workers, int):
        return DEFAULT_BATCH_SIZE
    per_task = -(-files // (TASKS_PER_WORKER * max(1, workers)))
    return max(MIN_AUTO_BATCH, min(MAX_AUTO_BATCH, per_task))


def compute_stats(
    inputs: Sequence[str] | Discovery,
    *,
    settings: DecodeSettings | None = None,
    workers: Workers = 1,
    batch_size: int | None = None,
    on_error: str = "stop",
    progress: ProgressCallback | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> Stats:
    """One streaming pass over ``inputs``: per-channel and global statistics.

    Args:
        inputs: directories and files (see ``imgprep.io.discover``) or a ``Discovery``.
        settings: the pre-processing that defines the space of the statistics.
        workers: worker processes, or a ``cluster.DaskRunner``; the result is
            byte-identical for any value.
        batch_size: files per task (default: ``auto_batch_size``); the result is
            byte-identical for any value.
        on_error: ``stop`` raises at the first unreadable file (in input order); ``skip``
            records it in ``Stats.skipped`` and goes on.
        progress: called with the number of files finished, after each batch.
        on_skip: called with (path, reason) for each skipped file, as it is skipped.

    Raises:
        DecodeError: a file cannot be read and ``on_error == "stop"``.
        ImgprepError: no file at all could be read.
        InputError: bad arguments, missing paths, no images.
    """
    settings = settings or DecodeSettings()
    if on_error not in ON_ERROR_CHOICES:
        raise InputError(f"invalid on_error {on_error!r}: choose stop or skip")
    if (isinstance(workers, int) and workers < 1) or (batch_size is not None and batch_size < 1):
        raise InputError("workers and batch_size must be at least 1")
    if isinstance(inputs, Discovery):
        found = inputs
    else:
        found = discover([inputs] if isinstance(inputs, str) else list(inputs))
    items = found.items
    batch_size = batch_size or auto_batch_size(len(items), workers)
    tasks = (
        StatsTask(items.segments(start, min(start + batch_size, len(items))), settings)
        for start in range(0, len(items), batch_size)
    )
    fold = StatsFold(items, on_error, on_skip)
    # closing(): a stop at a bad file cancels the work still queued, at once
    summaries = ordered_map(summarise_batch, tasks, workers=workers, desc="statistics")
    with contextlib.closing(summaries):
        for batch, summary in enumerate(summaries):
            fold.add_batch(batch * batch_size, summary)
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

    def __init__(
        self,
        items: ItemList,
        on_error: str,
        on_skip: Callable[[str, str], None] | None,
    ) -> None:
        self.items = items
        self.on_error = on_error
        self.on_skip = on_skip
        self.accumulator = MomentAccumulator()
        self.digest = hashlib.sha256()
        self.skipped: list[dict[str, str]] = []
        self.dtype: str | None = None
        self.shape: tuple[int, ...] | None = None
        self.uniform = True

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
                reason = str(exc)
        if reason is not None:
            for offset in range(part.start, part.stop):
                self._fail(base + offset, reason)
            return
        self.dtype = self.dtype or part.dtype
        self.uniform = self.uniform and part.shape is not None and self.shape in (None, part.shape)
        self.shape = self.shape or part.shape

    def _fail(self, index: int, reason: str) -> None:
        path = self.items.path(index)
        if self.on_error == "stop":
            raise DecodeError(path, reason)
        self.skipped.append({"path": path, "reason": reason})
        if self.on_skip:
            self.on_skip(path, reason)


def _provenance_line(rel: str, size: int, mtime_ns: int) -> str:
    return f"{rel}\t{size}\t{mtime_ns}\n"
