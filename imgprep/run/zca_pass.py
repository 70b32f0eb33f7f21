"""The ZCA pass of ``fit-stats --zca``: decode the files again and accumulate their moments.

The files are cut into shares of ``SHARE_IMAGES`` consecutive images, one task each,
scheduled by a runner (``imgprep.run.runner``) and merged in input order; each task
accumulates its images in batches of ``BATCH_IMAGES``. Both sizes are fixed, not derived from
``--workers`` or ``--batch-size``: integer sums are exact anyway, and float sums then group the
same way for any of them, so the whitening never depends on scheduling. The arithmetic is
``imgprep.stats.zca``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from imgprep.errors import DecodeError, InputError, option
from imgprep.io.decode import bomb_warnings_silenced, decode_file
from imgprep.io.items import iter_segments
from imgprep.run.runner import Runner, as_runner
from imgprep.stats.zca import ZcaAccumulator

SHARE_IMAGES = 2048  # images per worker task
BATCH_IMAGES = 256  # images per X^T X product (fixed: float sums must group the same way)


def memory_needed(dimension: int, workers: int) -> int:
    """Bytes a fit needs: a D x D float64 accumulator per process, plus the eigendecomposition
    (covariance, vectors, whitening and LAPACK's workspace, about four more)."""
    return 8 * dimension * dimension * (workers + 1 + 4)


def check_memory(dimension: int, workers: int, *, available: int | None = None) -> None:
    """Refuse, before allocating, a fit larger than half of this machine's memory."""
    if available is None:
        try:
            available = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        except (ValueError, OSError, AttributeError):
            return
    needed = memory_needed(dimension, workers)
    if needed > available // 2:
        raise InputError(
            f"ZCA on {dimension:,} values per image needs about {needed / 2**30:,.1f} GiB "
            f"(D x D float64 matrices), more than half of this machine's "
            f"{available / 2**30:,.1f} GiB; pass a smaller "
            f"{option('size')} (D = width x height x channels)"
        )


@dataclass(frozen=True)
class ZcaTask:
    """A contiguous share of the files for one worker."""

    segments: list[tuple[str, tuple[str, ...]]]
    settings: Any
    shape: tuple[int, ...]


def accumulate_task(task: ZcaTask) -> ZcaAccumulator:
    """Decode a share of the files and accumulate their moments (unreadable files skipped:
    the statistics pass that runs first has already stopped on them or reported them)."""
    accumulator = ZcaAccumulator(shape=task.shape)
    pending: list[np.ndarray] = []
    with bomb_warnings_silenced():
        for path, _ in iter_segments(task.segments):
            try:
                array = decode_file(path, task.settings).array
            except DecodeError:
                continue
            if array.shape == task.shape:
                pending.append(array)
            if len(pending) == BATCH_IMAGES:
                accumulator.update(np.stack(pending))
                pending = []
    if pending:
        accumulator.update(np.stack(pending))
    return accumulator


def compute_zca(
    items: Any,
    settings: Any,
    shape: tuple[int, ...],
    *,
    workers: int | Runner = 1,
    progress: Any = None,
) -> ZcaAccumulator:
    """One pass over ``items`` (an ``ItemList``) accumulating ZCA moments.

    The files are cut into shares of ``SHARE_IMAGES`` consecutive images, each accumulated by
    one worker in batches of ``BATCH_IMAGES`` and merged in input order: integer sums are
    exact anyway, and float sums are grouped the same way for any ``--workers`` and
    ``--batch-size``, so the result never depends on them.
    """
    dimension = int(np.prod(shape))
    # On a cluster this machine holds the running total and one partial at a time.
    runner = as_runner(workers)
    check_memory(dimension, 1 if runner.on_cluster else runner.slots)
    size = SHARE_IMAGES  # fixed, not per worker: float sums then group the same way for any -j
    tasks = [
        ZcaTask(items.segments(start, min(start + size, len(items))), settings, shape)
        for start in range(0, len(items), size)
    ]
    total = ZcaAccumulator(shape=shape)
    for task, partial in zip(
        tasks, runner.map_batches(accumulate_task, tasks, desc="zca"), strict=True
    ):
        total = total.merge(partial)
        if progress:
            progress(sum(len(rels) for _, rels in task.segments))
    return total
