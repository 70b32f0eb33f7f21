"""``imgprep inspect``: statistics of an image, a directory or an HDF5 dataset; CI checks."""

from __future__ import annotations

import json
import os
from typing import Any

import click

from imgprep.against import drift_against, drift_document, drift_failures, space_of_hdf5
from imgprep.balance import SplitClasses, all_splits, min_per_class_failures
from imgprep.cli.common import (
    DECODE_KEYS,
    decode_options,
    decode_settings,
    engine_options,
    given,
    input_options,
    log,
    percentiles_option,
    progress_bar,
    refuse_options,
    report_skip,
    resolve_inputs,
    worker_count,
)
from imgprep.cli.group_options import group_rule
from imgprep.cli.inspect_balance import (
    balance_options,
    classes_document,
    folder_classes,
    hdf5_classes,
    outliers_document,
    render_classes,
    render_outliers,
    split_outliers,
)
from imgprep.cli.inspect_drift import drift_limits, drift_options, render_drift, settings_against
from imgprep.cli.inspect_duplicates import (
    ProfileTable,
    duplicate_options,
    duplicates_document,
    leakage_failures,
    render_duplicates,
)
from imgprep.cli.inspect_html import PartSource, check_report_path, html_option, write_html
from imgprep.cli.inspect_render import json_safe, render_table
from imgprep.config import DecodeSettings
from imgprep.duplicates import DuplicateReport
from imgprep.errors import EXIT_CODES_HELP, ImgprepError, InputError
from imgprep.io.discover import discover
from imgprep.io.formats.hdf5_reader import hdf5_splits, is_hdf5_name, is_hdf5_path
from imgprep.io.items import Discovery
from imgprep.io.stats_io import is_stats_name, read_stats
from imgprep.run.stats_pass import compute_stats
from imgprep.splits import build_splits, parse_named_input, parse_split_spec
from imgprep.stats.drift import Drift
from imgprep.stats.file import Stats
from imgprep.stats.histogram import merged_percentiles
from imgprep.summary import (
    Expectations,
    Summary,
    check,
    parse_numbers,
    summarize_hdf5,
    summary_from_stats,
    validate_expectations,
)


@click.command(
    "inspect",
    epilog="Examples:\n\n"
    "  imgprep inspect photo.jpg\n\n"
    "  imgprep inspect data/train --color grayscale --json\n\n"
    "  imgprep inspect out.h5 --expect-mean 0 --expect-std 1 --tol 1e-3\n\n"
    "  imgprep inspect data/val --against train-stats.json --max-mean-shift 0.1 --max-ks 0.05"
    "\n\n" + EXIT_CODES_HELP,
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
@drift_options
@duplicate_options
@balance_options
@html_option
@click.option(
    "--tol", type=float, default=1e-6, show_default=True, help="Absolute tolerance of the checks."
)
@decode_options
@engine_options
@click.pass_context
def inspect(ctx: click.Context, **params: Any) -> None:
    """Count, shape, dtype, min, max, mean and std (per channel and global).

    INPUTS is an image file, directories or files (as fit-stats), one HDF5 file, whose
    --dataset is read in chunks with bounded memory (its stored pipeline and stats
    attributes are shown), or one stats file (.json, from fit-stats). With --against STATS,
    the drift from those training statistics is shown too, and --max-* limits gate it. An
    HDF5 file that reads other files (external storage or links, virtual sources outside its
    folder) is refused unless --allow-external. With --expect-* or --max-* options, each
    failed check is printed on stderr and the exit code is 1, so a CI job can stop on data
    that is off.
    """
    expect = _expectations(params)
    limits = drift_limits(ctx, params)
    parts = _parts(ctx, params)
    reference = read_stats(params["against"]) if params["against"] else None
    duplicates = params["duplicates"] or params["fail_on_leakage"]
    table = ProfileTable() if duplicates or params["outliers"] else None
    if params["html_path"]:
        read = [path for part in parts for path in part[1]]
        listed = getattr(params["files_from"], "name", params["files_from"])  # a click.File
        read += [path for path in (params["against"], params["groups_path"], listed) if path]
        check_report_path(params["html_path"], [p for p in read if p not in ("-", "<stdin>")])
    results: list[tuple[str | None, Summary, list[Drift] | None]] = []
    sources: list[PartSource] = []
    failures: list[str] = []
    for name, paths, dataset, discovered in parts:
        summary, space, origin = _summarize(
            ctx, params, (paths, dataset, discovered), reference, table, name
        )
        sources.append(origin)
        summary.percentiles = merged_percentiles(summary.percentiles + params["percentiles"])
        validate_expectations(summary, expect)
        rows = None
        if reference is not None:
            if space is None and summary.kind == "hdf5":
                log(f"note: {summary.source} records no pre-processing; compared as stored",
                    quiet=params["quiet"])  # fmt: skip
            rows = drift_against(summary, reference, space=space, source=params["against"])
        found = check(summary, expect) if not expect.empty else []
        found += drift_failures(rows, limits) if rows is not None else []
        failures += [f"{name}: {line}" if name else line for line in found]
        results.append((name, summary, rows))
    report = table.report(params["near"], with_splits=len(parts) > 1) if duplicates else None
    if report is not None and table is not None and params["fail_on_leakage"]:
        failures += leakage_failures(report, table)
    classes = all_splits({name: summary.class_counts for name, summary, _ in results})
    if params["expect_min_per_class"] is not None:
        if not classes:
            raise ImgprepError(
                "--expect-min-per-class needs labelled images: class folders, or an HDF5 "
                "split with labels and class_names"
            )
        failures += min_per_class_failures(classes, params["expect_min_per_class"])
    outliers = {
        name: split_outliers(table, name)
        for name, _, _ in results
        if params["outliers"] and table is not None
    }
    click.echo(_output(params, results, report, table, classes, outliers))
    if params["html_path"]:
        write_html(params, results, sources, report, table, classes, outliers)
    for line in failures:
        click.echo(f"check failed: {line}", err=True)
    if failures:
        ctx.exit(1)


def _output(
    params: dict[str, Any],
    results: list[tuple[str | None, Summary, list[Drift] | None]],
    report: DuplicateReport | None,
    table: ProfileTable | None,
    classes: dict[str | None, SplitClasses],
    outliers: dict[str | None, Any],
) -> str:
    """The table, or the JSON document (one summary, or ``splits`` by name)."""
    if params["as_json"]:
        documents = {}
        for name, summary, rows in results:
            document = summary.to_dict()
            if rows is not None:
                document["drift"] = drift_document(rows, params["against"])
            if name in classes:
                document["classes"] = classes_document(classes[name])
            found = outliers.get(name)
            if found is not None and table is not None:
                document["outliers"] = outliers_document(*found, table)
            documents[name] = document
        if len(results) == 1 and results[0][0] is None:
            output = documents[None]
        else:
            output = {"splits": documents}
        if report is not None and table is not None:
            output["duplicates"] = duplicates_document(report, table)
        return json.dumps(json_safe(output), indent=2, allow_nan=False)
    lines = []
    for name, summary, rows in results:
        if lines:
            lines.append("")
        if name is not None:
            lines.append(f"split    {name}")
        lines.append(render_table(summary))
        if name in classes:
            lines.extend(render_classes(classes[name], params["max_listed"]))
        found = outliers.get(name)
        if found is not None and table is not None:
            lines.extend(render_outliers(*found, table, params["max_listed"]))
        if rows is not None:
            lines.extend(render_drift(rows, params["against"]))
    if report is not None and table is not None:
        lines.extend(render_duplicates(report, table, params["max_listed"]))
    return "\n".join(lines)


Part = tuple[str | None, list[str], str, Discovery | None]  # name, paths, dataset, images


def _parts(ctx: click.Context, params: dict[str, Any]) -> list[Part]:
    """What to inspect: (split name, paths, HDF5 dataset, discovered images) for each part.

    Named ``--input`` splits; the parts ``--split`` would make of INPUTS; or, for duplicates
    in an HDF5 file with splits and no ``--dataset``, each split's ``NAME/images``; else the
    INPUTS as one part.
    """
    named = [parse_named_input(text) for text in params["named_inputs"]]
    rule = group_rule(params)
    given_inputs = params["inputs"] or params["files_from"] or params["example"]
    paths = (
        resolve_inputs(params["inputs"], params["files_from"], params["example"])
        if not named or given_inputs
        else []
    )
    if named or params["split_spec"] or rule is not None:  # the splits transform would make
        hdf5 = [path for path in [*paths, *(path for _, path in named)] if is_hdf5_name(path)]
        if hdf5:
            raise click.UsageError(
                f"--input and --split take folders and image files, not {hdf5[0]}: inspect "
                "an HDF5 file alone, its splits are read from it"
            )
        spec = parse_split_spec(params["split_spec"]) if params["split_spec"] else None
        splits = build_splits(paths, named, spec, params["seed"], rule)
        return [
            (split.name, list(split.discovery.inputs), params["dataset"], split.discovery)
            for split in splits
        ]
    _refuse_hdf5_among_others(paths)
    single = paths[0] if len(paths) == 1 and os.path.isfile(paths[0]) else None
    wants_splits = params["duplicates"] or params["fail_on_leakage"]
    if single is not None and is_hdf5_path(single) and wants_splits and not given(ctx, "dataset"):
        splits = hdf5_splits(single, allow_external=params["allow_external"])
        if splits:
            return [(name, [single], f"{name}/images", None) for name in splits]
    return [(None, paths, params["dataset"], None)]


def _summarize(
    ctx: click.Context,
    params: dict[str, Any],
    what: tuple[list[str], str, Discovery | None],
    reference: Stats | None,
    table: ProfileTable | None,
    split: str | None,
) -> tuple[Summary, DecodeSettings | None, PartSource]:
    """What was inspected, the pre-processing its pixels had (None when unknown), and where
    its images are read again for the HTML report."""
    paths, dataset, discovered = what
    single = paths[0] if len(paths) == 1 and os.path.isfile(paths[0]) else None
    if single is not None and is_hdf5_path(single):
        refuse_options(ctx, DECODE_KEYS, "with an HDF5 file: it is read as stored")
        origin = PartSource(hdf5=(single, dataset))
        collect = (
            table.collector(split, lambda row: f"{dataset}[{row}]", origin.load)
            if table is not None
            else None
        )
        with progress_bar(0, quiet=params["quiet"], desc="inspect") as advance:
            summary = summarize_hdf5(
                single,
                dataset=dataset,
                progress=advance,
                allow_external=params["allow_external"],
                on_profiles=collect,
            )
        summary.class_counts = hdf5_classes(
            single, dataset, allow_external=params["allow_external"]
        )
        if summary.unprofiled:
            log(f"note: {single}: {summary.unprofiled} rows are larger than the read block and "
                "were not profiled: duplicates and outliers leave them out",
                quiet=params["quiet"])  # fmt: skip
        return summary, space_of_hdf5(summary) if reference is not None else None, origin
    if params["allow_external"]:
        raise click.UsageError("--allow-external applies to an HDF5 file only")
    if single is not None and is_stats_name(single):
        refuse_options(ctx, DECODE_KEYS, "with a stats file: it was computed already")
        if table is not None:
            raise click.UsageError("--duplicates needs images, not a stats file")
        stats = read_stats(single)
        summary = summary_from_stats(stats, source=single, kind="stats", shape=stats.image_shape)
        summary.percentiles = stats.percentiles
        return summary, stats.settings, PartSource()
    found = discovered if discovered is not None else discover(paths)
    for note in found.notes:
        log(f"note: {note}", quiet=params["quiet"])
    kind = "image" if single is not None else "directory"
    if kind == "directory" and not all(os.path.isdir(p) for p in paths):
        kind = "files"
    if reference is not None:
        settings = settings_against(ctx, params, reference)
    else:
        settings = decode_settings(params)
    origin = PartSource(found=found, settings=settings)
    collect = table.collector(split, found.items.path, origin.load) if table is not None else None
    with progress_bar(len(found.items), quiet=params["quiet"], desc="inspect") as advance:
        stats = compute_stats(
            found,
            settings=settings,
            workers=worker_count(params["workers"]),
            batch_size=params["batch_size"],
            on_error=params["on_error"],
            progress=advance,
            on_skip=report_skip,
            on_profiles=collect,
        )
    source = paths[0] if len(paths) == 1 else ", ".join(paths)
    summary = summary_from_stats(stats, source=source, kind=kind, shape=stats.image_shape)
    summary.class_counts = folder_classes(found, stats.skipped)
    return summary, settings, origin


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
