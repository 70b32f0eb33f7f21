"""What ``imgprep inspect`` reports, and the expectations it can check for CI.

An image file or a directory goes through the same streaming engine as fit-stats. An HDF5
dataset is read in chunks of whole rows (images), about ``chunk_bytes`` at a time, so memory
stays bounded whatever the file size; rows are folded in order, so the numbers do not depend
on the chunk size.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from imgprep.errors import ImgprepError, InputError
from imgprep.stats import MomentAccumulator, batch_moments
from imgprep.stats_file import Stats, channel_names

HDF5_EXTENSIONS = (".h5", ".hdf5", ".he5")
DEFAULT_CHUNK_BYTES = 64 << 20


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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready; statistics under the same keys as the stats file."""
        channel = self.accumulator.channel_stats()
        data: dict[str, Any] = {
            "source": self.source,
            "kind": self.kind,
            "images": self.accumulator.images,
            "pixels": self.accumulator.count,
            "channel_names": channel_names(self.accumulator.channels or 0),
            "dtype": self.dtype,
            "image_shape": self.shape,
            "mean": channel["mean"].tolist(),
            "std": channel["std"].tolist(),
            "min": [_plain(v) for v in channel["min"].tolist()],
            "max": [_plain(v) for v in channel["max"].tolist()],
            "global": {k: _plain(v) for k, v in self.accumulator.global_stats().items()},
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


def is_hdf5_path(path: str) -> bool:
    """HDF5 by extension, or by signature for other file names."""
    if path.lower().endswith(HDF5_EXTENSIONS):
        return True
    try:
        import h5py

        return h5py.is_hdf5(path)
    except (OSError, ValueError):
        return False


def summarize_hdf5(
    path: str,
    *,
    dataset: str = "images",
    chunk_bytes: int = DEFAULT_CHUNK_BYTES,
    progress: Callable[[int], None] | None = None,
) -> Summary:
    """Statistics of an HDF5 dataset, rows = images, last axis = channels when 4-D.

    An (N, H, W, C) dataset has C channels; (N, H, W) and (N,) have one.

    Raises:
        InputError: the file cannot be opened or has no such dataset (lists what it has).
    """
    import h5py

    try:
        handle = h5py.File(path, "r")
    except OSError as exc:
        raise ImgprepError(f"{path}: cannot open as HDF5 ({exc})") from exc
    with handle:
        if dataset not in handle or not isinstance(handle[dataset], h5py.Dataset):
            available = _dataset_names(handle)
            raise InputError(
                f"{path}: no dataset {dataset!r}; it has: {', '.join(available) or 'none'}"
            )
        data = handle[dataset]
        _check_virtual_sources(path, dataset, data)
        if data.ndim == 0 or data.shape[0] == 0:
            raise InputError(f"{path}: dataset {dataset!r} is empty")
        if not (np.issubdtype(data.dtype, np.number) or data.dtype == np.bool_):
            raise InputError(f"{path}: dataset {dataset!r} is not numeric ({data.dtype})")
        channels = data.shape[-1] if data.ndim == 4 else 1
        row_bytes = max(1, int(np.prod(data.shape[1:], dtype=np.int64)) * data.dtype.itemsize)
        rows = max(1, chunk_bytes // row_bytes)
        accumulator = MomentAccumulator()
        for start in range(0, data.shape[0], rows):
            block = np.asarray(data[start : start + rows])
            images = [row.reshape(-1, channels) for row in block]
            for moments in batch_moments(images):
                accumulator.add(moments)
            if progress:
                progress(len(images))
        attributes = {key: _attribute(value) for key, value in sorted(data.attrs.items())}
        attributes.update({key: _attribute(value) for key, value in sorted(handle.attrs.items())})
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
        )


def _check_virtual_sources(path: str, name: str, data: Any) -> None:
    """A virtual dataset (``transform --engine dask``) whose source file is missing would
    read as zeros, silently: refuse it, naming the first missing file."""
    if not data.is_virtual:
        return
    base = os.path.dirname(os.path.abspath(path))
    for source in data.virtual_sources():
        if source.file_name == ".":
            continue  # a source inside this same file
        if not os.path.isfile(os.path.join(base, source.file_name)):
            raise ImgprepError(
                f"{path}: dataset {name!r} reads {source.file_name}, which is missing (HDF5 "
                "would return zeros for it); keep the .shards folder beside the file"
            )


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
                f"--expect-{key} has {len(wanted)} values but the data has {channels} "
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
                f"--expect-{key} has {len(wanted)} values but the data has {len(names)} "
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


def _dataset_names(handle: Any) -> list[str]:
    import h5py

    names: list[str] = []
    handle.visititems(
        lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None
    )
    return names


def _attribute(value: Any) -> Any:
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        try:
            return json.loads(value)
        except ValueError:
            return value
    if isinstance(value, np.ndarray):
        return [_attribute(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _plain(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def shapes_text(shape: Sequence[int] | None) -> str:
    """``28x28x1`` (H x W x C), or ``mixed`` for images of different sizes."""
    if shape is None:
        return "mixed"
    return "x".join(str(v) for v in shape) if shape else "one value per row"
