"""``imgprep fit-stats``: one streaming pass, a stats file out."""

from __future__ import annotations

from typing import Any

import click

from imgprep.cli.common import (
    DECODE_KEYS,
    ENGINE_KEYS,
    cluster_options,
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
    rescale_callback,
    resolve_inputs,
    workers_from,
)
from imgprep.errors import EXIT_CODES_HELP
from imgprep.run.runner import as_runner
from imgprep.run.stats_plan import StatsRequest, merge_stats, plan_stats, run_fit_stats
from imgprep.stats.file import Stats
from imgprep.stats.zca import KERAS_ZCA_EPSILON


@click.command(
    "fit-stats",
    epilog="Examples:\n\n"
    "  imgprep fit-stats data/train --color grayscale -o stats.json\n\n"
    "  find data -name '*.png' | imgprep fit-stats - -j 2 -o stats.json\n\n"
    "  imgprep fit-stats --merge part1.json part2.json -o all.json\n\n" + EXIT_CODES_HELP,
)
@input_options
@click.option(
    "--output", "-o", type=click.Path(dir_okay=False), help="Stats file (default, or '-': stdout)."
)
@click.option(
    "--merge",
    is_flag=True,
    help="INPUTS are stats files over disjoint data in the same space: write their union.",
)
@click.option(
    "--zca",
    is_flag=True,
    help="Also fit ZCA whitening (needs -o; writes STATS.zca.npz beside it; one image shape).",
)
@click.option(
    "--zca-epsilon",
    type=float,
    default=KERAS_ZCA_EPSILON,
    show_default=True,
    help="Added to each eigenvalue before the inverse square root (Keras: 1e-6).",
)
@click.option(
    "--rescale",
    callback=rescale_callback,
    metavar="F",
    help="With --zca: the factor transform will apply first (1/255 accepted); recorded.",
)
@percentiles_option
@decode_options
@engine_options
@cluster_options
@click.pass_context
def fit_stats(ctx: click.Context, **params: Any) -> None:
    """Per-channel and global count, mean, std, min and max of a dataset, in one pass.

    Streaming and bounded in memory; exact for integer pixels (the population std, ddof=0, as
    NumPy and Keras), and byte-identical output whatever --workers and --batch-size. The JSON
    keeps the raw mergeable sums and the pre-processing (colour, size, resize mode) that
    defines the space of the statistics, so `transform` can apply them and refuse a mismatch.
    """
    output = params["output"]
    if output == "-":  # standard output, as without -o
        output = params["output"] = None
    if params["merge"]:
        _check_merge_options(ctx, params)
        merged = merge_stats(
            list(params["inputs"]), output=output, percentiles=params["percentiles"]
        )
        if merged.zca_dropped:
            log(
                "fit-stats: the inputs' ZCA fits are not merged (a fit keeps no raw moments); "
                "run fit-stats --zca over the union to fit one",
                quiet=params["quiet"],
            )
        log(
            f"fit-stats: merged {merged.files} stats files, {merged.stats.images} images",
            quiet=params["quiet"],
        )
        _render_output(merged.stats, output, quiet=params["quiet"])
        return
    _check_zca_options(ctx, params)
    request = StatsRequest(
        inputs=resolve_inputs(params["inputs"], params["files_from"], params["example"]),
        output=output,
        settings=decode_settings(params),
        zca=params["zca"],
        zca_epsilon=params["zca_epsilon"],
        rescale=params["rescale"],
        batch_size=params["batch_size"],
        on_error=params["on_error"],
        percentiles=params["percentiles"],
    )
    plan = plan_stats(request)
    found = plan.found
    for note in found.notes:
        log(f"note: {note}", quiet=params["quiet"])
    log(
        f"fit-stats: {len(found.items)} images found, {found.ignored} other files ignored",
        quiet=params["quiet"],
    )
    with workers_from(ctx, params) as workers:
        # On a cluster the progress bar counts completed partitions (see run.dask.DaskRunner).
        quiet_images = params["quiet"] or as_runner(workers).on_cluster

        def progress(total: int, name: str) -> Any:
            return progress_bar(total, quiet=quiet_images, desc=_PASS_NAMES[name])

        def on_stats(stats: Stats) -> None:
            log(
                f"fit-stats: {stats.images} processed, {len(stats.skipped)} skipped "
                f"(of {len(found.items)} found)",
                quiet=params["quiet"],
            )

        report = run_fit_stats(
            plan, workers=workers, progress=progress, on_skip=report_skip, on_stats=on_stats
        )
    if report.zca is not None:
        fit = report.zca
        log(f"fit-stats: ZCA whitening ({fit.count} images, D={len(fit.mean)}) written to "
            f"{report.zca_path}", quiet=params["quiet"])  # fmt: skip
    _render_output(report.stats, output, quiet=params["quiet"])


_PASS_NAMES = {"statistics": "fit-stats", "zca": "fit-stats (zca)"}  # the progress bars


def _render_output(stats: Stats, output: str | None, *, quiet: bool) -> None:
    """The stats file's name on stderr, or (without -o) the statistics on stdout."""
    if output:
        log(f"fit-stats: wrote {output}", quiet=quiet)
    else:
        click.echo(stats.to_json(), nl=False)


def _check_zca_options(ctx: click.Context, params: dict[str, Any]) -> None:
    """--zca, --zca-epsilon and --rescale, checked before any image is read."""
    if params["zca"] and not params["output"]:
        raise click.UsageError("--zca needs -o STATS.json (the matrix goes to a file beside it)")
    epsilon = params["zca_epsilon"]
    if params["zca"] and not (epsilon > 0 and epsilon != float("inf")):
        raise click.BadParameter("must be a positive finite number", param_hint="--zca-epsilon")
    if not params["zca"] and given(ctx, "rescale"):
        raise click.UsageError("--rescale only applies with --zca (statistics stay in pixel units)")


def _check_merge_options(ctx: click.Context, params: dict[str, Any]) -> None:
    """--merge takes stats files as INPUTS and no option that reads images."""
    if params["files_from"] is not None or params["example"]:
        raise click.UsageError("--merge takes stats files as INPUTS only")
    refuse_options(
        ctx,
        (*DECODE_KEYS, *ENGINE_KEYS, "zca", "zca_epsilon", "rescale"),
        "with --merge: the stats files fix the decoding and no image is read",
    )
    if len(params["inputs"]) < 2:
        raise click.UsageError("--merge needs at least two stats files")
