"""``imgprep transform``: normalized, resized, grayscale copies to HDF5 or a PNG tree."""

from __future__ import annotations

from typing import Any

import click

from imgprep.cli.common import (
    EXIT_CODES_HELP,
    decode_options,
    decode_settings,
    engine_options,
    input_options,
    log,
    progress_bar,
    report_skip,
    resolve_inputs,
    worker_count,
)
from imgprep.config import load_config, parse_rescale
from imgprep.errors import InputError
from imgprep.io.atomic import check_writable
from imgprep.io.writers import COMPRESSIONS
from imgprep.prepare import (
    FORMATS,
    build_splits,
    check_format,
    output_format,
    resolve_stats,
    write_dataset,
)
from imgprep.splits import parse_named_input, parse_split_spec
from imgprep.stats_file import Stats
from imgprep.transforms.pipeline import (
    KERAS_EPSILON,
    NORMALIZE_MODES,
    OUTPUT_DTYPES,
    STATS_SCOPES,
    Pipeline,
    PipelineOptions,
)


def _rescale_callback(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
    if value is None:
        return None
    try:
        return parse_rescale(value)
    except InputError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command(
    "transform",
    epilog="Examples:\n\n"
    "  imgprep transform data/train -o train.h5 --color grayscale --rescale 1/255\n\n"
    "  imgprep transform data/val -o val.h5 --stats train-stats.json --center featurewise "
    "--standardize featurewise\n\n"
    "  imgprep transform --input train=data/train --input val=data/val -o all.h5 "
    "--center featurewise --standardize featurewise\n\n"
    "  imgprep transform data -o split.h5 --split train=0.8,val=0.1,test=0.1 --seed 1\n\n"
    "  imgprep transform --config configs/mnist-standardize.toml data/train -o train.h5\n\n"
    + EXIT_CODES_HELP,
)
@input_options
@click.option("--output", "-o", required=True, help="FILE.h5 / FILE.hdf5 (HDF5) or a folder (PNG).")
@click.option(
    "--format", "fmt", type=click.Choice(FORMATS), help="Override the format the -o path implies."
)
@click.option(
    "--input",
    "named_inputs",
    multiple=True,
    metavar="NAME=PATH",
    help="A named split (repeatable): --input train=DIR --input val=DIR.",
)
@click.option(
    "--split",
    "split_spec",
    metavar="NAME=F,...",
    help="Stratified split of one input, e.g. train=0.8,val=0.2 (needs --seed).",
)
@click.option("--seed", type=int, help="Seed of --split.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML pipeline (see configs/); command-line options override it.",
)
@click.option(
    "--rescale",
    callback=_rescale_callback,
    metavar="F",
    help="Multiply first, as Keras' rescale (1/255 accepted).",
)
@click.option(
    "--center",
    type=click.Choice(NORMALIZE_MODES),
    help="Subtract the image's own mean (samplewise) or the dataset's (featurewise, --stats).",
)
@click.option(
    "--standardize",
    type=click.Choice(NORMALIZE_MODES),
    help="Divide by the image's own std (samplewise) or the dataset's (featurewise), + epsilon.",
)
@click.option(
    "--stats-scope",
    type=click.Choice(STATS_SCOPES),
    help="channel or global for every statistic. Default as Keras: featurewise per channel, "
    "samplewise over the whole image (all channels together).",
)
@click.option(
    "--epsilon",
    type=float,
    default=KERAS_EPSILON,
    show_default=True,
    help="Added to every std before dividing (Keras: 1e-6).",
)
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(dir_okay=False),
    help="Stats file from fit-stats for featurewise steps.",
)
@click.option(
    "--allow-stats-mismatch",
    is_flag=True,
    help="Apply stats computed with other colour/size settings.",
)
@click.option(
    "--dtype",
    type=click.Choice(OUTPUT_DTYPES),
    default="auto",
    show_default=True,
    help="auto: the decoded dtype (uint8) when no step makes floats, float32 otherwise.",
)
@click.option(
    "--compression",
    type=click.Choice(COMPRESSIONS),
    default="none",
    show_default=True,
    help="HDF5 compression of images.",
)
@click.option("--overwrite", is_flag=True, help="Replace an existing non-empty PNG output folder.")
@decode_options
@engine_options
@click.pass_context
def transform(ctx: click.Context, **params: Any) -> None:
    """Write a prepared copy of a dataset (HDF5 or PNG tree) with its pipeline and stats.

    Order: decode, colour, resize, rescale, samplewise centre/standardize, featurewise
    centre/standardize, cast. HDF5 holds `images` (N, H, W, C), `labels` (class folders),
    `paths`, and the pipeline and statistics as attributes; several splits become groups.
    Featurewise statistics come from --stats or from the training part only.
    """
    if params["config_path"]:
        _apply_config(ctx, params)
    if params["batch_size"] == 256 and _is_default(ctx, "batch_size"):
        params["batch_size"] = 64
    named = [parse_named_input(text) for text in params["named_inputs"]]
    plain = (
        resolve_inputs(params["inputs"], params["files_from"], params["example"])
        if not named or params["inputs"] or params["files_from"] or params["example"]
        else []
    )
    split_spec = parse_split_spec(params["split_spec"]) if params["split_spec"] else None
    options = PipelineOptions(
        decode=decode_settings(params),
        rescale=params["rescale"],
        center=params["center"],
        standardize=params["standardize"],
        stats_scope=params["stats_scope"],
        epsilon=params["epsilon"],
        dtype=params["dtype"],
    )
    fmt = output_format(params["output"], params["fmt"])
    check_format(fmt, options)
    check_writable(params["output"], directory_ok=fmt == "png")
    splits = build_splits(plain, named, split_spec, params["seed"])
    total = sum(len(split.discovery.items) for split in splits)
    quiet = params["quiet"]
    for note in dict.fromkeys(note for split in splits for note in split.discovery.notes):
        log(f"note: {note}", quiet=quiet)
    workers = worker_count(params["workers"])
    given_stats = Stats.load(params["stats_path"]) if params["stats_path"] else None
    if given_stats is not None and not options.needs_stats:
        log("transform: --stats given but no featurewise step uses it", quiet=quiet)
    with progress_bar(total, quiet=quiet, desc="fit-stats (train)") as advance:
        stats, source = resolve_stats(
            options,
            splits,
            given_stats if options.needs_stats else None,
            allow_mismatch=params["allow_stats_mismatch"],
            workers=workers,
            batch_size=256,
            on_error=params["on_error"],
            progress=advance,
            on_skip=report_skip,
        )
    if source.startswith("computed"):
        log(f"transform: featurewise statistics {source}", quiet=quiet)
    pipeline = Pipeline(options, stats)
    with progress_bar(total, quiet=quiet, desc="transform") as advance:
        report = write_dataset(
            splits,
            pipeline,
            params["output"],
            fmt=fmt,
            compression=params["compression"],
            overwrite=params["overwrite"],
            workers=workers,
            batch_size=params["batch_size"],
            on_error=params["on_error"],
            stats_source=source,
            progress=advance,
            on_skip=report_skip,
        )
    for name, written in report.written.items():
        label = f"{name}: " if name else ""
        log(
            f"transform: {label}{written} written, {len(report.skipped[name])} skipped "
            f"(of {report.found[name]} found)",
            quiet=quiet,
        )
    log(f"transform: wrote {params['output']} ({fmt})", quiet=quiet)


def _is_default(ctx: click.Context, name: str) -> bool:
    return ctx.get_parameter_source(name) in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
        None,
    )


_CONFIG_PARAMS = {
    "stats": "stats_path",
    "split": "split_spec",
    "format": "fmt",
}


def _apply_config(ctx: click.Context, params: dict[str, Any]) -> None:
    """Fill every option not given on the command line from the config file."""
    data = load_config(params["config_path"])
    by_name = {param.name: param for param in ctx.command.params}
    for key, value in data.items():
        name = _CONFIG_PARAMS.get(key, key.replace("-", "_"))
        if not _is_default(ctx, name):
            continue
        param = by_name[name]
        raw = value if not isinstance(value, list) else "x".join(str(v) for v in value)
        try:
            params[name] = param.process_value(ctx, raw)
        except click.BadParameter as exc:
            raise InputError(
                f"{params['config_path']}: key {key!r}: {exc.format_message()}"
            ) from exc
