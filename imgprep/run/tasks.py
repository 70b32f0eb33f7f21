"""How a transform cuts a split into tasks: bounded in bytes of output rows, not in files.

A task holds at most ``batch_size`` files and about ``TASK_BYTES`` of output rows (or one
row when a row alone is larger), so a worker's memory does not depend on the image size or
the number of copies; and the cut is a function of the files and the options alone, never
of ``--workers``, so the output is the same byte for byte (see ``imgprep.run.transform_pass``
for the memory budget this gives).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from imgprep.errors import ImgprepError
from imgprep.io.decode import bomb_warnings_silenced, decode_file
from imgprep.io.formats.hdf5 import CHUNK_BYTES
from imgprep.io.formats.registry import writer_class
from imgprep.io.items import ItemList
from imgprep.io.peek import decoded_size
from imgprep.run.worker import AugmentPlan
from imgprep.splits import Split
from imgprep.transforms.pipeline import Pipeline, PipelineOptions

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
    if not len(items) or not (writer_class(fmt).uniform_rows or options.decode.size):
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
    if writer_class(fmt).uniform_rows or pipeline.decode.size is not None:
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
