"""``inspect --against``: compare what was inspected with the training statistics, and gate.

The arithmetic is ``imgprep.stats.drift``; this module decides whether two sets of pixels
may be compared at all and turns limits into failure lines. Two datasets compare only in
one pre-processing space, as ``transform`` applies statistics only there: the same colour,
size, resize and EXIF rule (``DecodeSettings.same_space``), the same dtype (bit depth) and
the same channels. An HDF5 output compares when it stores pixels as decoded (no
normalization step in its pipeline); one that records no pipeline (not written by imgprep)
is compared as stored, with a note, since its space cannot be checked.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from imgprep.config import DecodeSettings
from imgprep.errors import ImgprepError, InputError, option
from imgprep.stats.drift import Drift, compare
from imgprep.stats.file import Stats, channel_names
from imgprep.summary import Summary

DRIFT_MEASURES = ("mean_shift", "std_ratio", "ks", "psi")


@dataclass(frozen=True)
class DriftLimits:
    """The largest drift allowed (None: not checked).

    Attributes:
        mean_shift: largest |mean - training mean| in training-std units (>= 0).
        std_ratio: largest std / training std *and* training std / std (>= 1): 2 allows
            half to twice the contrast.
        ks: largest Kolmogorov-Smirnov distance, in [0, 1].
        psi: largest population stability index (>= 0; 0.1 and 0.25 are the usual marks).
    """

    mean_shift: float | None = None
    std_ratio: float | None = None
    ks: float | None = None
    psi: float | None = None

    def __post_init__(self) -> None:
        lowest = {"mean_shift": 0.0, "std_ratio": 1.0, "ks": 0.0, "psi": 0.0}
        for name, low in lowest.items():
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value >= low):
                raise ValueError(f"{name} limit must be a finite number >= {low:g}, not {value}")
        if self.ks is not None and self.ks > 1:
            raise ValueError(f"ks limit must be at most 1 (a distance between CDFs), not {self.ks}")

    @property
    def empty(self) -> bool:
        return all(getattr(self, name) is None for name in DRIFT_MEASURES)


def space_of_hdf5(summary: Summary) -> DecodeSettings | None:
    """The pre-processing of an inspected HDF5 dataset's pixels; None when it records none.

    Raises:
        InputError: its pipeline normalizes (the stored values are not pixels).
    """
    pipeline = summary.attributes.get("pipeline")
    if not isinstance(pipeline, dict) or not isinstance(pipeline.get("options"), dict):
        return None
    steps = [step.get("step") for step in pipeline.get("steps", []) if isinstance(step, dict)]
    if steps:
        raise InputError(
            f"{summary.source}: its images are stored after {', '.join(map(str, steps))}, not "
            "as decoded pixels; compare the stats file of its source images (fit-stats) or an "
            "output written without normalization"
        )
    try:
        return DecodeSettings.from_dict(dict(pipeline["options"].get("decode", {})))
    except (InputError, TypeError, ValueError) as exc:
        raise InputError(f"{summary.source}: attribute 'pipeline': {exc}") from None


def drift_against(
    summary: Summary, reference: Stats, *, space: DecodeSettings | None, source: str
) -> list[Drift]:
    """Per-channel and global drift of ``summary`` from ``reference`` (read from ``source``).

    Raises:
        InputError: the two are not pixels of one space (colour, size, resize, dtype,
            channels).
    """
    if space is not None and not space.same_space(reference.settings):
        raise InputError(
            f"{summary.source} and {source} were prepared differently: "
            f"{space.describe()} vs {reference.settings.describe()}; decode the data as the "
            "training statistics were computed (the decode options default to theirs)"
        )
    if summary.dtype != reference.dtype:
        raise InputError(
            f"{summary.source} holds {summary.dtype} pixels, {source} describes "
            f"{reference.dtype} pixels (another bit depth): recompute one of them with the "
            f"other's {option('bit-depth')}"
        )
    if summary.accumulator.channels != reference.channels:
        raise InputError(
            f"{summary.source} has {summary.accumulator.channels} channel(s), {source} has "
            f"{reference.channels}: choose the same {option('color')}"
        )
    return compare(summary.accumulator, reference.accumulator, channel_names(reference.channels))


def drift_failures(rows: list[Drift], limits: DriftLimits) -> list[str]:
    """One line per row and measure beyond its limit: the value, then the limit.

    Raises:
        ImgprepError: a KS or PSI limit without both histograms to compute them (exit 1:
            the data lacks them, as a version 1 stats file or float pixels do).
    """
    failures = []
    for row in rows:
        for name in DRIFT_MEASURES:
            limit = getattr(limits, name)
            if limit is None:
                continue
            value = getattr(row, name)
            if value is None:
                raise ImgprepError(
                    f"the {name} limit needs the exact histograms of both sides (8- or 16-bit "
                    "pixels; stats files of format version 2): at least one has none"
                )
            if _beyond(name, value, limit):
                failures.append(f"drift {row.name}: {_describe(name, value, limit)}")
    return failures


def drift_document(rows: list[Drift], source: str) -> dict[str, Any]:
    """The ``drift`` key of ``inspect --json``."""
    return {"against": source, "channels": [row.to_dict() for row in rows]}


def _beyond(name: str, value: float, limit: float) -> bool:
    if name == "mean_shift":
        return abs(value) > limit
    if name == "std_ratio":
        return value > limit or value < 1 / limit
    return value > limit


def _describe(name: str, value: float, limit: float) -> str:
    if name == "mean_shift":
        return f"mean shift {value:+.4g} training stds, limit ±{limit:g}"
    if name == "std_ratio":
        return f"std ratio {value:.4g}, limit {1 / limit:.4g} to {limit:g}"
    return f"{name.upper() if name == 'psi' else 'KS distance'} {value:.4g}, limit {limit:g}"
