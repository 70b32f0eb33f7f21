"""Check a stats document's every key and number before anything uses it.

A stats file may have been received from someone else, edited by hand, or damaged: applied
as it is, a NaN mean gives an all-NaN dataset with exit 0, and ``fit-stats --merge`` or
``export-stats`` would pass it on as invalid JSON. So every key ``Stats.from_dict`` reads is
checked here, and the first problem is one ``StatsFileError`` naming the key::

    stats.json: key accumulators.m2[1]: negative (-3.0)

What is refused: a value of the wrong type; NaN or an infinity anywhere; negative or zero
counts; fewer pixels than images, or pixels that are not images x height x width when the
image shape is recorded; per-channel lists whose length is not the channel count; min above
max; min or max outside the dtype's range; more pixels than a 64-bit count; a mean outside
[min, max], a negative M2, a sum of squares no pixels in [min, max] give, or exact sums that
disagree with the recorded mean and M2 beyond rounding (``REL_TOLERANCE``); summary numbers
(``mean``, ``std``, ``min``, ``max``, ``global``) other than the accumulators' (``check_summary``:
readers see those, imgprep applies the accumulators); a ZCA sidecar named with a folder, ``..`` or
an absolute path (a sidecar is always looked up beside the file that names it), or a ZCA
shape other than the statistics' image shape; a histogram that is not exactly the
accumulated pixels, or percentiles other than its own (``imgprep.stats.check_histogram``).

Hostile JSON is refused too: free-form parts nested deeper than ``MAX_JSON_DEPTH``, and
integers longer than Python's int-string limit (4,300 digits), which the stats file's parser
keeps as ``HugeInteger`` markers (``imgprep.values``) so that the message can name the key.
"""

from __future__ import annotations

import math
import re
from typing import Any, NoReturn

import numpy as np

from imgprep.errors import StatsFileError
from imgprep.stats.check_histogram import (
    check_histogram,
    check_percentile_values,
    check_percentiles_asked,
)
from imgprep.values import MAX_JSON_DEPTH, HugeInteger, is_bare_name, shown

REL_TOLERANCE = 1e-9  # rounding allowed between derived numbers (float64 gives ~1e-16)
MAX_COUNT = 2**63 - 1  # pixels per channel: what a 64-bit count holds
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _show(value: Any) -> str:
    """A wrong value in a stats check's message (after its key: 40 characters at most)."""
    return shown(value, width=40, kinds=True)


class _Checker:
    """Raises one ``StatsFileError`` per problem, naming the file and the key."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, key: str, problem: str) -> NoReturn:
        raise StatsFileError(f"{self.source}: key {key}: {problem}")

    def refuse_huge(self, value: Any, key: str) -> None:
        if isinstance(value, HugeInteger):
            self.fail(key, f"{value!r}, more than Python converts to a number")

    def get(self, data: dict[str, Any], key: str, path: str) -> Any:
        if key not in data:
            raise StatsFileError(f"{self.source}: missing key {path!r}")
        return data[key]

    def object(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(key, f"must be an object, not {_show(value)}")
        return value

    def text(self, value: Any, key: str) -> str:
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {_show(value)}")
        return value

    def boolean(self, value: Any, key: str) -> bool:
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {_show(value)}")
        return value

    def integer(self, value: Any, key: str, *, minimum: int = 0) -> int:
        self.refuse_huge(value, key)
        if isinstance(value, bool) or not isinstance(value, int):
            kind = "a positive" if minimum == 1 else "an"
            self.fail(key, f"must be {kind} integer, not {_show(value)}")
        if value < minimum:
            self.fail(key, f"negative ({value})" if value < 0 else f"must be positive ({value})")
        return value

    def number(self, value: Any, key: str) -> float:
        """A finite int or float, returned as given (messages show it as written)."""
        self.refuse_huge(value, key)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.fail(key, f"must be a number, not {_show(value)}")
        if not math.isfinite(value):
            self.fail(key, f"not a finite number ({value})")
        return value

    def per_channel(
        self, data: dict[str, Any], key: str, path: str, channels: int, what: str
    ) -> list[Any]:
        """The list under ``key``, one value per channel (``what``: "numbers", "integers")."""
        values = self.get(data, key, path)
        if not isinstance(values, list):
            self.fail(path, f"must be a list of {what}, not {_show(values)}")
        if len(values) != channels:
            self.fail(path, f"has {len(values)} values for {channels} channels")
        return values

    def numbers(self, data: dict[str, Any], key: str, path: str, channels: int) -> list[float]:
        values = self.per_channel(data, key, path, channels, "numbers")
        return [self.number(v, f"{path}[{i}]") for i, v in enumerate(values)]

    def integers(self, data: dict[str, Any], key: str, path: str, channels: int) -> list[int]:
        values = self.per_channel(data, key, path, channels, "integers")
        for i, value in enumerate(values):
            self.refuse_huge(value, f"{path}[{i}]")
            if isinstance(value, bool) or not isinstance(value, int):
                self.fail(f"{path}[{i}]", f"exact sums must be integers, not {_show(value)}")
        return values

    def plain(self, value: Any, key: str) -> None:
        """Free-form JSON (kept and written again): finite numbers, bounded nesting."""
        pending = [(value, key, 0)]
        while pending:
            item, path, depth = pending.pop()
            if depth > MAX_JSON_DEPTH:
                self.fail(path, f"nested deeper than {MAX_JSON_DEPTH} levels")
            self.refuse_huge(item, path)
            if isinstance(item, float) and not math.isfinite(item):
                self.fail(path, f"not a finite number ({item})")
            if isinstance(item, dict):
                pending.extend((v, f"{path}.{k}", depth + 1) for k, v in item.items())
            elif isinstance(item, list):
                pending.extend((v, f"{path}[{i}]", depth + 1) for i, v in enumerate(item))


def check_document(data: dict[str, Any], *, source: str) -> None:
    """Refuse (``StatsFileError``) the first key of a stats document that is wrong.

    Expects ``format`` and ``format_version`` already checked (``Stats.from_dict``).
    """
    check = _Checker(source)
    acc = check.object(check.get(data, "accumulators", "accumulators"), "accumulators")
    channels = check.integer(acc.get("channels"), "accumulators.channels", minimum=1)
    _check_counts(check, data, acc)
    _check_moments(check, acc, channels)
    _check_preprocessing(check, check.get(data, "preprocessing", "preprocessing"))
    dtype = check.text(check.get(data, "dtype", "dtype"), "dtype")
    if not _is_pixel_dtype(dtype):
        check.fail("dtype", f"not a NumPy integer or float type ({_show(dtype)})")
    _check_value_range(check, acc, np.dtype(dtype), channels)
    if acc.get("histogram") is not None:
        check_histogram(check, acc, channels, np.dtype(dtype))
    if data.get("percentiles") is not None:
        check_percentiles_asked(check, data)
    shape = data.get("image_shape")
    if shape is not None:
        _check_shape(check, shape, "image_shape", channels)
        height, width, _ = shape
        if acc["count"] != acc["images"] * height * width:
            check.fail(
                "accumulators.count",
                f"{acc['count']} pixels is not {acc['images']} images of {height}x{width}",
            )
    _check_inputs(check, check.get(data, "inputs", "inputs"))
    provenance = check.object(check.get(data, "provenance", "provenance"), "provenance")
    _check_provenance(check, provenance, "provenance")
    merged = provenance.get("merged_from")
    if merged is not None:
        if not isinstance(merged, list) or not all(isinstance(v, dict) for v in merged):
            check.fail("provenance.merged_from", "must be a list of objects")
        for index, part in enumerate(merged):
            _check_provenance(check, part, f"provenance.merged_from[{index}]")
    files = provenance.get("files")
    if files is not None and acc["images"] > files:
        check.fail("accumulators.images", f"{acc['images']} images from {files} files")
    _check_skipped(check, data.get("skipped", []))
    if data.get("zca"):
        _check_zca(check, check.object(data["zca"], "zca"), shape)


def _check_counts(check: _Checker, data: dict[str, Any], acc: dict[str, Any]) -> None:
    images = check.integer(check.get(acc, "images", "accumulators.images"),
                           "accumulators.images", minimum=1)  # fmt: skip
    count = check.integer(check.get(acc, "count", "accumulators.count"),
                          "accumulators.count", minimum=1)  # fmt: skip
    if count > MAX_COUNT:  # and every product with a float below stays finite
        check.fail("accumulators.count", f"{_show(count)} pixels: more than 64 bits hold")
    if count < images:
        check.fail("accumulators.count", f"{count} pixels for {images} images")
    for key, expected in (("images", images), ("pixels", count)):
        if key in data and check.integer(data[key], key) != expected:
            check.fail(key, f"{data[key]} differs from accumulators' {expected}")


def _check_moments(check: _Checker, acc: dict[str, Any], channels: int) -> None:
    exact = check.boolean(check.get(acc, "exact", "accumulators.exact"), "accumulators.exact")
    count = acc["count"]
    low = check.numbers(acc, "min", "accumulators.min", channels)
    high = check.numbers(acc, "max", "accumulators.max", channels)
    for c in range(channels):
        if low[c] > high[c]:
            check.fail(f"accumulators.min[{c}]", f"{low[c]} is above max {high[c]}")
    # mean and m2 are derived (written for Chan's formula) when the sums are exact
    means = m2s = None
    if not exact or "mean" in acc:
        means = check.numbers(acc, "mean", "accumulators.mean", channels)
    if not exact or "m2" in acc:
        m2s = check.numbers(acc, "m2", "accumulators.m2", channels)
    for c in range(channels):
        scale = max(1.0, abs(low[c]), abs(high[c]))
        if means is not None and not low[c] - _slack(scale) <= means[c] <= high[c] + _slack(scale):
            check.fail(f"accumulators.mean[{c}]", f"{means[c]} is outside [min, max]")
        if m2s is not None and m2s[c] < 0:
            check.fail(f"accumulators.m2[{c}]", f"negative ({m2s[c]})")
        spread = high[c] - low[c]  # a product, not ** 2: inf instead of an OverflowError
        if m2s is not None and m2s[c] > count * spread * spread / 4 + _slack(count * scale * scale):
            check.fail(f"accumulators.m2[{c}]", f"{m2s[c]} is more than the range allows")
    if not exact:
        return
    sums = check.integers(acc, "sum", "accumulators.sum", channels)
    squares = check.integers(acc, "sum_sq", "accumulators.sum_sq", channels)
    for c, (s, q) in enumerate(zip(sums, squares, strict=True)):
        scale = max(1.0, abs(low[c]), abs(high[c]))
        if not count * (low[c] - _slack(scale)) <= s <= count * (high[c] + _slack(scale)):
            check.fail(f"accumulators.sum[{c}]", f"{s} is not {count} values in [min, max]")
        if q < 0:
            check.fail(f"accumulators.sum_sq[{c}]", f"negative ({q})")
        if count * q < s * s:
            check.fail(f"accumulators.sum_sq[{c}]", "is smaller than sum squared over count")
        if q > count * scale * scale * (1 + REL_TOLERANCE):  # int against float: exact
            check.fail(
                f"accumulators.sum_sq[{c}]", f"{_show(q)} is not {count} squares in [min, max]"
            )
        mean = s / count
        if means is not None and abs(means[c] - mean) > _slack(max(1.0, abs(mean))):
            check.fail(f"accumulators.mean[{c}]", f"{means[c]} differs from sum / count ({mean})")
        m2 = (count * q - s * s) / count
        if m2s is not None and abs(m2s[c] - m2) > _slack(max(1.0, m2)):
            check.fail(f"accumulators.m2[{c}]", f"{m2s[c]} differs from the exact sums ({m2})")


def _check_value_range(
    check: _Checker, acc: dict[str, Any], dtype: np.dtype, channels: int
) -> None:
    """Pixels lie in their dtype's range: a uint8 minimum of -5 or a float32 maximum of 1e300
    describes no such pixels (and would pass its bound on to every check after it)."""
    if dtype.kind == "b":
        low, high = 0.0, 1.0
    else:
        info = np.iinfo(dtype) if dtype.kind in "iu" else np.finfo(dtype)
        low, high = float(info.min), float(info.max)  # Python numbers: no NumPy casts
    for key in ("min", "max"):
        for c, value in enumerate(check.numbers(acc, key, f"accumulators.{key}", channels)):
            if not low <= value <= high:
                check.fail(f"accumulators.{key}[{c}]", f"{value} is outside {dtype.name}'s range")


def _is_pixel_dtype(name: str) -> bool:
    try:
        dtype = np.dtype(name)
    except TypeError:
        return False
    return dtype.kind in "buif" and dtype.name == name


def _slack(scale: float) -> float:
    return REL_TOLERANCE * scale


def _check_preprocessing(check: _Checker, value: Any) -> None:
    prep = check.object(value, "preprocessing")
    if "jpeg_draft" in prep:
        check.boolean(prep["jpeg_draft"], "preprocessing.jpeg_draft")
    check.plain(prep, "preprocessing")  # the rest: DecodeSettings.from_dict


def _check_shape(check: _Checker, shape: Any, key: str, channels: int) -> None:
    if not isinstance(shape, list) or len(shape) != 3:
        check.fail(key, f"must be [height, width, channels] or null, not {_show(shape)}")
    for index, value in enumerate(shape):
        check.integer(value, f"{key}[{index}]", minimum=1)
    if shape[2] != channels:
        check.fail(f"{key}[2]", f"{shape[2]} channels, but the accumulators have {channels}")


def _check_inputs(check: _Checker, value: Any) -> None:
    if isinstance(value, dict):  # many inputs: {"count": N, "examples": [...]}
        count = check.integer(check.get(value, "count", "inputs.count"), "inputs.count")
        examples = check.get(value, "examples", "inputs.examples")
        if not isinstance(examples, list) or len(examples) > count:
            check.fail("inputs.examples", f"must be a list of at most {count} paths")
        for index, path in enumerate(examples):
            check.text(path, f"inputs.examples[{index}]")
        return
    if not isinstance(value, list):
        check.fail("inputs", f"must be a list of paths or {{count, examples}}, not {_show(value)}")
    for index, path in enumerate(value):
        check.text(path, f"inputs[{index}]")


def _check_provenance(check: _Checker, value: dict[str, Any], key: str) -> None:
    for name in ("files", "ignored"):
        if name in value:
            check.integer(value[name], f"{key}.{name}")
    digest = value.get("files_sha256")
    if digest is not None and not (isinstance(digest, str) and _SHA256.match(digest)):
        check.fail(f"{key}.files_sha256", f"must be 64 hexadecimal digits, not {_show(digest)}")
    check.plain({k: v for k, v in value.items() if k != "merged_from"}, key)


def _check_skipped(check: _Checker, value: Any) -> None:
    if not isinstance(value, list):
        check.fail("skipped", f"must be a list of {{path, reason}}, not {_show(value)}")
    for index, entry in enumerate(value):
        entry = check.object(entry, f"skipped[{index}]")
        for name in ("path", "reason"):
            check.text(check.get(entry, name, f"skipped[{index}].{name}"),
                       f"skipped[{index}].{name}")  # fmt: skip
        check.plain(entry, f"skipped[{index}]")


def _check_zca(check: _Checker, zca: dict[str, Any], shape: list[int] | None) -> None:
    name = check.text(check.get(zca, "file", "zca.file"), "zca.file")
    if not is_bare_name(name):
        check.fail("zca.file", f"must be a file name beside the stats file, not {name!r}")
    digest = check.get(zca, "sha256", "zca.sha256")
    if not (isinstance(digest, str) and _SHA256.match(digest)):
        check.fail("zca.sha256", f"must be 64 hexadecimal digits, not {_show(digest)}")
    epsilon = check.number(check.get(zca, "zca_epsilon", "zca.zca_epsilon"), "zca.zca_epsilon")
    if epsilon <= 0:
        check.fail("zca.zca_epsilon", f"must be positive ({epsilon})")
    if check.number(check.get(zca, "rescale", "zca.rescale"), "zca.rescale") == 0:
        check.fail("zca.rescale", "must not be 0")
    check.integer(check.get(zca, "images", "zca.images"), "zca.images", minimum=1)
    check.boolean(check.get(zca, "exact", "zca.exact"), "zca.exact")
    fitted = check.get(zca, "shape", "zca.shape")
    if shape is None:
        check.fail("image_shape", "must be recorded with a ZCA fit (one image shape)")
    if fitted != shape:
        check.fail("zca.shape", f"{_show(fitted)} differs from image_shape {shape}")
    dimension = check.integer(check.get(zca, "dimension", "zca.dimension"), "zca.dimension")
    if dimension != math.prod(shape):
        check.fail("zca.dimension", f"{dimension} is not {'x'.join(map(str, shape))}")
    check.plain(zca, "zca")


def check_summary(data: dict[str, Any], derived: dict[str, Any], *, source: str) -> None:
    """The summary numbers a reader of the file sees (``mean``, ``std``, ``min``, ``max``,
    ``global``) must be those of the accumulators, which are what imgprep applies: a file
    whose ``mean`` says 0 while its sums say 127 was applied with 127 without a word.

    ``derived`` is the document the accumulators give (``Stats.to_dict``); keys absent
    from ``data`` are not required (they are derived, and written again on save).
    """
    check = _Checker(source)
    channels = len(derived["mean"])
    for key in ("mean", "std", "min", "max"):
        if key in data:
            given = check.numbers(data, key, key, channels)
            for c, (value, expected) in enumerate(zip(given, derived[key], strict=True)):
                _check_same(check, f"{key}[{c}]", value, expected)
    if "global" in data:
        given_global = check.object(data["global"], "global")
        for key, expected in derived["global"].items():
            if key in given_global:
                value = check.number(given_global[key], f"global.{key}")
                _check_same(check, f"global.{key}", value, expected)
    if data.get("percentiles") is not None:
        check_percentile_values(check, data, derived)


def _check_same(check: _Checker, key: str, value: float, expected: float) -> None:
    if abs(value - expected) > _slack(max(1.0, abs(expected))):
        check.fail(key, f"{value} differs from the accumulators' {expected}")
