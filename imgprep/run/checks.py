"""What a transform checks before its first row: the output rules, the statistics' space,
the first image, the room on the disk.

Each check runs before any worker starts, so a run that cannot succeed is refused in a
second with one line, instead of after an hour of work; and nothing is written first.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, InputError, option
from imgprep.io.decode import bomb_warnings_silenced, decode_file
from imgprep.io.formats.registry import writer_class
from imgprep.io.space import check_fits
from imgprep.pixels import PixelKind
from imgprep.plan import check_output, plan_png_tree
from imgprep.run.policy import ErrorPolicy
from imgprep.run.tasks import FirstRows
from imgprep.run.worker import AugmentPlan
from imgprep.splits import Split, augmented_splits
from imgprep.stats.file import Stats
from imgprep.transforms.pipeline import PipelineOptions


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
    it (``imgprep.io.space``): its rows times the bytes each row surely takes, as the format
    says (``Writer.least_row_bytes``: for HDF5 the uncompressed columns, and the pixels too
    unless compressed, the first file of each split giving their size; for a PNG tree one
    file of at least 67 bytes and one inode per row)."""
    writer = writer_class(fmt)
    # the first file gives every row's pixels when rows share one shape and are stored whole
    sized = writer.uniform_rows and compression == "none"
    augmented = augmented_splits(splits) if plan is not None else set()
    first_rows = first_rows or FirstRows(options)
    rows = needed = 0
    for ordinal, split in enumerate(splits):
        items = split.discovery.items
        count = len(items) * (plan.rows_per_file if plan and ordinal in augmented else 1)
        per_row = writer.least_row_bytes(
            path_bytes=items.longest_rel_bytes() if len(items) else 0,
            labelled=split.discovery.labelled,
            augmented=ordinal in augmented,
            pixel_bytes=first_rows.of(items) if sized and len(items) else None,
        )
        rows += count
        needed += count * per_row
    if not rows:
        return
    what = (
        f"{option('copies')} {plan.copies}" if plan is not None and plan.copies > 1 else "this run"
    )
    check_fits(output, rows, -(-needed // rows), files=writer.folder, what=what)


def check_stats_space(stats: Stats, options: PipelineOptions, *, allow_mismatch: bool) -> None:
    """Refuse statistics computed on differently prepared images (colour, size, resize)."""
    if stats.settings.same_space(options.decode) or allow_mismatch:
        return
    raise InputError(
        "the statistics were computed on differently prepared images: stats file has "
        f"{stats.settings.describe()}, this run has {options.decode.describe()}; recompute "
        f"them with the same options or pass {option('allow-stats-mismatch')}"
    )


def first_image(
    splits: Sequence[Split], settings: DecodeSettings, *, policy: ErrorPolicy
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
                    if policy.stops:
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
    folder = writer_class(fmt).folder
    check_output(output, inputs, folder=folder, overwrite=overwrite, files=files)
    if not folder:
        return []
    augmented = augmented_splits(splits) if plan is not None else set()
    parts = [
        (split.name, split.discovery.items, plan.copies if index in augmented and plan else 0)
        for index, split in enumerate(splits)
    ]
    return plan_png_tree(output, parts, overwrite=overwrite)
