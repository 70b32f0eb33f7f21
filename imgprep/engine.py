"""Batches, worker processes, ordered merging and progress.

Files are cut into batches of ``batch_size``; each batch is decoded and summarised by a
worker process (or in this process when ``workers == 1``). Results are consumed in input
order, never completion order, with at most ``2 * workers`` batches in flight, so memory is
bounded by the batch size and the output does not depend on ``workers`` or ``batch_size``.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import TypeVar

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, ImgprepError, InputError
from imgprep.io.decode import decode_image
from imgprep.io.discover import Discovery, ImageItem, discover
from imgprep.stats import ImageMoments, MomentAccumulator, batch_moments
from imgprep.stats_file import Stats, files_digest

ON_ERROR_CHOICES = ("stop", "skip")
DEFAULT_BATCH_SIZE = 256

T = TypeVar("T")
R = TypeVar("R")
ProgressCallback = Callable[[int], None]


def ordered_map(
    func: Callable[[T], R], tasks: Iterable[T], *, workers: int = 1, window: int | None = None
) -> Iterator[R]:
    """``map(func, tasks)`` over worker processes, yielding results in task order.

    At most ``window`` (default ``2 * workers``) tasks are in flight, which bounds memory.
    With ``workers <= 1`` everything runs in this process. Workers are started with
    ``spawn`` so that they inherit no open files or threads from the caller.
    """
    if workers <= 1:
        for task in tasks:
            yield func(task)
        return
    window = window or 2 * workers
    context = multiprocessing.get_context("spawn")
    pending: deque[Future[R]] = deque()
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        for task in tasks:
            pending.append(executor.submit(func, task))
            if len(pending) >= window:
                yield pending.popleft().result()
        while pending:
            yield pending.popleft().result()
    finally:
        executor.shutdown(wait=True, cancel_futures=True)


@dataclass(frozen=True)
class StatsTask:
    """One batch for a worker: the paths and how to decode them."""

    paths: tuple[str, ...]
    settings: DecodeSettings


@dataclass
class StatsBatchResult:
    """What a worker sends back: one entry per path, in order."""

    moments: list[ImageMoments | None]
    errors: list[str | None]
    dtypes: list[str | None]
    shapes: list[tuple[int, ...] | None]
    file_info: list[tuple[int, int] | None]


def summarise_batch(task: StatsTask) -> StatsBatchResult:
    """Decode each file of a batch and summarise it; failures become data, not exceptions."""
    arrays = []
    errors: list[str | None] = []
    dtypes: list[str | None] = []
    shapes: list[tuple[int, ...] | None] = []
    info: list[tuple[int, int] | None] = []
    for path in task.paths:
        try:
            st = os.stat(path)
            info.append((st.st_size, st.st_mtime_ns))
        except OSError:
            info.append(None)
        try:
            array = decode_image(path, task.settings)
        except DecodeError as exc:
            arrays.append(None)
            errors.append(exc.reason)
            dtypes.append(None)
            shapes.append(None)
            continue
        arrays.append(array)
        errors.append(None)
        dtypes.append(array.dtype.name)
        shapes.append(tuple(array.shape))
    decoded = [a for a in arrays if a is not None]
    summaries = iter(batch_moments(decoded)) if decoded else iter(())
    moments = [next(summaries) if a is not None else None for a in arrays]
    return StatsBatchResult(
        moments=moments, errors=errors, dtypes=dtypes, shapes=shapes, file_info=info
    )


@dataclass
class RunReport:
    """Counts of a run: found = processed + skipped; ignored files were never candidates."""

    found: int = 0
    processed: int = 0
    skipped: list[dict[str, str]] = field(default_factory=list)
    ignored: int = 0


def compute_stats(
    inputs: Sequence[str] | Discovery,
    *,
    settings: DecodeSettings | None = None,
    workers: int = 1,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_error: str = "stop",
    progress: ProgressCallback | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> Stats:
    """One streaming pass over ``inputs``: per-channel and global statistics.

    Args:
        inputs: directories and files (see ``imgprep.io.discover``) or a ``Discovery``.
        settings: the pre-processing that defines the space of the statistics.
        workers: worker processes; the result is byte-identical for any value.
        batch_size: files per task; the result is byte-identical for any value.
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
    if workers < 1 or batch_size < 1:
        raise InputError("workers and batch_size must be at least 1")
    found = inputs if isinstance(inputs, Discovery) else discover(list(inputs))
    items = found.items
    tasks = (
        StatsTask(tuple(item.path for item in items[i : i + batch_size]), settings)
        for i in range(0, len(items), batch_size)
    )
    accumulator = MomentAccumulator()
    skipped: list[dict[str, str]] = []
    lines: list[str] = []
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    uniform = True
    position = 0
    for result in ordered_map(summarise_batch, tasks, workers=workers):
        for offset, moments in enumerate(result.moments):
            item = items[position + offset]
            lines.append(_provenance_line(item, result.file_info[offset]))
            reason = result.errors[offset]
            if reason is None:
                reason = _fold(accumulator, moments, result.dtypes[offset], dtype)
                dtype = dtype or result.dtypes[offset]
            if reason is None:
                image_shape = result.shapes[offset]
                uniform = uniform and shape in (None, image_shape)
                shape = shape or image_shape
            if reason is not None:
                if on_error == "stop":
                    raise DecodeError(item.path, reason)
                skipped.append({"path": item.path, "reason": reason})
                if on_skip:
                    on_skip(item.path, reason)
        position += len(result.moments)
        if progress:
            progress(len(result.moments))
    if accumulator.images == 0:
        raise ImgprepError(f"none of the {len(items)} files could be read; all were skipped")
    return Stats(
        accumulator=accumulator,
        settings=settings,
        dtype=dtype or "uint8",
        image_shape=list(shape) if uniform and shape else None,
        inputs=list(found.inputs),
        provenance={
            "files": len(items),
            "files_sha256": files_digest(lines),
            "ignored": found.ignored,
        },
        skipped=skipped,
    )


def _fold(
    accumulator: MomentAccumulator,
    moments: ImageMoments | None,
    image_dtype: str | None,
    run_dtype: str | None,
) -> str | None:
    """Add one image; return a reason string if it cannot join the others."""
    assert moments is not None
    if run_dtype is not None and image_dtype != run_dtype:
        return (
            f"pixels are {image_dtype} but the images before it are {run_dtype}; "
            "statistics of mixed bit depths would not describe either"
        )
    try:
        accumulator.add(moments)
    except ImgprepError as exc:
        return str(exc)
    return None


def _provenance_line(item: ImageItem, info: tuple[int, int] | None) -> str:
    size, mtime = info if info is not None else (-1, -1)
    return f"{item.rel}\t{size}\t{mtime}"
