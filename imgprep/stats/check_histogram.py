"""Check a stats document's histogram and percentiles (format version 2) before use.

A histogram is applied (``transform --clip-percentiles``) and compared (``inspect
--against``), so a hand-edited one must not pass: its every count must add up to the
accumulators' pixel count, its lowest and highest values must be their min and max, and
its sums of values and of squares must be their exact sums, which leaves no number in it
free. Percentiles are derived from it and are checked by ``check_summary`` like the mean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from imgprep.stats.histogram import MAX_HISTOGRAM_BINS, MAX_PERCENTILES, value_range


def check_histogram(check: Any, acc: dict[str, Any], channels: int, dtype: np.dtype) -> None:
    """Refuse (through ``check``, a ``stats.check._Checker``) a histogram that is not the
    exact counts of the accumulated pixels."""
    key = "accumulators.histogram"
    histogram = check.object(acc["histogram"], key)
    if acc.get("exact") is not True:
        check.fail(key, "is only kept with exact sums (8- or 16-bit pixels)")
    if not (dtype == np.bool_ or (dtype.kind in "ui" and dtype.itemsize <= 2)):
        check.fail(key, f"is only kept for 8- or 16-bit pixels, not {dtype.name}")
    offset, levels = value_range(dtype)
    if channels * levels > MAX_HISTOGRAM_BINS:  # it would be allocated dense
        check.fail(key, f"{channels} channels of {levels} values: more than the "
                   f"{MAX_HISTOGRAM_BINS} counts a histogram may hold")  # fmt: skip
    for name, expected in (("offset", offset), ("levels", levels)):
        value = check.integer(check.get(histogram, name, f"{key}.{name}"), f"{key}.{name}",
                              minimum=-(1 << 62))  # fmt: skip
        if value != expected:
            check.fail(f"{key}.{name}", f"{value} is not {dtype.name}'s {expected}")
    bins = check.get(histogram, "bins", f"{key}.bins")
    if not isinstance(bins, list) or len(bins) != channels:
        check.fail(f"{key}.bins", f"must be one list of [value, count] per channel ({channels})")
    for c, pairs in enumerate(bins):
        _check_channel(check, f"{key}.bins[{c}]", pairs, acc, c, (offset, offset + levels))


def _check_channel(
    check: Any, key: str, pairs: Any, acc: dict[str, Any], c: int, bounds: tuple[int, int]
) -> None:
    if not isinstance(pairs, list) or not pairs:
        check.fail(key, "must be a non-empty list of [value, count] pairs")
    previous = bounds[0] - 1
    total = sum_values = sum_squares = 0
    for index, pair in enumerate(pairs):
        where = f"{key}[{index}]"
        if not isinstance(pair, list) or len(pair) != 2:
            check.fail(where, "must be a [value, count] pair")
        value = check.integer(pair[0], f"{where}[0]", minimum=-(1 << 62))
        count = check.integer(pair[1], f"{where}[1]", minimum=1)
        if not previous < value < bounds[1]:
            check.fail(f"{where}[0]", f"{value} is not above {previous} and below {bounds[1]}")
        previous = value
        total += count
        sum_values += count * value
        sum_squares += count * value * value
    if total != acc["count"]:
        check.fail(key, f"counts add up to {total}, not the {acc['count']} pixels accumulated")
    for name, expected in (("min", pairs[0][0]), ("max", pairs[-1][0])):
        if acc[name][c] != expected:
            check.fail(f"{key}", f"its {name} is {expected}, accumulators.{name}[{c}] says "
                       f"{acc[name][c]}")  # fmt: skip
    for name, expected in (("sum", sum_values), ("sum_sq", sum_squares)):
        if acc[name][c] != expected:
            check.fail(key, f"gives {name} {expected}, accumulators.{name}[{c}] says "
                       f"{acc[name][c]}")  # fmt: skip


def check_percentiles_asked(check: Any, data: dict[str, Any]) -> None:
    """The ``percentiles`` key: which were asked (``q``), each in [0, 100]; its values are
    compared with the histogram's by ``check_summary``."""
    value = check.object(data["percentiles"], "percentiles")
    if "histogram" not in data["accumulators"]:
        check.fail("percentiles", "given without accumulators.histogram to derive them from")
    asked = check.get(value, "q", "percentiles.q")
    if not isinstance(asked, list) or not asked:
        check.fail("percentiles.q", "must be a non-empty list of numbers in [0, 100]")
    if len(asked) > MAX_PERCENTILES:
        check.fail("percentiles.q", f"{len(asked)} percentiles: at most {MAX_PERCENTILES}")
    for index, q in enumerate(asked):
        if not 0 <= check.number(q, f"percentiles.q[{index}]") <= 100:
            check.fail(f"percentiles.q[{index}]", f"{q} is not in [0, 100]")


def check_percentile_values(check: Any, data: dict[str, Any], derived: dict[str, Any]) -> None:
    """The written percentiles must be the histogram's, exactly (they are pixel values)."""
    given, expected = data["percentiles"], derived["percentiles"]
    positions = {float(q): k for k, q in enumerate(expected["q"])}
    for part in ("channels", "global"):
        if part not in given:
            continue
        rows = given[part] if part == "channels" else [given[part]]
        wanted = expected[part] if part == "channels" else [expected[part]]
        if not isinstance(rows, list) or len(rows) != len(wanted):
            check.fail(f"percentiles.{part}", f"must have {len(wanted)} rows")
        for r, (row, want) in enumerate(zip(rows, wanted, strict=True)):
            where = f"percentiles.{part}" + (f"[{r}]" if part == "channels" else "")
            if not isinstance(row, list) or len(row) != len(given["q"]):
                check.fail(where, f"must have one value per percentile ({len(given['q'])})")
            for q, value in zip(given["q"], row, strict=True):
                if value != want[positions[float(q)]]:
                    check.fail(where, f"p{q:g} is {value!r}, the histogram gives "
                               f"{want[positions[float(q)]]}")  # fmt: skip
