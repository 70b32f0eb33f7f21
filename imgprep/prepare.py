"""``transform``: write a prepared copy of a dataset, with its pipeline and statistics.

The steps: build the splits (one input, several named inputs, or a seeded stratified split
of one input); get featurewise statistics (from a stats file, refused if computed in another
pre-processing space, or from a first streaming pass over the training part only, so no
validation or test pixel leaks into them); then stream every split through the workers and
into the writer in input order. Memory is bounded by ``batch_size`` x ``2 * workers``
images in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from imgprep.augment import AugmentParams, AugmentSettings, augment
from imgprep.engine import compute_stats, ordered_map
from imgprep.errors import DecodeError, ImgprepError, InputError
from imgprep.io.decode import decode_file
from imgprep.io.discover import Discovery, ItemList, class_folder_names, discover, join_path
from imgprep.io.writers import Hdf5Writer, PngWriter
from imgprep.splits import stratified_split
from imgprep.stats_file import Stats
from imgprep.transforms.pipeline import Pipeline, PipelineOptions

FORMATS = ("hdf5", "png")
HDF5_SUFFIXES = (".h5", ".hdf5")
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


def output_format(output: str, requested: str | None) -> str:
    """``hdf5`` for .h5/.hdf5 paths, ``png`` (a folder) otherwise, unless ``requested``."""
    if requested:
        if requested not in FORMATS:
            raise InputError(f"invalid format {requested!r}: choose hdf5 or png")
        return requested
    return "hdf5" if output.lower().endswith(HDF5_SUFFIXES) else "png"


def check_format(fmt: str, options: PipelineOptions) -> None:
    """Refuse, before any work, a pipeline the output format cannot hold exactly."""
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
        classes = class_folder_names([path for _, path in named])
        return [Split(name, discover([path], class_names=classes)) for name, path in named]
    found = discover(list(inputs))
    if not split_spec:
        return [Split(None, found)]
    if seed is None:
        raise InputError("--split needs --seed so that the split can be reproduced")
    parts = stratified_split(found.items.labels(), split_spec, seed)
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


def resolve_stats(
    options: PipelineOptions,
    splits: Sequence[Split],
    stats: Stats | None,
    *,
    allow_mismatch: bool,
    workers: int,
    batch_size: int,
    on_error: str,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
) -> tuple[Stats | None, str]:
    """The statistics to apply and where they came from; refuses a pre-processing mismatch."""
    if stats is not None:
        check_stats_space(stats, options, allow_mismatch=allow_mismatch)
        return stats, "stats file"
    if not options.needs_stats:
        return None, ""
    if len(splits) == 1 and splits[0].name is None:
        source, label = splits[0], "this input"
    else:
        train = [split for split in splits if split.name == TRAIN]
        if not train:
            raise InputError(
                "featurewise statistics must come from the training part: name one split "
                f"{TRAIN!r} or pass --stats"
            )
        source, label = train[0], f"the {TRAIN!r} split"
    computed = compute_stats(
        source.discovery,
        settings=options.decode,
        workers=workers,
        batch_size=batch_size,
        on_error=on_error,
        progress=progress,
        on_skip=on_skip,
    )
    return computed, f"computed from {label}"


def check_stats_space(stats: Stats, options: PipelineOptions, *, allow_mismatch: bool) -> None:
    """Refuse statistics computed on differently prepared images (colour, size, resize)."""
    if stats.settings.same_space(options.decode) or allow_mismatch:
        return
    raise InputError(
        "the statistics were computed on differently prepared images: stats file has "
        f"{stats.settings.describe()}, this run has {options.decode.describe()}; recompute "
        "them with the same options or pass --allow-stats-mismatch"
    )


@dataclass(frozen=True)
class AugmentPlan:
    """What to augment: settings, copies per image, the original too, the seed."""

    settings: AugmentSettings
    copies: int = 1
    keep_original: bool = False
    seed: int = 0

    def __post_init__(self) -> None:
        if self.copies < 1:
            raise InputError(f"--copies must be at least 1, got {self.copies}")

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
    decoded: np.ndarray, index: int, split: int, pipeline: Pipeline, plan: AugmentPlan | None
) -> list[OutputRow]:
    """The rows one decoded image becomes, before normalization: itself, or its augmented
    copies (and the original)."""
    if plan is None:
        return [OutputRow(decoded)]
    rows = [OutputRow(decoded, 0, AugmentParams())] if plan.keep_original else []
    for copy, params in augmented_copies(decoded, index, split, pipeline, plan):
        rows.append(OutputRow(copy, params=params[1], copy=params[0]))
    return rows


def normalize_rows(rows: list[list[OutputRow] | None], pipeline: Pipeline) -> None:
    """Apply the pipeline's steps to every row of a batch at once (in place)."""
    flat = [row for file_rows in rows if file_rows for row in file_rows]
    if not flat:
        return
    done = iter(pipeline.apply_many([row.image for row in flat]))
    for file_rows in rows:
        if file_rows:
            file_rows[:] = [replace(row, image=next(done)) for row in file_rows]


def augmented_copies(
    decoded: np.ndarray, index: int, split: int, pipeline: Pipeline, plan: AugmentPlan
) -> list[tuple[np.ndarray, tuple[int, AugmentParams]]]:
    """Copies 1..K of image ``index`` before normalization, with (copy, params)."""
    numbers = np.arange(1, plan.copies + 1)
    sampled = plan.settings.sample(
        seed=plan.seed,
        split=split,
        indices=np.full(plan.copies, index),
        copies=numbers,
        shape=decoded.shape,
    )
    keep_dtype = not pipeline.options.makes_floats
    return [
        (augment(decoded, params, plan.settings, keep_dtype=keep_dtype), (int(number), params))
        for number, params in zip(numbers, sampled, strict=True)
    ]


@dataclass(frozen=True)
class TransformTask:
    """One batch for a worker: files, their first index in the split, the work to do."""

    segments: list[tuple[str, tuple[str, ...]]]
    pipeline: Pipeline
    start: int = 0
    split: int = 0
    plan: AugmentPlan | None = None


@dataclass
class TransformedBatch:
    """Outputs of one batch: the rows of each file (None: failed), and failure reasons."""

    rows: list[list[OutputRow] | None]
    errors: list[tuple[int, str]]


def transform_batch(task: TransformTask) -> TransformedBatch:
    """Decode, augment and transform each file of a batch; failures become data."""
    import warnings

    from PIL import Image

    rows: list[list[OutputRow] | None] = []
    errors: list[tuple[int, str]] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        offset = 0
        for root, rels in task.segments:
            for rel in rels:
                path = join_path(root, rel)
                try:
                    decoded = decode_file(path, task.pipeline.decode).array
                    index = task.start + offset
                    rows.append(make_rows(decoded, index, task.split, task.pipeline, task.plan))
                except DecodeError as exc:
                    rows.append(None)
                    errors.append((offset, exc.reason))
                except ImgprepError as exc:
                    if isinstance(exc, InputError):
                        raise
                    rows.append(None)
                    errors.append((offset, str(exc)))
                offset += 1
    normalize_rows(rows, task.pipeline)
    return TransformedBatch(rows=rows, errors=errors)


def write_dataset(
    splits: Sequence[Split],
    pipeline: Pipeline,
    output: str,
    *,
    fmt: str,
    compression: str = "none",
    overwrite: bool = False,
    workers: int = 1,
    batch_size: int = 64,
    on_error: str = "stop",
    stats_source: str = "",
    extra_metadata: dict[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    plan: AugmentPlan | None = None,
) -> TransformReport:
    """Transform every split and write them to ``output`` (atomically).

    With ``plan``, the augmented splits (see ``augmented_splits``) get ``plan.copies`` copies
    of every image (and the original with ``keep_original``), with their parameters.
    """
    check_format(fmt, pipeline.options)
    report = TransformReport(stats=pipeline.stats, stats_source=stats_source)
    writer: Hdf5Writer | PngWriter
    if fmt == "hdf5":
        writer = Hdf5Writer(output, compression=compression, batch_size=batch_size)
    else:
        writer = PngWriter(output, overwrite=overwrite)
    classes = splits[0].discovery.classes if splits else []
    augmented = augmented_splits(splits) if plan is not None else set()
    with writer:
        for ordinal, split in enumerate(splits):
            key = split.name or ""
            items = split.discovery.items
            split_plan = plan if ordinal in augmented else None
            writer.start_split(
                split.name, labelled=split.discovery.labelled, augmented=split_plan is not None
            )
            skipped: list[dict[str, str]] = []
            written = 0
            for start, batch in _batches(items, pipeline, batch_size, workers, ordinal, split_plan):
                images, rels, labels, extra = [], [], [], []
                failures = dict(batch.errors)
                for offset, rows in enumerate(batch.rows):
                    index = start + offset
                    if rows is None:
                        path, reason = items.path(index), failures[offset]
                        if on_error == "stop":
                            raise DecodeError(path, reason)
                        skipped.append({"path": path, "reason": reason})
                        if on_skip:
                            on_skip(path, reason)
                        continue
                    for row in rows:
                        images.append(row.image)
                        rels.append(items.rel(index))
                        labels.append(items.label(index))
                        extra.append((index, row.copy, row.params or AugmentParams()))
                writer.write(images, rels, labels, extra if split_plan is not None else None)
                written += len(images)
                if progress:
                    progress(len(batch.rows))
            writer.end_split(skipped=skipped)
            report.written[key] = written
            report.skipped[key] = skipped
            report.found[key] = len(items)
        metadata: dict[str, Any] = {
            "class_names": classes,
            "pipeline": pipeline.describe(),
            "stats": pipeline.stats.to_dict() if pipeline.stats is not None else None,
            "stats_source": stats_source,
        }
        if plan is not None:
            metadata["augmentation"] = {
                **plan.to_dict(),
                "augmented_splits": [splits[i].name or "" for i in sorted(augmented)],
            }
        metadata.update(extra_metadata or {})
        writer.finish(metadata)
    return report


def augmented_splits(splits: Sequence[Split]) -> set[int]:
    """Which splits are augmented: a single input, or the split named ``train`` only.

    Validation and test data are never augmented, as with Keras users' separate generators.
    """
    if len(splits) == 1 and splits[0].name is None:
        return {0}
    train = {i for i, split in enumerate(splits) if split.name == TRAIN}
    if not train:
        raise InputError(
            f"augmentation applies to the training part only: name one split {TRAIN!r}"
        )
    return train


def _batches(
    items: ItemList,
    pipeline: Pipeline,
    batch_size: int,
    workers: int,
    split: int = 0,
    plan: AugmentPlan | None = None,
) -> Iterator[tuple[int, TransformedBatch]]:
    starts = range(0, len(items), batch_size)
    tasks = (
        TransformTask(
            items.segments(start, min(start + batch_size, len(items))),
            pipeline,
            start=start,
            split=split,
            plan=plan,
        )
        for start in starts
    )
    yield from zip(starts, ordered_map(transform_batch, tasks, workers=workers), strict=False)
