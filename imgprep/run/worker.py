"""The transform worker: one batch of files -> decoded, augmented, normalized rows.

Runs in worker processes (or inline with one worker). Each file becomes one row, or with
augmentation its copies (and the original); rows are normalized together when that is exact
and sent back as one array. Failures are data: (offset, reason) pairs.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from imgprep.augment import AugmentParams, AugmentSettings, augment
from imgprep.augment.chain import Resize, view
from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, ImgprepError, InputError, option
from imgprep.io.decode import DecodedFile, bomb_warnings_silenced, decode_file
from imgprep.io.items import iter_segments
from imgprep.run.stats_pass import BatchSummarizer, BatchSummary
from imgprep.transforms import functional as F
from imgprep.transforms.pipeline import Pipeline


@dataclass(frozen=True)
class AugmentPlan:
    """What to augment: settings, copies per image, the original too, the seed."""

    settings: AugmentSettings
    copies: int = 1
    keep_original: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise InputError(f"{option('copies')} must be at least 1, got {self.copies}")

    @property
    def rows_per_file(self) -> int:
        """Rows written per source image: its copies, and the original when kept."""
        return self.copies + int(self.keep_original)

    def to_dict(self) -> dict[str, Any]:
        return {
            **self.settings.to_dict(),
            "copies": self.copies,
            "keep_original": self.keep_original,
            "seed": self.seed,
        }


@dataclass(frozen=True)
class OutputRow:
    """One written image: its copy number (0: the original) and sampled parameters."""

    image: np.ndarray
    copy: int = 0
    params: AugmentParams | None = None


def make_rows(
    decoded: np.ndarray,
    index: int,
    split: int,
    pipeline: Pipeline,
    plan: AugmentPlan | None,
    rows: tuple[int, int] | None = None,
    *,
    source: np.ndarray | None = None,
    shown: AugmentSettings | None = None,
) -> list[OutputRow]:
    """The rows one decoded image becomes, before normalization: itself, or its augmented
    copies (and the original); with ``rows``, only rows ``rows[0]:rows[1]`` of that list.

    ``decoded`` is the image at the pipeline's size; the copies are cut from ``source``, the
    full-scale decode, when ``plan.settings.full_source``. Rows that are not augmented (the
    original; every row of a split without ``plan`` when ``shown`` is the run's augmentation)
    are ``imgprep.augment.chain.view`` of ``decoded`` (centre-cropped when the run crops).

    Each copy's parameters are keyed by (seed, split, image, copy), so any range of rows is
    exactly the same rows as they are in the whole list: a file's copies can be cut into
    tasks of bounded size without changing a pixel.
    """
    if plan is None:
        return [OutputRow(view(decoded, shown)[0] if shown is not None else decoded)]
    first, stop = rows if rows is not None else (0, plan.rows_per_file)
    start_copy = first + (0 if plan.keep_original else 1)  # row j is copy j (+1 without 0)
    original = []
    if start_copy == 0:
        image, params = view(decoded, plan.settings)
        original = [OutputRow(image, 0, params)]
    numbers = np.arange(max(1, start_copy), stop + (0 if plan.keep_original else 1))
    copies = source if source is not None else decoded
    return original + augmented_copies(copies, index, split, pipeline, plan, numbers)


def pack_rows(
    rows: list[list[OutputRow] | None], pipeline: Pipeline, *, raw: bool
) -> tuple[np.ndarray | list[np.ndarray], list[int], list[int], list[AugmentParams | None]]:
    """A batch's rows as one array (when they share a shape) plus per-row owner, copy, params.

    One array crosses the process boundary far faster than a list of small ones (about 20
    us per 28 x 28 image). ``raw`` rows (statistics still to come) are sent as decoded or
    augmented (the main process makes them float32); others are normalized.
    """
    flat = [(offset, row) for offset, made in enumerate(rows) if made for row in made]
    owners = [offset for offset, _ in flat]
    copies = [row.copy for _, row in flat]
    params = [row.params for _, row in flat]
    images = [row.image for _, row in flat]
    if not raw:
        images = pipeline.apply_many(images) if images else images
    uniform = bool(images) and all(
        image.shape == images[0].shape and image.dtype == images[0].dtype for image in images
    )
    if not uniform:
        return images, owners, copies, params
    if len(images) == 1:  # a view, not a copy: one row may be a 350 MB image
        return images[0][np.newaxis], owners, copies, params
    return np.stack(images), owners, copies, params


def augmented_copies(
    decoded: np.ndarray,
    index: int,
    split: int,
    pipeline: Pipeline,
    plan: AugmentPlan,
    numbers: np.ndarray | None = None,
) -> list[OutputRow]:
    """Copies ``numbers`` (default 1..K) of image ``index``, before normalization.

    ``decoded`` is the image the copies are cut from (at full scale for a resized crop,
    whose copies then have the pipeline's size)."""
    if numbers is None:
        numbers = np.arange(1, plan.copies + 1)
    size = pipeline.decode.size
    row_shape = None
    if plan.settings.full_source and size is not None:
        row_shape = (size[1], size[0], *decoded.shape[2:])
    sampled = plan.settings.sample(
        seed=plan.seed,
        split=split,
        indices=np.full(len(numbers), index),
        copies=numbers,
        shape=decoded.shape,
        row_shape=row_shape,
    )
    keep_dtype = np.dtype(pipeline.output_dtype(decoded.dtype)).kind in "ui"  # integer output
    resize = crop_resize(pipeline.decode)
    return [
        OutputRow(
            augment(decoded, params, plan.settings, keep_dtype=keep_dtype, resize=resize),
            int(number),
            params,
        )
        for number, params in zip(numbers, sampled, strict=True)
    ]


def crop_resize(decode: DecodeSettings) -> Resize | None:
    """How ``--random-resized-crop`` resizes its box: to ``--size``, aspect ratio not kept
    (as torchvision), with ``--resample`` and ``--resize-backend``, as decoding."""
    if decode.size is None:
        return None
    return functools.partial(
        F.resize,
        size=decode.size,
        mode="stretch",
        resample=decode.resample,
        backend=decode.resize_backend,
    )


@dataclass(frozen=True)
class TransformTask:
    """One batch for a worker: files, their first index in the split, the work to do."""

    segments: list[tuple[str, tuple[str, ...]]]
    pipeline: Pipeline
    start: int = 0
    split: int = 0
    plan: AugmentPlan | None = None
    fit: bool = False  # send raw rows and summarise the decoded images
    # A range of the rows of one file (its copies), when they are too large for one task:
    # the first range reports the file's failure and statistics, the last counts the file.
    rows: tuple[int, int] | None = None
    # Rows must share one shape and dtype (HDF5): end the task at the first image whose row
    # differs from the task's first, before holding more (the run stops there anyway).
    uniform: bool = False
    # A split that is not augmented, of a run whose augmentation crops: its rows are the
    # augmentation's view (a centre crop), the size of the augmented rows.
    shown: AugmentSettings | None = None


@dataclass
class TransformedBatch:
    """Outputs of one batch: every written row (``images``, stacked when uniform) with the
    batch offset of its source file (``owners``), copy number and parameters; failures as
    (offset, reason); with ``fit``, the statistics summary of the decoded images."""

    count: int
    images: np.ndarray | list[np.ndarray]
    owners: list[int]
    copies: list[int]
    params: list[AugmentParams | None]
    errors: list[tuple[int, str]]
    summary: BatchSummary | None = None
    # With ``uniform``: the offset of the file whose row differs (the task's last, one row)
    stopped: int | None = None


def transform_batch(task: TransformTask) -> TransformedBatch:
    """Decode, augment and transform each file of a batch; failures become data.

    With ``task.uniform`` (HDF5 rows share one shape and dtype) the task ends at the first
    image whose row would differ from the task's first row, with one row of it: that row
    stops the run in the main process with the usual message (the writer's or the
    statistics'), and the worker never holds more than one image that large.
    """
    rows: list[list[OutputRow] | None] = []
    errors: list[tuple[int, str]] = []
    first_piece = task.rows is None or task.rows[0] == 0  # reports the file's failure
    summary = BatchSummarizer() if task.fit else None
    stopped = None
    first: tuple[tuple[int, ...], str] | None = None
    with bomb_warnings_silenced():
        for offset, (path, rel) in enumerate(iter_segments(task.segments)):
            try:
                decoded, source = decode_for_rows(path, task.pipeline, task.plan, task.shown)
                array = decoded.array
                if summary is not None and first_piece:
                    summary.add_image(offset, rel, decoded)
                row_range = task.rows
                key = (_row_shape(task, array.shape), _row_dtype(task, array.dtype))
                if task.uniform and first is not None and key != first:
                    stopped = offset
                    begin = row_range[0] if row_range is not None else 0
                    row_range = (begin, begin + 1)
                index = task.start + offset
                made = make_rows(
                    array, index, task.split, task.pipeline, task.plan, row_range,
                    source=source, shown=task.shown,
                )  # fmt: skip
                rows.append(made)
                first = first or key
                if stopped is not None:
                    break
            except DecodeError as exc:
                rows.append(None)
                if first_piece:
                    if summary is not None:
                        summary.add_error(offset, rel, path, exc.reason)
                    errors.append((offset, exc.reason))
            except InputError:
                raise
            except ImgprepError as exc:
                rows.append(None)
                if first_piece:
                    errors.append((offset, exc.for_command_line()))  # a reason: data, as stored
    count = len(rows)
    if task.rows is not None and task.plan is not None and task.rows[1] < task.plan.rows_per_file:
        count = 0  # not the file's last piece: the progress counts each file once
    images, owners, copies, params = pack_rows(rows, task.pipeline, raw=task.fit)
    return TransformedBatch(
        count=count,
        images=images,
        owners=owners,
        copies=copies,
        params=params,
        errors=errors,
        summary=summary.finish(len(rows) if first_piece else 0) if summary is not None else None,
        stopped=stopped,
    )


def decode_for_rows(
    path: str,
    pipeline: Pipeline,
    plan: AugmentPlan | None,
    shown: AugmentSettings | None = None,
) -> tuple[DecodedFile, np.ndarray | None]:
    """The file at the pipeline's size, and at full scale when the copies are cut from that
    (``--random-resized-crop``; the view is then its resize, which equals decoding at the
    pipeline's size without a JPEG draft). Raises ``DecodeError`` for an image of another
    bit depth than the run's, or one the augmentation cannot crop."""
    source = None
    if plan is not None and plan.settings.full_source:
        decoded = decode_file(path, replace(pipeline.decode, size=None))
        source = decoded.array
        decoded = replace(decoded, array=pipeline.resize(source))
    else:
        decoded = decode_file(path, pipeline.decode)
    mismatch = pipeline.input_mismatch(decoded.array)  # another bit depth
    augmentation = plan.settings if plan is not None else shown
    if mismatch is None and augmentation is not None:
        mismatch = augmentation.shape_problem(decoded.array.shape)
    if mismatch is not None:
        raise DecodeError(path, mismatch)
    return decoded, source


def _row_shape(task: TransformTask, shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape of the rows of an image of ``shape`` (at the pipeline's size)."""
    augmentation = task.plan.settings if task.plan is not None else task.shown
    return augmentation.row_shape(shape) if augmentation is not None else shape


def _row_dtype(task: TransformTask, decoded: np.dtype) -> str:
    """The dtype a file's rows are compared by: raw rows keep the decoded one (the statistics
    refuse a mix), normalized rows have the pipeline's output dtype."""
    return decoded.name if task.fit else task.pipeline.output_dtype(decoded)
