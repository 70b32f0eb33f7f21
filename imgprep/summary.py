"""What ``imgprep inspect`` reports, and the expectations it can check for CI.

An image file or a directory goes through the same streaming engine as fit-stats. An HDF5
dataset is first checked (``imgprep.io.formats.hdf5_reader``), then read in blocks of at most
``chunk_bytes`` of stored values, so memory stays bounded whatever the file (see
``summarize_hdf5``); rows are folded in order, so the numbers do not depend on the block
size.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep.errors import ImgprepError, InputError, option
from imgprep.io.formats.hdf5_reader import MAX_ATTRIBUTE_BYTES
from imgprep.profile import Profiler
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats, channel_names
from imgprep.stats.histogram import DEFAULT_PERCENTILES
from imgprep.stats.moments import ExactRun, ImageMoments, batch_moments, is_exact_dtype
from imgprep.values import MAX_JSON_DEPTH, json_depth

DEFAULT_CHUNK_BYTES = 64 << 20
_FLOAT_VALUES = 1 << 22  # values per moments call: bounds the float64 working copies
_MAX_ROWS = 1 << 16  # rows per moments call: bounds the per-row objects of one-value rows


@dataclass
class Summary:
    """Statistics of one inspected source plus what describes it."""

    source: str
    kind: str  # "image", "directory", "files" or "hdf5"
    accumulator: MomentAccumulator
    dtype: str
    shape: list[int] | None = None  # uniform image shape (H, W, C) or None when mixed
    dataset: str | None = None
    dataset_shape: list[int] | None = None
    attributes: dict[str, Any] = field(default_factory=dict)
    skipped: list[dict[str, str]] = field(default_factory=list)
    ignored: int = 0
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES
    class_counts: dict[str, int] | None = None  # images per class, when labelled
    unprofiled: int = 0  # rows too large to profile (read in parts: see summarize_hdf5)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; statistics under the same keys as the stats file."""
        data: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "images": self.accumulator.images,
            "pixels": self.accumulator.count,
            "channel_names": channel_names(self.accumulator.channels or 0),
            "dtype": self.dtype,
            "image_shape": self.shape,
            **self.accumulator.summary(self.percentiles),  # mean, std, min, max, global, ...
        }
        if self.kind == "hdf5":
            data["dataset"] = self.dataset
            data["dataset_shape"] = self.dataset_shape
            data["attributes"] = self.attributes
        else:
            data["skipped"] = self.skipped
            data["ignored"] = self.ignored
        return data


def summary_from_stats(stats: Stats, *, source: str, kind: str, shape: list[int] | None) -> Summary:
    """Wrap fit-stats output of a file or directory as a Summary."""
    return Summary(
        source=source,
        kind=kind,
        accumulator=stats.accumulator,
        dtype=stats.dtype,
        shape=shape,
        skipped=stats.skipped,
        ignored=int(stats.provenance.get("ignored", 0)),
    )


def summarize_hdf5(
    path: str,
    *,
    dataset: str = "images",
    chunk_bytes: int | None = None,
    progress: Callable[[int], None] | None = None,
    allow_external: bool = False,
    on_profiles: Callable[[np.ndarray], None] | None = None,
) -> Summary:
    """Statistics of an HDF5 dataset, rows = images, last axis = channels when 4-D.

    ``on_profiles``, when given, is called with the profile rows (``imgprep.profile``;
    ``index`` the row number) of each block of rows, in order: rows larger than the block
    (read in parts) have none.

    An (N, H, W, C) dataset has C channels; (N, H, W) and (N,) have one. The file is first
    checked by ``imgprep.io.formats.hdf5_reader`` (what it may point at, the shape it may have: a
    hostile file is refused from its metadata alone, before a value is read), then read in
    blocks of at most ``chunk_bytes`` (default ``DEFAULT_CHUNK_BYTES``, 64 MiB) of stored
    values: whole rows when a row fits, otherwise each row in parts of whole image lines.

    Memory budget, whatever the file: peak RSS about 2x the block for 8/16-bit integers
    (the block plus the histogram counting of ``stats.ExactRun``, at most ~4M values at a
    time), about 3x for float rows of up to ~4M values and up to 8x for float rows close
    to the block (each float row is computed whole in float64, two-pass, as for any float
    image), plus one HDF5 chunk (at most ``hdf5_storage.MAX_CHUNK_BYTES``).

    Numbers: rows that fit in the block are folded exactly as before (bit for bit, whatever
    the block); the parts of a split 8/16-bit row sum exactly; the parts of a split row of
    another dtype (float, 32/64-bit integers; only rows larger than the block) are combined
    with Chan's formula, equal to the whole-row numbers to ~1e-15 relative.

    Raises:
        InputError: the file cannot be opened or has no such dataset (lists what it has).
        ImgprepError: the file breaks a rule of ``imgprep.io.formats.hdf5_reader``, or a block
            cannot be read (a corrupt chunk).
    """
    from imgprep.io.formats.hdf5_reader import check_dataset, find_dataset, open_hdf5

    block_bytes = DEFAULT_CHUNK_BYTES if chunk_bytes is None else chunk_bytes
    with open_hdf5(path) as handle:
        data = find_dataset(handle, path, dataset, allow_external=allow_external)
        check_dataset(path, dataset, data, allow_external=allow_external)
        accumulator = MomentAccumulator()
        whole = _fold_dataset(path, dataset, data, accumulator, block_bytes, progress, on_profiles)
        attributes = _attributes(data.attrs)
        attributes.update(_attributes(handle.attrs))
        shape = [*data.shape[1:], 1] if data.ndim == 3 else list(data.shape[1:])
        return Summary(
            source=path,
            kind="hdf5",
            accumulator=accumulator,
            dtype=data.dtype.name,
            shape=shape,
            dataset=dataset,
            dataset_shape=list(data.shape),
            attributes=attributes,
            unprofiled=0 if whole or on_profiles is None else int(data.shape[0]),
        )


def _fold_dataset(
    path: str,
    name: str,
    data: Any,
    accumulator: MomentAccumulator,
    block_bytes: int,
    progress: Callable[[int], None] | None,
    on_profiles: Callable[[np.ndarray], None] | None = None,
) -> bool:
    """Fold every row of ``data`` into ``accumulator`` in order, ``block_bytes`` at a time;
    whether rows were read whole (only whole rows are profiled)."""
    count = data.shape[0]
    channels = data.shape[-1] if data.ndim == 4 else 1
    row_values = int(np.prod(data.shape[1:], dtype=np.int64))
    row_bytes = max(1, row_values * data.dtype.itemsize)
    if row_bytes <= block_bytes or data.ndim == 1:
        rows = max(1, block_bytes // row_bytes)
        for start in range(0, count, rows):
            block = _read(path, name, data, np.s_[start : start + rows], start)
            _fold_rows(accumulator, block, channels)
            if on_profiles is not None and data.ndim >= 3:
                profiler = Profiler()
                for offset, row in enumerate(block):
                    profiler.add(start + offset, row)
                on_profiles(profiler.rows())
            if progress:
                progress(len(block))
        return True
    height = data.shape[1]
    lines = max(1, block_bytes // (row_bytes // height))  # image lines per part
    exact = is_exact_dtype(data.dtype)
    for index in range(count):
        run: ExactRun | None = None
        for top in range(0, height, lines):
            part = _read(path, name, data, np.s_[index, top : top + lines], index)
            flat = part.reshape(-1, channels)
            if exact:  # one exact run per row: integer sums, the bits of one part
                run = run or ExactRun(flat[:1])
                _count(run, flat, channels)
            else:
                last = top + lines >= height
                accumulator.add(batch_moments([flat])[0]._replace(images=1 if last else 0))
        if run is not None:
            accumulator.add(run.moments()._replace(images=1))
        if progress:
            progress(1)
    return False


def _fold_rows(accumulator: MomentAccumulator, block: np.ndarray, channels: int) -> None:
    """Whole rows: 8/16-bit integers as one exact run (integer sums: the same bits as one
    part per row), other dtypes one part per row in order, ``_FLOAT_VALUES`` at a time."""
    if is_exact_dtype(block.dtype):
        accumulator.add(_exact_moments(block.reshape(-1, channels), channels, images=len(block)))
        return
    row_values = max(1, block[0].size)
    step = max(1, min(_MAX_ROWS, _FLOAT_VALUES // row_values))
    for start in range(0, len(block), step):
        images = [row.reshape(-1, channels) for row in block[start : start + step]]
        for moments in batch_moments(images):
            accumulator.add(moments)


def _exact_moments(values: np.ndarray, channels: int, *, images: int) -> ImageMoments:
    """Exact moments of a (pixels, channels) integer array, counted ~4M values at a time
    (``ExactRun`` counts an added array whole: one huge array would need 8 bytes per value)."""
    run = ExactRun(values[:1])
    _count(run, values, channels)
    return run.moments()._replace(images=images)


def _count(run: ExactRun, values: np.ndarray, channels: int) -> None:
    step = max(1, _FLOAT_VALUES // channels)
    for start in range(0, len(values), step):
        run.add(values[start : start + step])


def _read(path: str, name: str, data: Any, selection: Any, row: int) -> np.ndarray:
    try:
        return np.asarray(data[selection])
    except OSError as exc:  # a corrupt chunk, a source file that went away
        raise ImgprepError(f"{path}: dataset {name!r} cannot be read at row {row} ({exc})") from exc


@dataclass(frozen=True)
class Expectations:
    """What a CI job expects of the data; ``tol`` is an absolute tolerance.

    ``mean`` and ``std`` hold one value (compared with the global value) or one per channel.
    ``value_range`` requires global min >= low - tol and max <= high + tol.
    """

    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    value_range: tuple[float, float] | None = None
    count: int | None = None
    tol: float = 1e-6

    def __post_init__(self) -> None:
        if self.tol < 0 or math.isnan(self.tol):
            raise InputError(f"tolerance must be >= 0, got {self.tol}")
        if self.value_range is not None and self.value_range[0] > self.value_range[1]:
            raise InputError(f"range low {self.value_range[0]} is above high {self.value_range[1]}")

    @property
    def empty(self) -> bool:
        return (
            self.mean is None
            and self.std is None
            and self.value_range is None
            and (self.count is None)
        )


def validate_expectations(summary: Summary, expect: Expectations) -> None:
    """Refuse a per-channel expectation whose length differs from the channel count."""
    channels = summary.accumulator.channels or 0
    for key, wanted in (("mean", expect.mean), ("std", expect.std)):
        if wanted is not None and len(wanted) not in (1, channels):
            raise InputError(
                f"{option('expect-' + key)} has {len(wanted)} values but the data has {channels} "
                "channel(s): give one value (global) or one per channel"
            )


def check(summary: Summary, expect: Expectations) -> list[str]:
    """One line per failed expectation, naming value, expectation and tolerance."""
    validate_expectations(summary, expect)
    failures: list[str] = []
    acc = summary.accumulator
    channel = acc.channel_stats()
    glob = acc.global_stats()
    names = channel_names(acc.channels or 0)
    for key, wanted in (("mean", expect.mean), ("std", expect.std)):
        if wanted is None:
            continue
        if len(wanted) == 1:
            _compare(failures, f"global {key}", glob[key], wanted[0], expect.tol)
        elif len(wanted) == len(names):
            for name, value, target in zip(names, channel[key].tolist(), wanted, strict=True):
                _compare(failures, f"{key} of channel {name}", value, target, expect.tol)
        else:
            raise InputError(
                f"{option('expect-' + key)} has {len(wanted)} values but the data has {len(names)} "
                "channel(s): give one value (global) or one per channel"
            )
    if expect.value_range is not None:
        low, high = expect.value_range
        if not glob["min"] >= low - expect.tol:
            failures.append(
                f"min is {_fmt(glob['min'])}, below the expected range [{_fmt(low)}, "
                f"{_fmt(high)}] (tolerance {_fmt(expect.tol)})"
            )
        if not glob["max"] <= high + expect.tol:
            failures.append(
                f"max is {_fmt(glob['max'])}, above the expected range [{_fmt(low)}, "
                f"{_fmt(high)}] (tolerance {_fmt(expect.tol)})"
            )
    if expect.count is not None and acc.images != expect.count:
        failures.append(f"image count is {acc.images}, expected {expect.count}")
    return failures


def parse_numbers(text: str, *, name: str) -> tuple[float, ...]:
    """``"0.5"`` or ``"0.5,0.4,0.3"`` -> floats; a clear error otherwise."""
    try:
        values = tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise InputError(f"{name}: expected numbers separated by commas, got {text!r}") from exc
    if any(math.isnan(v) for v in values):
        raise InputError(f"{name}: NaN is not a valid expectation")
    return values


def _compare(failures: list[str], label: str, value: float, target: float, tol: float) -> None:
    if not abs(value - target) <= tol:
        failures.append(
            f"{label} is {_fmt(value)}, expected {_fmt(target)} ± {_fmt(tol)} "
            f"(off by {_fmt(abs(value - target))})"
        )


def _fmt(value: float) -> str:
    return f"{value:.10g}"


def _attributes(attrs: Any) -> dict[str, Any]:
    """Attributes for the report, sorted; one too large or unreadable is described instead
    of read (an attribute can hold gigabytes, or a type h5py cannot convert)."""
    shown: dict[str, Any] = {}
    for key in sorted(attrs.keys()):
        try:
            size = attrs.get_id(key).get_storage_size()
            if size > MAX_ATTRIBUTE_BYTES:
                shown[key] = f"<{size:,} bytes, not shown>"
                continue
            shown[key] = _attribute(attrs[key])
        except (OSError, TypeError) as exc:  # h5py: a type it cannot convert
            shown[key] = f"<unreadable: {exc}>"
    return shown


def _attribute(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except (ValueError, RecursionError):  # not JSON, or nested beyond Python's stack
            return value
        return parsed if json_depth(parsed) <= MAX_JSON_DEPTH else value
    if isinstance(value, np.ndarray):
        return [_attribute(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _attribute(value.item())  # np.void gives bytes, decoded above
    if value is None or isinstance(value, bool | int | float | list | dict):
        return value
    return repr(value)  # complex, datetime...: shown, since JSON has no such value


def shapes_text(shape: Sequence[int] | None) -> str:
    """``28x28x1`` (H x W x C), or ``mixed`` for images of different sizes."""
    if shape is None:
        return "mixed"
    return "x".join(str(v) for v in shape) if shape else "one value per row"
