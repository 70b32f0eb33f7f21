"""``imgprep inspect``: statistics of an image, a directory or an HDF5 dataset; CI checks."""

from __future__ import annotations

import json
import math
import os
from typing import Any

import click

from imgprep.cli.common import (
    DECODE_KEYS,
    decode_options,
    decode_settings,
    engine_options,
    input_options,
    log,
    percentiles_option,
    progress_bar,
    refuse_options,
    report_skip,
    resolve_inputs,
    worker_count,
)
from imgprep.errors import EXIT_CODES_HELP, InputError
from imgprep.io.discover import discover
from imgprep.io.formats.hdf5_reader import is_hdf5_name, is_hdf5_path
from imgprep.run.stats_pass import compute_stats
from imgprep.stats.file import channel_names
from imgprep.stats.histogram import percentile_label
from imgprep.summary import (
    Expectations,
    Summary,
    check,
    parse_numbers,
    shapes_text,
    summarize_hdf5,
    summary_from_stats,
    validate_expectations,
)


@click.command(
    "inspect",
    epilog="Examples:\n\n"
    "  imgprep inspect photo.jpg\n\n"
    "  imgprep inspect data/train --color grayscale --json\n\n"
    "  imgprep inspect out.h5 --expect-mean 0 --expect-std 1 --tol 1e-3\n\n" + EXIT_CODES_HELP,
)
@input_options
@click.option("--dataset", default="images", show_default=True, help="HDF5 dataset to read.")
@click.option(
    "--allow-external",
    is_flag=True,
    help="Read an HDF5 file whose data lies in other files (external storage or links, "
    "virtual sources outside its folder); refused by default.",
)
@click.option(
    "--json", "as_json", is_flag=True, help="Print JSON (stats-file keys) instead of a table."
)
@click.option(
    "--expect-mean",
    metavar="V[,V...]",
    help="Expected mean: one value (global) or one per channel.",
)
@click.option(
    "--expect-std", metavar="V[,V...]", help="Expected std: one value (global) or one per channel."
)
@click.option("--expect-range", metavar="LO,HI", help="Every value must lie in [LO, HI].")
@click.option("--expect-count", type=int, help="Expected number of images.")
@percentiles_option
@click.option(
    "--tol", type=float, default=1e-6, show_default=True, help="Absolute tolerance of the checks."
)
@decode_options
@engine_options
@click.pass_context
def inspect(ctx: click.Context, **params: Any) -> None:
    """Count, shape, dtype, min, max, mean and std (per channel and global).

    INPUTS is an image file, directories or files (as fit-stats), or one HDF5 file, whose
    --dataset is read in chunks with bounded memory; its stored pipeline and stats attributes
    are shown. An HDF5 file that reads other files (external storage or links, virtual
    sources outside its folder) is refused unless --allow-external. With --expect-* options,
    each failed expectation is printed on stderr and the exit code is 1, so a CI job can
    stop on data that is off.
    """
    expect = _expectations(params)
    paths = resolve_inputs(params["inputs"], params["files_from"], params["example"])
    _refuse_hdf5_among_others(paths)
    if len(paths) == 1 and os.path.isfile(paths[0]) and is_hdf5_path(paths[0]):
        refuse_options(ctx, DECODE_KEYS, "with an HDF5 file: it is read as stored")
        with progress_bar(0, quiet=params["quiet"], desc="inspect") as advance:
            summary = summarize_hdf5(
                paths[0],
                dataset=params["dataset"],
                progress=advance,
                allow_external=params["allow_external"],
            )
    else:
        if params["allow_external"]:
            raise click.UsageError("--allow-external applies to an HDF5 file only")
        found = discover(paths)
        for note in found.notes:
            log(f"note: {note}", quiet=params["quiet"])
        kind = "image" if len(paths) == 1 and os.path.isfile(paths[0]) else "directory"
        if kind == "directory" and not all(os.path.isdir(p) for p in paths):
            kind = "files"
        with progress_bar(len(found.items), quiet=params["quiet"], desc="inspect") as advance:
            stats = compute_stats(
                found,
                settings=decode_settings(params),
                workers=worker_count(params["workers"]),
                batch_size=params["batch_size"],
                on_error=params["on_error"],
                progress=advance,
                on_skip=report_skip,
            )
        source = paths[0] if len(paths) == 1 else ", ".join(paths)
        summary = summary_from_stats(stats, source=source, kind=kind, shape=stats.image_shape)
    summary.percentiles = params["percentiles"]
    validate_expectations(summary, expect)
    if params["as_json"]:
        click.echo(json.dumps(_json_safe(summary.to_dict()), indent=2, allow_nan=False))
    else:
        click.echo(render_table(summary))
    if not expect.empty:
        failures = check(summary, expect)
        for line in failures:
            click.echo(f"check failed: {line}", err=True)
        if failures:
            ctx.exit(1)


def _refuse_hdf5_among_others(paths: list[str]) -> None:
    """One HDF5 file is inspected alone: its table (dataset, attributes) and its JSON describe
    one dataset, and image decoding would call it a corrupt image."""
    if len(paths) < 2:
        return
    named = [path for path in paths if is_hdf5_name(path)]
    if named:
        raise InputError(
            f"inspect reads one HDF5 file at a time, alone ({len(paths)} inputs given, "
            f"with {named[0]}); run it once per HDF5 file"
        )


def _expectations(params: dict[str, Any]) -> Expectations:
    def numbers(key: str) -> tuple[float, ...] | None:
        value = params[key]
        return parse_numbers(value, name="--" + key.replace("_", "-")) if value else None

    value_range = numbers("expect_range")
    if value_range is not None and len(value_range) != 2:
        raise click.BadParameter("expected LO,HI", param_hint="--expect-range")
    return Expectations(
        mean=numbers("expect_mean"),
        std=numbers("expect_std"),
        value_range=(value_range[0], value_range[1]) if value_range else None,
        count=params["expect_count"],
        tol=params["tol"],
    )


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
    width = max(6, len(str(histogram.offset + histogram.levels)) + 1)
    header = "".join(f"{percentile_label(q):>{width}}" for q in summary.percentiles)
    rows = ["", f"{'channel':<8}" + header]
    for name, values in [*zip(names, per_channel, strict=True), ("global", overall)]:
        rows.append(f"{name:<8}" + "".join(f"{v:>{width}}" for v in values))
    return rows


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as the strings "NaN", "Infinity", "-Infinity": data
    holding them is reported as it is, and the output stays JSON (``json.dumps`` would write
    bare NaN, which JSON parsers such as jq refuse)."""
    if isinstance(value, float) and not math.isfinite(value):
        return "NaN" if value != value else ("Infinity" if value > 0 else "-Infinity")
    if isinstance(value, dict):
        return {key: _json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(item) for item in value]
    return value


def _row(name: str, count: int, low: float, high: float, mean: float, std: float) -> str:
    return (
        f"{name:<8} {count:>12} {low:>12.6g} {high:>12.6g} {float(mean):>20.15g} "
        f"{float(std):>20.15g}"
    )
