"""``imgprep transform``: normalized, resized, grayscale copies to HDF5 or a PNG tree."""

from __future__ import annotations

from typing import Any

import click

from imgprep.augment import OPTIONS, AugmentSettings
from imgprep.cli.augment_options import augment_options
from imgprep.cli.common import (
    clip_callback,
    cluster_options,
    decode_options,
    engine_options,
    given,
    input_options,
    log,
    progress_bar,
    report_skip,
    rescale_callback,
    resolve_inputs,
    settings_from,
    workers_from,
)
from imgprep.cli.group_options import group_options, group_rule
from imgprep.config import (
    KERAS_EPSILON,
    NORMALIZE_MODES,
    OPTION_OF_KEY,
    OUTPUT_DTYPES,
    STATS_SCOPES,
    PipelineOptions,
)
from imgprep.config_file import load_config, pipeline_fields
from imgprep.errors import EXIT_CODES_HELP, InputError
from imgprep.io.formats.hdf5 import COMPRESSIONS
from imgprep.io.formats.registry import FORMATS
from imgprep.run.runner import as_runner
from imgprep.run.shards import SHARDS_SUFFIX
from imgprep.run.transform_pass import run_transform
from imgprep.run.transform_plan import (
    TransformPlan,
    TransformReport,
    TransformRequest,
    plan_transform,
    write_preview,
)
from imgprep.splits import parse_named_input, parse_split_spec


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
@click.option(
    "--output",
    "-o",
    help="FILE.h5 / FILE.hdf5 (HDF5) or a folder (PNG). Required unless --preview-only.",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(tuple(FORMATS)),
    help="Override the format the -o path implies.",
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
@click.option(
    "--seed",
    type=click.IntRange(min=0),
    help="Seed of --split, --shuffle and augmentation (drawn and printed when augmenting "
    "without one).",
)
@group_options
@click.option(
    "--shuffle",
    is_flag=True,
    help="Write each split's rows in a permuted order keyed by --seed (HDF5; recorded).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML pipeline (see configs/); command-line options override it.",
)
@click.option(
    "--clip-percentiles",
    metavar="LO,HI",
    callback=clip_callback,
    help="Clip each channel to the training set's exact LO-th and HI-th percentiles first "
    "(robust normalization; --stats or a train split; featurewise steps then use the "
    "clipped pixels' statistics).",
)
@click.option(
    "--rescale",
    callback=rescale_callback,
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
    "--zca",
    is_flag=True,
    help="ZCA-whiten each image with the matrix of --stats (fit-stats --zca), after rescale.",
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
@augment_options
@click.option(
    "--copies",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Augment: copies written per image.",
)
@click.option(
    "--keep-original", is_flag=True, help="Augment: also write each image unchanged (copy 0)."
)
@click.option(
    "--preview",
    type=click.Path(dir_okay=False),
    help="Write a PNG contact sheet of sources and their copies first.",
)
@click.option("--preview-only", is_flag=True, help="Write the --preview sheet and stop.")
@decode_options
@engine_options
@cluster_options
@click.pass_context
def transform(ctx: click.Context, **params: Any) -> None:
    """Write a prepared copy of a dataset (HDF5 or PNG tree) with its pipeline and stats.

    Order: decode, colour, resize, rescale, samplewise centre/standardize, featurewise
    centre/standardize, cast. HDF5 holds `images` (N, H, W, C), `labels` (class folders),
    `paths`, and the pipeline and statistics as attributes; several splits become groups.
    Featurewise statistics come from --stats or from the training part only.
    """
    config = _apply_config(ctx, params) if params["config_path"] else {}
    if not params["output"] and not params["preview_only"]:
        raise click.UsageError("missing -o/--output (required unless --preview-only)")
    if params["preview_only"] and not params["preview"]:
        raise click.UsageError("--preview-only needs --preview FILE")
    unset = {option.name: option.default for option in OPTIONS if params[option.name] is None}
    settings = settings_from(AugmentSettings, params, **unset)
    wants_copies = params["copies"] > 1 or params["keep_original"] or params["preview"]
    if wants_copies and not settings.active:
        raise click.UsageError(
            "--copies, --keep-original and --preview need at least one augmentation option "
            "(--rotation-range, --horizontal-flip, ...)"
        )
    named = [parse_named_input(text) for text in params["named_inputs"]]
    plain = (
        resolve_inputs(params["inputs"], params["files_from"], params["example"])
        if not named or params["inputs"] or params["files_from"] or params["example"]
        else []
    )
    request = TransformRequest(
        output=params["output"],
        inputs=plain,
        named_inputs=named,
        split_spec=parse_split_spec(params["split_spec"]) if params["split_spec"] else None,
        seed=params["seed"],
        groups=group_rule(params),
        options=_pipeline_options(ctx, params, config),
        augment=settings,
        copies=params["copies"],
        keep_original=params["keep_original"],
        fmt=params["fmt"],
        compression=params["compression"],
        overwrite=params["overwrite"],
        stats_path=params["stats_path"],
        allow_mismatch=params["allow_stats_mismatch"],
        preview=params["preview"],
        preview_only=params["preview_only"],
        batch_size=params["batch_size"],
        on_error=params["on_error"],
        on_cluster=params["engine"] == "dask",
        shuffle=params["shuffle"],
    )
    plan = plan_transform(request)
    if request.groups is not None:
        _log_group_split(plan, request, quiet=params["quiet"])
    if plan.augment is not None and plan.seed_drawn:  # shown even with --quiet: to repeat it
        seed = plan.augment.seed
        click.echo(f"transform: augmentation seed {seed} (pass --seed {seed} to repeat)", err=True)
    if params["preview"]:
        write_preview(plan)
        log(f"transform: preview written to {params['preview']}", quiet=params["quiet"])
        if params["preview_only"]:
            return
    _render_plan(plan, quiet=params["quiet"])
    with workers_from(ctx, params) as runner:
        on_cluster = as_runner(runner).on_cluster
        # On a cluster the progress bar counts completed partitions (see run.dask.DaskRunner).
        with progress_bar(
            plan.total, quiet=params["quiet"] or on_cluster, desc="transform"
        ) as advance:
            report = run_transform(plan, workers=runner, progress=advance, on_skip=report_skip)
    _render_report(report, plan, quiet=params["quiet"])


def _render_plan(plan: TransformPlan, *, quiet: bool) -> None:
    """What the plan found before the run: discovery notes, an unused stats file, and
    where the featurewise statistics come from."""
    for note in plan.notes:
        log(f"note: {note}", quiet=quiet)
    if plan.stats_ignored:
        log("transform: --stats given but no featurewise or --zca step uses it", quiet=quiet)
    if plan.fit_split is not None:
        log(f"transform: featurewise statistics computed from {plan.fit_label}", quiet=quiet)


def _render_report(report: TransformReport, plan: TransformPlan, *, quiet: bool) -> None:
    """The summary lines on stderr: shards, per split what was processed, the output."""
    output = plan.request.output
    if report.shards:
        log(
            f"transform: {report.shards} shard(s) in {output}{SHARDS_SUFFIX}, "
            f"{report.reused} reused from an earlier run",
            quiet=quiet,
        )
    for name, written in report.written.items():
        label = f"{name}: " if name else ""
        processed = report.processed(name)
        rows = f" ({written} rows written)" if written != processed else ""
        log(
            f"transform: {label}{processed} images processed{rows}, "
            f"{len(report.skipped[name])} skipped (of {report.found[name]} found)",
            quiet=quiet,
        )
    log(f"transform: wrote {output} ({plan.fmt})", quiet=quiet)


def _log_group_split(plan: TransformPlan, request: TransformRequest, *, quiet: bool) -> None:
    """The fractions whole groups gave, beside the ones asked."""
    asked = dict(request.split_spec or ())
    total = sum(len(split.discovery.items) for split in plan.splits)
    shares = ", ".join(
        f"{split.name} {len(split.discovery.items) / total:.3f} (asked {asked[split.name]:g})"
        for split in plan.splits
        if split.name is not None
    )
    log(f"transform: groups kept whole; split fractions {shares}", quiet=quiet)


_CONFIG_PARAMS = {
    "stats": "stats_path",
    "groups": "groups_path",
    "split": "split_spec",
    "format": "fmt",
}


def _apply_config(ctx: click.Context, params: dict[str, Any]) -> dict[str, Any]:
    """Read the config file; fill every run and augmentation option not given on the command
    line from it, and return its keys (the pipeline's are parsed by ``_pipeline_options``)."""
    data = load_config(params["config_path"])
    by_name = {param.name: param for param in ctx.command.params}
    for key, value in data.items():
        name = _CONFIG_PARAMS.get(key, key.replace("-", "_"))
        if key in OPTION_OF_KEY or given(ctx, name):
            continue
        param = by_name[name]
        raw = value if not isinstance(value, list) else ",".join(str(v) for v in value)
        try:
            params[name] = param.process_value(ctx, raw)
        except click.BadParameter as exc:
            raise InputError(
                f"{params['config_path']}: key {key!r}: {exc.format_message()}"
            ) from exc
    return data


def _pipeline_options(
    ctx: click.Context, params: dict[str, Any], config: dict[str, Any]
) -> PipelineOptions:
    """The pipeline options: the config file's keys, each overridden by its command-line
    option when given, through the parser ``imgprep.pipeline_from_config`` uses too."""
    values = {name: params[name] for name in OPTION_OF_KEY.values()}
    in_file = {
        key: value for key, value in config.items() if not given(ctx, OPTION_OF_KEY.get(key, ""))
    }
    values.update(pipeline_fields(in_file, source=params["config_path"]))
    return PipelineOptions.from_fields(values)
