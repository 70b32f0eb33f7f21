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
    progress_bar,
    refuse_options,
    report_skip,
    rescale_callback,
    resolve_inputs,
    workers_from,
)
from imgprep.errors import EXIT_CODES_HELP, InputError
from imgprep.io.atomic import check_writable
from imgprep.io.discover import discover
from imgprep.io.items import Discovery
from imgprep.io.stats_io import read_stats_files, write_stats
from imgprep.io.zca_sidecar import zca_sidecar_path
from imgprep.plan import check_output
from imgprep.run.runner import as_runner
from imgprep.run.stats_pass import compute_stats
from imgprep.run.zca_pass import compute_zca
from imgprep.stats.file import Stats
from imgprep.stats.zca import KERAS_ZCA_EPSILON, ZcaFit


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
    if not params["merge"]:
        _check_zca_options(ctx, params)
    if output:
        check_writable(output)
    if params["merge"]:
        if output:
            check_output(output, list(params["inputs"]))
        stats, fit = _merge(ctx, params), None
    else:
        paths = resolve_inputs(params["inputs"], params["files_from"], params["example"])
        if output:
            check_output(output, paths)
        found = discover(paths)
        for note in found.notes:
            log(f"note: {note}", quiet=params["quiet"])
        log(
            f"fit-stats: {len(found.items)} images found, {found.ignored} other files ignored",
            quiet=params["quiet"],
        )
        with workers_from(ctx, params) as workers:
            stats, fit = _fit(found, params, workers)
    if output:
        write_stats(stats, output, zca=fit)  # with --zca, the pair is written as one
        if fit is not None:
            log(f"fit-stats: ZCA whitening ({fit.count} images, D={len(fit.mean)}) written to "
                f"{zca_sidecar_path(output)}", quiet=params["quiet"])  # fmt: skip
        log(f"fit-stats: wrote {output}", quiet=params["quiet"])
    else:
        click.echo(stats.to_json(), nl=False)


def _fit(found: Discovery, params: dict[str, Any], workers: Any) -> tuple[Stats, ZcaFit | None]:
    """Statistics (and with --zca the whitening fit) over the images found."""
    # On a cluster the progress bar counts completed partitions (see cluster.DaskRunner).
    quiet_images = params["quiet"] or as_runner(workers).on_cluster
    with progress_bar(len(found.items), quiet=quiet_images, desc="fit-stats") as advance:
        stats = compute_stats(
            found,
            settings=decode_settings(params),
            workers=workers,
            batch_size=params["batch_size"],
            on_error=params["on_error"],
            progress=advance,
            on_skip=report_skip,
        )
    log(
        f"fit-stats: {stats.images} processed, {len(stats.skipped)} skipped "
        f"(of {len(found.items)} found)",
        quiet=params["quiet"],
    )
    if not params["zca"]:
        return stats, None
    return stats, _fit_zca(stats, found, params, workers, quiet_images)


def _check_zca_options(ctx: click.Context, params: dict[str, Any]) -> None:
    """--zca, --zca-epsilon and --rescale, checked before any image is read."""
    if params["zca"] and not params["output"]:
        raise click.UsageError("--zca needs -o STATS.json (the matrix goes to a file beside it)")
    epsilon = params["zca_epsilon"]
    if params["zca"] and not (epsilon > 0 and epsilon != float("inf")):
        raise click.BadParameter("must be a positive finite number", param_hint="--zca-epsilon")
    if not params["zca"] and given(ctx, "rescale"):
        raise click.UsageError("--rescale only applies with --zca (statistics stay in pixel units)")


def _fit_zca(
    stats: Stats,
    found: Discovery,
    params: dict[str, Any],
    workers: Any,
    quiet_images: bool,
) -> ZcaFit:
    """Fit ZCA in a second pass (written with the stats file, as a pair)."""
    if stats.image_shape is None:
        raise InputError("ZCA needs every image to have one shape; pass --size WxH")
    shape = tuple(stats.image_shape)
    with progress_bar(len(found.items), quiet=quiet_images, desc="fit-stats (zca)") as advance:
        moments = compute_zca(
            found.items,
            decode_settings(params),
            shape,
            workers=workers,
            progress=advance,
        )
    return moments.fit(epsilon=params["zca_epsilon"], rescale=params["rescale"] or 1.0)


def _merge(ctx: click.Context, params: dict[str, Any]) -> Stats:
    if params["files_from"] is not None or params["example"]:
        raise click.UsageError("--merge takes stats files as INPUTS only")
    refuse_options(
        ctx,
        (*DECODE_KEYS, *ENGINE_KEYS, "zca", "zca_epsilon", "rescale"),
        "with --merge: the stats files fix the decoding and no image is read",
    )
    files = list(params["inputs"])
    if len(files) < 2:
        raise click.UsageError("--merge needs at least two stats files")
    parts = read_stats_files(files)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    if any(part.zca for part in parts):
        log(
            "fit-stats: the inputs' ZCA fits are not merged (a fit keeps no raw moments); "
            "run fit-stats --zca over the union to fit one",
            quiet=params["quiet"],
        )
    log(
        f"fit-stats: merged {len(files)} stats files, {merged.images} images", quiet=params["quiet"]
    )
    return merged
