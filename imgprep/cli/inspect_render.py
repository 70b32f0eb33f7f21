"""What ``imgprep inspect`` prints: the table, and JSON that stays JSON."""

from __future__ import annotations

import json
import math
from typing import Any

from imgprep.stats.file import channel_names
from imgprep.stats.histogram import percentile_label
from imgprep.summary import Summary, shapes_text


def render_table(summary: Summary) -> str:
    """The human-readable report."""
    acc = summary.accumulator
    channel = acc.channel_stats()
    glob = acc.global_stats()
    lines = [f"source   {summary.source} ({summary.kind})"]
    if summary.kind == "hdf5":
        shape = "x".join(str(v) for v in summary.dataset_shape or [])
        lines.append(f"dataset  {summary.dataset} ({shape})")
    lines.append(f"images   {acc.images}")
    lines.append(f"shape    {shapes_text(summary.shape)} (HxWxC)")
    lines.append(f"dtype    {summary.dtype}")
    if summary.kind != "hdf5":
        lines.append(f"skipped  {len(summary.skipped)}   ignored {summary.ignored} (not images)")
    lines.append("")
    header = f"{'channel':<8} {'count':>12} {'min':>12} {'max':>12} {'mean':>20} {'std':>20}"
    lines.append(header)
    names = channel_names(acc.channels or 0)
    for index, name in enumerate(names):
        lines.append(
            _row(name, acc.count, channel["min"][index], channel["max"][index],
                 channel["mean"][index], channel["std"][index])
        )  # fmt: skip
    lines.append(_row("global", glob["count"], glob["min"], glob["max"], glob["mean"], glob["std"]))
    lines.extend(_percentile_rows(summary, names))
    for key in ("pipeline", "stats"):
        if key in summary.attributes:
            lines.append("")
            lines.append(f"{key}:")
            lines.append(json.dumps(_shortened(summary.attributes[key]), indent=2))
    return "\n".join(lines)


def _shortened(attribute: Any) -> Any:
    """A stored stats document with its histogram's bins counted, not listed (256 to 65,536
    pairs per channel; ``--json`` has them all)."""
    accumulators = attribute.get("accumulators") if isinstance(attribute, dict) else None
    histogram = accumulators.get("histogram") if isinstance(accumulators, dict) else None
    if not isinstance(histogram, dict) or not isinstance(histogram.get("bins"), list):
        return attribute
    counted = [len(row) if isinstance(row, list) else row for row in histogram["bins"]]
    shown = {**histogram, "bins": f"values present per channel: {counted} (see --json)"}
    return {**attribute, "accumulators": {**accumulators, "histogram": shown}}


def _percentile_rows(summary: Summary, names: list[str]) -> list[str]:
    """The exact percentiles, one row per channel and a global row (integer pixels only)."""
    histogram = summary.accumulator.histogram
    if histogram is None:
        return ["", "percentiles: not available (they are counted for 8- and 16-bit pixels)"]
    per_channel, overall = histogram.percentiles(summary.percentiles)
    widest = max(len(str(v)) for v in [*overall, *(v for row in per_channel for v in row)])
    width = max(6, widest + 1, *(len(percentile_label(q)) + 1 for q in summary.percentiles))
    header = "".join(f"{percentile_label(q):>{width}}" for q in summary.percentiles)
    rows = ["", f"{'channel':<8}" + header]
    for name, values in [*zip(names, per_channel, strict=True), ("global", overall)]:
        rows.append(f"{name:<8}" + "".join(f"{v:>{width}}" for v in values))
    return rows


def json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as the strings "NaN", "Infinity", "-Infinity": data
    holding them is reported as it is, and the output stays JSON (``json.dumps`` would write
    bare NaN, which JSON parsers such as jq refuse)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _row(name: str, count: int, low: float, high: float, mean: float, std: float) -> str:
    return (
        f"{name:<8} {count:>12} {low:>12.6g} {high:>12.6g} {float(mean):>20.15g} "
        f"{float(std):>20.15g}"
    )
