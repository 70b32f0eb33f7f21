"""``inspect --duplicates``: the options, the collected profile rows, the report and its gate."""

from __future__ import annotations

import bisect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import click
import numpy as np

from imgprep.cli.common import with_options
from imgprep.cli.group_options import group_options
from imgprep.duplicates import MAX_NEAR, DuplicateReport, find_duplicates
from imgprep.profile import PROFILE_DTYPE

DEFAULT_NEAR = 4  # bits; README: the false-positive rate measured on real photos and digits
DEFAULT_LISTED = 20


def duplicate_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--input, --split (--seed, --group-by, --groups), --duplicates, --near,
    --fail-on-leakage, --max-listed."""
    options = [
        click.option(
            "--input",
            "named_inputs",
            multiple=True,
            metavar="NAME=PATH",
            help="A named split (repeat): each is inspected on its own, and --duplicates "
            "reports the images that cross splits.",
        ),
        click.option(
            "--split",
            "split_spec",
            metavar="NAME=F,...",
            help="Inspect the split transform --split would make of INPUTS (with --seed, and "
            "--group-by or --groups as given to transform), each part on its own.",
        ),
        click.option("--seed", type=click.IntRange(min=0), help="The seed of --split."),
        click.option(
            "--duplicates",
            is_flag=True,
            help="Find exact duplicates (identical decoded pixels) and near duplicates "
            "(perceptual hash within --near bits); with splits, the images that leak "
            "across them.",
        ),
        click.option(
            "--near",
            type=click.IntRange(0, MAX_NEAR),
            default=DEFAULT_NEAR,
            show_default=True,
            metavar="T",
            help="Largest Hamming distance (bits of 64) of a near duplicate; 0: identical "
            "perceptual hashes only.",
        ),
        click.option(
            "--fail-on-leakage",
            is_flag=True,
            help="Exit 1 when an image of another split duplicates a 'train' image (implies "
            "--duplicates).",
        ),
        click.option(
            "--max-listed",
            type=click.IntRange(min=0),
            default=DEFAULT_LISTED,
            show_default=True,
            metavar="N",
            help="Groups and pairs listed per section of the table (--json lists all).",
        ),
    ]
    return group_options(with_options(func, options))


@dataclass(frozen=True)
class _Part:
    """One split's profile rows, where its first row is in the table, and how to name and
    read again one of its images (by ``index``, its position in the split's file list)."""

    start: int
    rows: np.ndarray
    name_of: Callable[[int], str]
    load: Callable[[int], np.ndarray | None] | None


@dataclass
class ProfileTable:
    """The profile rows of every inspected split, in order; a row's name (its path) is
    looked up only when it is shown (60,000 paths built for nothing cost 0.3 s)."""

    splits: list[str] = field(default_factory=list)  # each row's split ("" for none)
    _parts: list[_Part] = field(default_factory=list)
    _starts: list[int] = field(default_factory=list)  # each part's first row, for bisect
    _all: np.ndarray | None = None  # every row, concatenated once when first asked

    def collector(
        self,
        split: str | None,
        name_of: Callable[[int], str],
        load: Callable[[int], np.ndarray | None] | None = None,
    ) -> Callable[..., None]:
        """An ``on_profiles`` callback filing the rows of one split; ``load`` reads one of
        its images again (for the HTML report's thumbnails)."""

        def collect(rows: np.ndarray) -> None:
            start = len(self.splits)
            self._parts.append(_Part(start, rows.copy(), name_of, load))
            self._starts.append(start)
            self.splits.extend([split or ""] * len(rows))
            self._all = None

        return collect

    @property
    def rows(self) -> np.ndarray:
        """Every profile row (``PROFILE_DTYPE``), in order."""
        if self._all is None:
            parts = [part.rows for part in self._parts]
            self._all = np.concatenate(parts) if parts else np.zeros(0, dtype=PROFILE_DTYPE)
        return self._all

    def name(self, row: int) -> str:
        """The path (or dataset row) of profile row ``row``."""
        part = self._part(row)
        return part.name_of(int(part.rows["index"][row - part.start]))

    def load(self, row: int) -> np.ndarray | None:
        """The image of profile row ``row``, read again (None when it cannot be)."""
        part = self._part(row)
        index = int(part.rows["index"][row - part.start])
        return part.load(index) if part.load is not None else None

    def rows_of(self, split: str | None) -> tuple[np.ndarray, np.ndarray]:
        """The positions and rows of one split."""
        positions = np.flatnonzero(np.array(self.splits) == (split or ""))
        return positions, self.rows[positions]

    def report(self, near: int, *, with_splits: bool) -> DuplicateReport:
        rows, splits = self.rows, self.splits if with_splits else None
        return find_duplicates(rows["digest"], rows["phash"], splits, near=near, flat=rows["flat"])

    def _part(self, row: int) -> _Part:
        return self._parts[bisect.bisect_right(self._starts, row) - 1]


def leakage_failures(report: DuplicateReport, table: ProfileTable) -> list[str]:
    """One line per image of another split that duplicates a training image."""
    return [f"leakage: {_pair_text(pair, table)}" for pair in report.leaks]


def duplicates_document(report: DuplicateReport, table: ProfileTable) -> dict[str, Any]:
    """The ``duplicates`` key of ``inspect --json``: everything found, with paths."""
    with_splits = any(table.splits)

    def pairs(found: np.ndarray, *, with_count: bool = False) -> list[dict[str, Any]]:
        items = []
        for first, second, distance, exact, count in found.tolist():
            item: dict[str, Any] = {
                "paths": [table.name(first), table.name(second)],
                "distance": distance,
                "exact": exact,
            }
            if with_splits:
                item["splits"] = [table.splits[first], table.splits[second]]
            if with_count:
                item["count"] = count
            items.append(item)
        return items

    return {
        "images": report.images,
        "near": report.near,
        "exact_groups": [[table.name(row) for row in group] for group in report.exact_groups],
        "exact_images": report.exact_images,
        "near_pairs": pairs(report.near_pairs, with_count=True),
        "cross_split": pairs(report.cross_split),
        "leaks": pairs(report.leaks),
    }


def render_duplicates(report: DuplicateReport, table: ProfileTable, listed: int) -> list[str]:
    """The table's duplicates section (at most ``listed`` entries per part)."""
    lines = ["", f"duplicates among {report.images} images (near: within {report.near} bits)"]
    lines.append(
        f"exact    {len(report.exact_groups)} groups, {report.exact_images} images "
        "(identical decoded pixels)"
    )
    for group in report.exact_groups[:listed]:
        lines.append("  " + "  ==  ".join(table.name(row) for row in group))
    lines.extend(_more(len(report.exact_groups), listed))
    lines.append(f"near     {len(report.near_pairs)} pairs")
    for first, second, distance, _, count in report.near_pairs[:listed].tolist():
        copies = f" (stands for {count} image pairs)" if count > 1 else ""
        lines.append(f"  {table.name(first)}  ~  {table.name(second)}  "
                     f"{distance} bits{copies}")  # fmt: skip
    lines.extend(_more(len(report.near_pairs), listed))
    if any(table.splits):
        lines.append(
            f"across splits  {len(report.cross_split)} images duplicate an image of an earlier "
            f"split; {len(report.leaks)} of them a 'train' image"
        )
        for pair in report.cross_split[:listed]:
            lines.append("  " + _pair_text(pair, table))
        lines.extend(_more(len(report.cross_split), listed))
    return lines


def _pair_text(pair: np.void, table: ProfileTable) -> str:
    first, second = int(pair["first"]), int(pair["second"])
    how = "identical" if pair["exact"] else f"{int(pair['distance'])} bits"
    return (
        f"{table.splits[first]}: {table.name(first)} duplicates "
        f"{table.splits[second]}: {table.name(second)} ({how})"
    )


def _more(total: int, listed: int) -> list[str]:
    return [f"  ... and {total - listed} more (--max-listed, --json)"] if total > listed else []
