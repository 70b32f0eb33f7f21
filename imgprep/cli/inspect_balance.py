"""``inspect``'s class counts, ``--outliers`` and ``--expect-min-per-class``: options, output."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from imgprep.balance import (
    ASPECT_LABELS,
    Outliers,
    SplitClasses,
    class_counts,
    find_outliers,
)
from imgprep.cli.common import with_options
from imgprep.cli.inspect_duplicates import ProfileTable
from imgprep.errors import ImgprepError
from imgprep.io.formats.hdf5_reader import label_counts
from imgprep.io.items import Discovery

OUTLIER_KINDS = ("large", "small", "constant", "dark", "bright")


def balance_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--outliers and --expect-min-per-class."""
    options = [
        click.option(
            "--outliers",
            is_flag=True,
            help="Image sizes and aspect ratios (min, median, max, histogram), and the images "
            "that stand out: more than 4x or under 1/4 of the median area, constant, or a "
            "mean beyond the 0.1th/99.9th percentile of the image means.",
        ),
        click.option(
            "--expect-min-per-class",
            type=click.IntRange(min=1),
            metavar="N",
            help="Fail when a class of a split has fewer than N images (a missing class: 0).",
        ),
    ]
    return with_options(func, options)


def folder_classes(found: Discovery, skipped: list[dict[str, str]]) -> dict[str, int] | None:
    """Images per class of a folder's class subfolders, skipped files left out; None when
    the images are not all in class folders."""
    if not found.labelled or not found.classes:
        return None
    gone = {entry["path"] for entry in skipped}
    items = found.items
    labels = [items.label(i) for i in range(len(items)) if not gone or items.path(i) not in gone]
    return class_counts(labels, found.classes, found.classes).counts


def hdf5_classes(path: str, dataset: str, *, allow_external: bool) -> dict[str, int] | None:
    """Images per class of an HDF5 split, best effort: a file whose labels or class names
    are not imgprep's (one-hot labels, a NumPy array of names) is inspected as before,
    without class counts."""
    try:
        return label_counts(path, dataset, allow_external=allow_external)
    except ImgprepError:
        return None


def classes_document(classes: SplitClasses) -> dict[str, Any]:
    return {"counts": classes.counts, "imbalance": classes.imbalance, "missing": classes.missing}


def render_classes(classes: SplitClasses, listed: int) -> list[str]:
    imbalance = classes.imbalance
    ratio = f"{imbalance:.3g}" if imbalance is not None else "-"
    lines = ["", f"classes  {len(classes.counts)}, imbalance {ratio} (largest / smallest)"]
    if classes.missing:
        lines.append(f"missing  {', '.join(classes.missing)}")
    rarest = sorted(classes.counts.items(), key=lambda item: (item[1], item[0]))
    for name, count in rarest if len(rarest) <= listed else rarest[:listed]:
        lines.append(f"  {name:<20} {count:>10}")
    if len(rarest) > listed:
        lines.append(f"  ... and {len(rarest) - listed} more (the rarest shown; --json)")
    return lines


def split_outliers(table: ProfileTable, split: str | None) -> tuple[Outliers, list[int]] | None:
    """Outliers of one split and its rows' positions in the profile table."""
    positions, columns = table.rows_of(split)
    if not len(positions):
        return None
    found = find_outliers(columns["height"], columns["width"], columns["mean"],
                          columns["constant"])  # fmt: skip
    return found, positions.tolist()


def outliers_document(outliers: Outliers, positions: list[int], table: ProfileTable) -> dict:
    return {
        "images": outliers.images,
        "height": list(outliers.height),
        "width": list(outliers.width),
        "aspect": list(outliers.aspect),
        "aspect_histogram": dict(zip(ASPECT_LABELS, outliers.aspect_histogram, strict=True)),
        "mean_bounds": list(outliers.mean_bounds),
        **{
            kind: [table.name(positions[row]) for row in getattr(outliers, kind)]
            for kind in OUTLIER_KINDS
        },
    }


def render_outliers(outliers: Outliers, positions: list[int], table: ProfileTable,
                    listed: int) -> list[str]:  # fmt: skip
    low, median, high = outliers.height
    lines = ["", f"sizes    height {low} / {median} / {high}, width "
             f"{' / '.join(map(str, outliers.width))} (min / median / max)"]  # fmt: skip
    aspect = " / ".join(f"{v:.3g}" for v in outliers.aspect)
    histogram = zip(ASPECT_LABELS, outliers.aspect_histogram, strict=True)
    bins = ", ".join(f"{label}: {count}" for label, count in histogram if count)
    lines.append(f"aspect   {aspect} (width / height); {bins}")
    what = {
        "large": "more than 4x the median area",
        "small": "under 1/4 of the median area",
        "constant": "every value equal",
        "dark": f"mean below {outliers.mean_bounds[0]:.6g} (p0.1 of image means)",
        "bright": f"mean above {outliers.mean_bounds[1]:.6g} (p99.9 of image means)",
    }
    for kind in OUTLIER_KINDS:
        rows = getattr(outliers, kind)
        lines.append(f"{kind:<9}{len(rows)} images ({what[kind]})")
        lines.extend(f"  {table.name(positions[row])}" for row in rows[:listed])
        if len(rows) > listed:
            lines.append(f"  ... and {len(rows) - listed} more (--max-listed, --json)")
    return lines
