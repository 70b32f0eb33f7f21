"""``inspect --html REPORT``: where each part's images come from, and the report written."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click
import numpy as np

from imgprep.balance import SplitClasses
from imgprep.cli.common import log
from imgprep.cli.inspect_duplicates import ProfileTable
from imgprep.config import DecodeSettings
from imgprep.duplicates import DuplicateReport
from imgprep.errors import DecodeError
from imgprep.io.atomic import check_writable, write_text_atomic
from imgprep.io.decode import decode_file
from imgprep.io.items import Discovery
from imgprep.plan import check_output
from imgprep.report.page import Report, ReportPart, render_page
from imgprep.report.thumbs import data_uri
from imgprep.stats.drift import Drift
from imgprep.summary import Summary

SAMPLES_PER_CLASS = 6
MAX_SAMPLED_CLASSES = 50


def html_option(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.option(
        "--html",
        "html_path",
        type=click.Path(dir_okay=False),
        metavar="REPORT.html",
        help="Also write one self-contained HTML report (no network, no script): histograms, "
        "drift, class counts and samples, sizes, duplicates side by side, skipped files.",
    )(func)


@dataclass
class PartSource:
    """Where one inspected part's images are read again for the report's thumbnails."""

    found: Discovery | None = None
    settings: DecodeSettings | None = None
    hdf5: tuple[str, str] | None = None  # file, dataset

    def load(self, index: int) -> np.ndarray | None:
        """Image ``index`` (in the part's order), or None when it cannot be read now."""
        try:
            if self.found is not None:
                path = self.found.items.path(index)
                return decode_file(path, self.settings or DecodeSettings()).array
            if self.hdf5 is not None:
                from imgprep.io.formats.hdf5_reader import open_hdf5

                with open_hdf5(self.hdf5[0]) as handle:
                    return np.asarray(handle[self.hdf5[1]][index])
        except (DecodeError, OSError, KeyError, ValueError):
            return None
        return None

    def class_samples(self) -> dict[str, list[tuple[str, str]]]:
        """A few thumbnails per class (the first images of each), class folders only."""
        found = self.found
        if found is None or not found.labelled or not found.classes:
            return {}
        chosen: dict[int, list[int]] = {}
        items = found.items
        for index in range(len(items)):
            label = items.label(index)
            if label is None or label >= MAX_SAMPLED_CLASSES:
                continue
            picked = chosen.setdefault(label, [])
            if len(picked) < SAMPLES_PER_CLASS:
                picked.append(index)
            if len(chosen) == min(len(found.classes), MAX_SAMPLED_CLASSES) and all(
                len(v) == SAMPLES_PER_CLASS for v in chosen.values()
            ):
                break
        samples = {}
        for label, indices in sorted(chosen.items()):
            images = [(items.rel(i), self.load(i)) for i in indices]
            samples[found.classes[label]] = [
                (rel, data_uri(a)) for rel, a in images if a is not None
            ]
        return samples


def check_report_path(path: str, inputs: list[str]) -> None:
    """Refuse a report path that is an input (or in an input folder), before any work."""
    check_writable(path)
    check_output(path, inputs, what="the HTML report")


def write_html(
    params: dict[str, Any],
    results: list[tuple[str | None, Summary, list[Drift] | None]],
    sources: list[PartSource],
    duplicates: DuplicateReport | None,
    table: ProfileTable | None,
    classes: dict[str | None, SplitClasses],
    outliers: dict[str | None, Any],
) -> None:
    """Build the report of what ``inspect`` found and write it (atomically)."""
    parts = [
        ReportPart(name, summary, rows, classes.get(name), outliers.get(name),
                   source.class_samples(), _sizes(table, name) if outliers.get(name) else None)
        for (name, summary, rows), source in zip(results, sources, strict=True)
    ]  # fmt: skip
    report = Report(
        parts,
        name_of=table.name if table is not None else str,
        duplicates=duplicates,
        splits=table.splits if table is not None and len(results) > 1 else (),
        listed=params["max_listed"],
        against=params["against"],
    )
    if table is not None:
        report.images = report_images(report, table.load)
    write_text_atomic(params["html_path"], render_page(report))
    log(f"inspect: wrote {params['html_path']}", quiet=params["quiet"])


def _sizes(table: ProfileTable | None, split: str | None) -> tuple[np.ndarray, np.ndarray] | None:
    """Widths and heights of one split's profiled images (the report's size plot)."""
    if table is None:
        return None
    _, columns = table.rows_of(split)
    return (columns["width"], columns["height"]) if len(columns) else None


def report_images(report: Report, load: Callable[[int], np.ndarray | None]) -> dict[int, str]:
    """Thumbnails of the profile rows the report shows side by side (listed pairs, groups)."""
    found = report.duplicates
    if found is None:
        return {}
    rows: set[int] = set()
    for group in found.exact_groups[: report.listed]:
        rows.update(group[:6])
    for pairs in (found.near_pairs, found.leaks):
        for pair in pairs[: report.listed]:
            rows.update((int(pair["first"]), int(pair["second"])))
    images = {}
    for row in sorted(rows):
        image = load(row)
        if image is not None:
            images[row] = data_uri(image)
    return images
