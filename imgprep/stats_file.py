"""The stats file: a versioned JSON document that later runs and the Python API apply.

Layout (format version 1; keys in this order)::

    {
      "format": "imgprep-stats",
      "format_version": 1,
      "imgprep_version": "0.1.0",
      "inputs": ["data/train"],               # as given on the command line
      "preprocessing": {"color": "keep", "size": [28, 28] | null, "resize_mode": "stretch",
                        "resample": "bilinear", "pad_value": 0, "exif": "apply"},
      "channel_names": ["L"],
      "dtype": "uint8",                       # dtype of the decoded pixels
      "image_shape": [28, 28, 1] | null,      # H, W, C when every image has it
      "images": 60000,                        # images accumulated
      "pixels": 47040000,                     # pixels per channel
      "mean": [...], "std": [...], "min": [...], "max": [...],      # per channel
      "global": {"count": ..., "mean": ..., "std": ..., "min": ..., "max": ...},
      "accumulators": {"channels", "images", "count", "exact", "mean", "m2", "min", "max",
                       "sum", "sum_sq"},       # raw, mergeable; sums only when exact
      "provenance": {"files": 60000, "files_sha256": "...", "ignored": 0,
                     "merged_from": [...]},   # merged_from only for merged files
      "skipped": [{"path": "...", "reason": "..."}]
    }

``std`` is the population standard deviation (ddof=0), as NumPy and Keras. ``files_sha256``
is the SHA-256 of one line per found file, in processing order: its path relative to its
input, its size in bytes and its modification time in nanoseconds, tab-separated. No timestamp
is written, so the same inputs give the same bytes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep import __version__
from imgprep.config import DecodeSettings
from imgprep.errors import InputError, StatsFileError
from imgprep.io.atomic import write_text_atomic
from imgprep.stats import FORMAT_NAME, FORMAT_VERSION, MomentAccumulator

CHANNEL_NAMES = {1: ["L"], 2: ["L", "A"], 3: ["R", "G", "B"], 4: ["R", "G", "B", "A"]}


def channel_names(channels: int) -> list[str]:
    """Names for a channel count: L, LA, RGB, RGBA, else c0, c1, ..."""
    return CHANNEL_NAMES.get(channels, [f"c{i}" for i in range(channels)])


@dataclass
class Stats:
    """Statistics of a dataset in one pre-processing space, loadable and mergeable.

    The per-channel values are NumPy float64 arrays: ``stats.mean``, ``stats.std``,
    ``stats.min``, ``stats.max``; the whole-image ones are ``stats.global_mean`` etc.
    """

    accumulator: MomentAccumulator
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    dtype: str = "uint8"
    image_shape: list[int] | None = None
    inputs: list[str] = field(default_factory=list)
    provenance: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    zca: dict[str, Any] | None = None
    source_path: str | None = field(default=None, compare=False, repr=False)

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
        channel = self.accumulator.channel_stats()
        glob = self.accumulator.global_stats()
        return {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "imgprep_version": __version__,
            "inputs": list(self.inputs),
            "preprocessing": self.settings.to_dict(),
            "channel_names": channel_names(self.channels),
            "dtype": self.dtype,
            "image_shape": self.image_shape,
            "images": self.images,
            "pixels": self.pixels,
            "mean": channel["mean"].tolist(),
            "std": channel["std"].tolist(),
            "min": [_plain(v) for v in channel["min"].tolist()],
            "max": [_plain(v) for v in channel["max"].tolist()],
            "global": {key: _plain(value) for key, value in glob.items()},
            "accumulators": self.accumulator.to_dict(),
            "provenance": dict(self.provenance),
            "skipped": list(self.skipped),
            **({"zca": dict(self.zca)} if self.zca else {}),
        }

    def to_json(self) -> str:
        """Deterministic JSON text (floats written with full round-trip precision)."""
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def save(self, path: str) -> None:
        """Write atomically: a failure leaves no file under ``path``."""
        write_text_atomic(path, self.to_json())

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "<stats>") -> Stats:
        """Parse and validate a stats document; any problem is one ``StatsFileError``."""
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
        try:
            stats = cls(
                accumulator=MomentAccumulator.from_dict(_object(data, "accumulators")),
                settings=DecodeSettings.from_dict(_object(data, "preprocessing")),
                dtype=_text(data, "dtype"),
                image_shape=_int_list_or_none(data.get("image_shape"), "image_shape"),
                inputs=[str(v) for v in _list(data, "inputs")],
                provenance=_provenance(_object(data, "provenance")),
                skipped=[dict(v) for v in data.get("skipped", [])],
                zca=dict(data["zca"]) if data.get("zca") else None,
            )
            _check_accumulator(stats.accumulator)
        except KeyError as exc:
            raise StatsFileError(f"{source}: missing key {exc.args[0]!r}") from exc
        except (InputError, TypeError, ValueError) as exc:
            raise StatsFileError(f"{source}: invalid stats file ({exc})") from exc
        return stats

    @classmethod
    def load(cls, path: str) -> Stats:
        """Read a stats file written by ``imgprep fit-stats`` or ``Stats.save``."""
        try:
            with open(path, encoding="utf-8") as handle:
                data = json.load(handle)
        except FileNotFoundError as exc:
            raise InputError(f"stats file not found: {path}") from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise StatsFileError(f"{path}: cannot read stats file: {exc}") from exc
        except json.JSONDecodeError as exc:
            raise StatsFileError(f"{path}: not valid JSON ({exc.msg}, line {exc.lineno})") from exc
        stats = cls.from_dict(data, source=path)
        stats.source_path = path
        return stats

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
        return Stats(
            accumulator=self.accumulator.merge(other.accumulator),
            settings=self.settings,
            dtype=self.dtype,
            image_shape=self.image_shape if self.image_shape == other.image_shape else None,
            inputs=self.inputs + other.inputs,
            provenance={
                "files": sum(int(p.get("files", 0)) for p in mine + theirs),
                "merged_from": mine + theirs,
            },
            skipped=self.skipped + other.skipped,
        )


def _object(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data[key]
    if not isinstance(value, dict):
        raise ValueError(f"{key!r} must be an object, not {type(value).__name__}")
    return value


def _list(data: dict[str, Any], key: str) -> list[Any]:
    value = data[key]
    if not isinstance(value, list):
        raise ValueError(f"{key!r} must be a list, not {type(value).__name__}")
    return value


def _text(data: dict[str, Any], key: str) -> str:
    value = data[key]
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value


def _int_list_or_none(value: Any, key: str) -> list[int] | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, int) for v in value):
        raise ValueError(f"{key!r} must be a list of integers or null")
    return list(value)


def _provenance(value: dict[str, Any]) -> dict[str, Any]:
    merged = value.get("merged_from")
    if merged is not None and (
        not isinstance(merged, list) or not all(isinstance(v, dict) for v in merged)
    ):
        raise ValueError("'provenance.merged_from' must be a list of objects")
    return dict(value)


def _check_accumulator(acc: MomentAccumulator) -> None:
    """Counts positive and every per-channel list as long as the channel count."""
    channels = acc.channels
    if isinstance(channels, bool) or not isinstance(channels, int) or channels < 1:
        raise ValueError(f"accumulators.channels must be a positive integer, not {channels!r}")
    if acc.count < 1 or acc.images < 1:
        raise ValueError("accumulators.count and accumulators.images must be positive")
    lists = {"min": acc.minimum, "max": acc.maximum}
    if acc.exact:
        lists.update({"sum": acc.sums, "sum_sq": acc.sums_sq})
    else:
        lists.update({"mean": acc.float_mean, "m2": acc.float_m2})
    for name, values in lists.items():
        if len(values) != channels:
            raise ValueError(
                f"accumulators.{name} has {len(values)} values for {channels} channels"
            )
    if acc.exact and any(acc.count * q < s * s for s, q in zip(acc.sums, acc.sums_sq, strict=True)):
        raise ValueError("accumulators.sum_sq is smaller than sum squared over count")


def _sources(provenance: dict[str, Any]) -> list[dict[str, Any]]:
    merged = provenance.get("merged_from")
    return [dict(p) for p in merged] if merged else [dict(provenance)]


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value
