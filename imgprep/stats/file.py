"""The stats file: a versioned JSON document that later runs and the Python API apply.

This module is the document and its numbers only: ``Stats`` <-> dict <-> JSON text, checked
(``imgprep.stats.check``) and merged. Files are read and written by ``imgprep.io.stats_io``
(``read_stats``, ``write_stats``: bounded reads, atomic writes, the ZCA sidecar pair).

Layout (format version 2; keys in this order)::

    {
      "format": "imgprep-stats",
      "format_version": 2,
      "imgprep_version": "0.1.0",
      "inputs": ["data/train"],               # as given on the command line, or
                {"count": 1797, "examples": [...]},  # more than 20 inputs (see below)
      "preprocessing": {"color": "keep", "size": [28, 28] | null, "resize_mode": "stretch",
                        "resample": "bilinear", "pad_value": 0, "exif": "apply"},
      "channel_names": ["L"],
      "dtype": "uint8",                       # dtype of the decoded pixels
      "image_shape": [28, 28, 1] | null,      # H, W, C when every image has it
      "images": 60000,                        # images accumulated
      "pixels": 47040000,                     # pixels per channel
      "mean": [...], "std": [...], "min": [...], "max": [...],      # per channel
      "global": {"count": ..., "mean": ..., "std": ..., "min": ..., "max": ...},
      "percentiles": {"q": [0.1, 1, 5, 25, 50, 75, 95, 99, 99.9],   # integer pixels only
                      "channels": [[...] per channel], "global": [...]},
      "accumulators": {"channels", "images", "count", "exact", "mean", "m2", "min", "max",
                       "sum", "sum_sq",        # raw, mergeable; sums only when exact
                       "histogram": {"offset": 0, "levels": 256,
                                     "bins": [[[value, count], ...] per channel]}},
      "provenance": {"files": 60000, "files_sha256": "...", "ignored": 0,
                     "merged_from": [...]},   # merged_from only for merged files
      "skipped": [{"path": "...", "reason": "..."}]
    }

``std`` is the population standard deviation (ddof=0), as NumPy and Keras. The histogram
(``imgprep.stats.histogram``) holds the exact count of every value of every channel when the
pixels are 8- or 16-bit integers; the percentiles are derived from it (NumPy's
``inverted_cdf``: each is a pixel value that occurs), and a stats file may ask for more than
the default ones (``fit-stats --percentiles``). Version 2 added both; version 1 files still
load, without them (merging one with a version 2 file drops the histogram). ``files_sha256``
is the SHA-256 of one line per found file, in processing order: its path relative to its
input, its size in bytes and its modification time in nanoseconds, tab-separated. No timestamp
is written, so the same inputs give the same bytes.

``inputs`` lists the inputs as given when there are at most ``INPUTS_LISTED`` (20) of them, a
folder or a few files. Paths from stdin or ``--files-from`` can be a million files, which the
provenance hash already covers: then ``inputs`` is ``{"count": N, "examples": [the first
INPUT_EXAMPLES (5)]}``, so the file stays small and ``inspect`` short. Both forms load.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep.config import DecodeSettings
from imgprep.errors import InputError, StatsFileError
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.check import MAX_COUNT, check_document, check_summary
from imgprep.stats.histogram import DEFAULT_PERCENTILES, merged_percentiles
from imgprep.values import parse_int
from imgprep.version import __version__

FORMAT_NAME = "imgprep-stats"
FORMAT_VERSION = 2
HISTOGRAM_MARK = "@@histogram-bins@@"  # stands for the bins while the rest is indented
HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"
INPUTS_LISTED = 20  # more inputs are written as a count and a few examples
INPUT_EXAMPLES = 5
CHANNEL_NAMES = {1: ["L"], 2: ["L", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}


def channel_names(channels: int) -> list[str]:
    """Names for a channel count: L, LA, RGB, RGBA, else c0, c1, ..."""
    return CHANNEL_NAMES.get(channels, [f"c{i}" for i in range(channels)])


@dataclass
class Stats:
    """Statistics of a dataset in one pre-processing space, serialisable and mergeable.

    The per-channel values are NumPy float64 arrays: ``stats.mean``, ``stats.std``,
    ``stats.min``, ``stats.max``; the whole-image ones are ``stats.global_mean`` etc.
    ``source_path`` is the file it was read from (``read_stats``), beside which the ZCA
    sidecar it names is looked up.
    """

    accumulator: MomentAccumulator
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    dtype: str = "uint8"
    image_shape: list[int] | None = None
    inputs: list[str] = field(default_factory=list)
    input_count: int | None = None  # when ``inputs`` holds only examples (a loaded summary)
    provenance: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    zca: dict[str, Any] | None = None
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    source_path: str | None = field(default=None, compare=False, repr=False)

    @property
    def input_total(self) -> int:
        """How many inputs the statistics were computed over (``inputs`` may be examples)."""
        return len(self.inputs) if self.input_count is None else self.input_count

    def inputs_entry(self) -> list[str] | dict[str, Any]:
        """The ``inputs`` value written: the list, or a count and examples when many."""
        total = self.input_total
        if self.input_count is None and total <= INPUTS_LISTED:
            return list(self.inputs)
        return {"count": total, "examples": list(self.inputs[:INPUT_EXAMPLES])}

    @property
    def images(self) -> int:
        return self.accumulator.images

    @property
    def pixels(self) -> int:
        return self.accumulator.count

    @property
    def channels(self) -> int:
        return self.accumulator.channels or 0

    @property
    def mean(self) -> np.ndarray:
        return self.accumulator.channel_stats()["mean"]

    @property
    def std(self) -> np.ndarray:
        return self.accumulator.channel_stats()["std"]

    @property
    def min(self) -> np.ndarray:
        return self.accumulator.channel_stats()["min"]

    @property
    def max(self) -> np.ndarray:
        return self.accumulator.channel_stats()["max"]

    @property
    def global_mean(self) -> float:
        return self.accumulator.global_stats()["mean"]

    @property
    def global_std(self) -> float:
        return self.accumulator.global_stats()["std"]

    def to_dict(self) -> dict[str, Any]:
        """The JSON document described in the module docstring."""
        numbers = self.accumulator.summary(self.percentiles)
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "imgprep_version": __version__,
            "inputs": self.inputs_entry(),
            "preprocessing": self.settings.to_dict(),
            "channel_names": channel_names(self.channels),
            "dtype": self.dtype,
            "image_shape": self.image_shape,
            "images": self.images,
            "pixels": self.pixels,
            **numbers,  # mean, std, min, max, global
            "accumulators": self.accumulator.to_dict(),
            "provenance": dict(self.provenance),
            "skipped": list(self.skipped),
            **({"zca": {k: v for k, v in self.zca.items() if k != "path"}} if self.zca else {}),
        }

    def to_json(self) -> str:
        """Deterministic JSON text (floats written with full round-trip precision).

        The histogram's bins are written one channel per line (indented, a uint8 channel
        would take 1,280 lines).
        """
        document = self.to_dict()
        histogram = document["accumulators"].get("histogram")
        if histogram is None:
            return json.dumps(document, indent=2) + "\n"
        bins = histogram["bins"]
        histogram["bins"] = []
        others = json.dumps(document)
        mark = next(  # a string no path or reason in the document holds
            m for k in range(len(others) + 1) if (m := f"{HISTOGRAM_MARK}{k}") not in others
        )
        histogram["bins"] = mark
        text = json.dumps(document, indent=2)
        rows = ",\n".join(" " * 8 + json.dumps(row, separators=(",", ":")) for row in bins)
        return text.replace(json.dumps(mark), "[\n" + rows + "\n      ]", 1) + "\n"

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<stats>") -> Stats:
        """Parse and validate a stats document; any problem is one ``StatsFileError``.

        Every key read is checked first (``imgprep.stats.check``: types, NaN and infinities,
        counts, lengths, min/max/mean/M2 consistency, the ZCA sidecar's name and shape), so
        a damaged or hostile file is refused naming its key instead of being applied.
        """
        if not isinstance(data, dict) or data.get("format") != FORMAT_NAME:
            raise StatsFileError(f"{source}: not an imgprep stats file (no format {FORMAT_NAME!r})")
        version = data.get("format_version")
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise StatsFileError(f"{source}: invalid format_version {version!r}")
        if version > FORMAT_VERSION:
            raise StatsFileError(
                f"{source}: stats format version {version} is newer than this imgprep "
                f"understands ({FORMAT_VERSION}); upgrade imgprep"
            )
        check_document(data, source=source)
        try:
            settings = DecodeSettings.from_dict(data["preprocessing"])
        except (InputError, TypeError, ValueError) as exc:
            raise StatsFileError(f"{source}: key preprocessing: {exc}") from exc
        try:
            accumulator = MomentAccumulator.from_dict(data["accumulators"])
        except (TypeError, ValueError) as exc:  # not expected after check_document
            raise StatsFileError(f"{source}: invalid stats file ({exc})") from exc
        inputs = data["inputs"]
        zca = data.get("zca")
        asked = data.get("percentiles")
        stats = cls(
            accumulator=accumulator,
            settings=settings,
            dtype=data["dtype"],
            image_shape=list(data["image_shape"]) if data.get("image_shape") else None,
            inputs=list(inputs["examples"] if isinstance(inputs, dict) else inputs),
            input_count=inputs["count"] if isinstance(inputs, dict) else None,
            provenance=dict(data["provenance"]),
            skipped=[dict(v) for v in data.get("skipped", [])],
            # a "path" is never taken from a file: a sidecar is found beside its stats file
            zca={k: v for k, v in zca.items() if k != "path"} if zca else None,
            percentiles=merged_percentiles(asked["q"]) if asked else DEFAULT_PERCENTILES,
        )
        check_summary(data, stats.to_dict(), source=source)
        return stats

    @classmethod
    def from_json(cls, raw: bytes | str, *, source: str = "<stats>") -> Stats:
        """Parse the text of a stats file (also an HDF5 output's ``stats`` attribute)."""
        return cls.from_dict(parse_json(raw, source=source), source=source)

    def merge(self, other: Stats) -> Stats:
        """Statistics of the union of two disjoint datasets in the same space.

        Exact (bit-identical to one pass over the union) when both hold exact integer sums;
        otherwise Chan's formula in float64 (about 1e-15 relative).

        Raises:
            InputError: different pre-processing, channels or dtype, or the same data twice.
        """
        if not self.settings.same_space(other.settings):
            raise InputError(
                "cannot merge statistics from different pre-processing: "
                f"{self.settings.describe()} vs {other.settings.describe()}"
            )
        if self.channels != other.channels or self.dtype != other.dtype:
            raise InputError(
                f"cannot merge statistics of {self.channels} {self.dtype} channel(s) with "
                f"{other.channels} {other.dtype} channel(s)"
            )
        mine, theirs = _sources(self.provenance), _sources(other.provenance)
        overlap = {p.get("files_sha256") for p in mine} & {p.get("files_sha256") for p in theirs}
        if overlap - {None} and self.accumulator.to_dict() == other.accumulator.to_dict():
            raise InputError(
                "refusing to merge the same data twice (both stats files have the same file "
                "list hash and the same sums)"
            )
        if self.pixels + other.pixels > MAX_COUNT:
            raise InputError(
                "cannot merge: the union would count more pixels per channel than 64 bits hold"
            )
        return Stats(
            accumulator=self.accumulator.merge(other.accumulator),
            settings=self.settings,
            dtype=self.dtype,
            image_shape=self.image_shape if self.image_shape == other.image_shape else None,
            inputs=self.inputs + other.inputs,
            input_count=None
            if self.input_count is None and other.input_count is None
            else self.input_total + other.input_total,
            provenance={
                "files": sum(int(p.get("files", 0)) for p in mine + theirs),
                "merged_from": mine + theirs,
            },
            skipped=self.skipped + other.skipped,
            percentiles=merged_percentiles(self.percentiles + other.percentiles),
        )


def _sources(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    merged = provenance.get("merged_from")
    return [dict(p) for p in merged] if merged else [dict(provenance)]


def parse_json(raw: bytes | str, *, source: str) -> Any:
    """The JSON value of a stats file's bytes; one ``StatsFileError`` if it is not JSON.

    Huge integers become ``HugeInteger`` (refused by ``check_document`` with their key).
    """
    if isinstance(raw, bytes):
        if raw.startswith(HDF5_SIGNATURE):
            raise StatsFileError(
                f"{source}: an HDF5 file, not an imgprep stats file (the JSON that "
                "fit-stats -o writes)"
            )
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise StatsFileError(
                f"{source}: not an imgprep stats file (not UTF-8 text: byte "
                f"0x{exc.object[exc.start]:02x} at offset {exc.start})"
            ) from None
    try:
        return json.loads(raw, parse_int=parse_int)
    except RecursionError:
        reason = "JSON nested too deeply"
        raise StatsFileError(f"{source}: not an imgprep stats file ({reason})") from None
    except json.JSONDecodeError as exc:
        raise StatsFileError(f"{source}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
