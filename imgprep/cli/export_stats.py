"""``imgprep export-stats``: a stats file as other libraries' normalization arguments."""

from __future__ import annotations

import json

import click

from imgprep.errors import EXIT_CODES_HELP
from imgprep.export import FRAMEWORKS, normalization_args, normalization_code
from imgprep.io.stats_io import read_stats


@click.command("export-stats", epilog=EXIT_CODES_HELP)
@click.argument("stats_file", type=click.Path(dir_okay=False))
@click.option(
    "--for",
    "frameworks",
    type=click.Choice([*FRAMEWORKS, "all"]),
    default="all",
    show_default=True,
    help="Which library's arguments to print.",
)
@click.option(
    "--stats-scope",
    type=click.Choice(["channel", "global"]),
    default="channel",
    show_default=True,
    help="Per-channel statistics or one value for the whole image.",
)
@click.option("--json", "as_json", is_flag=True, help="Print {framework: kwargs} as JSON.")
def export_stats(stats_file: str, frameworks: str, stats_scope: str, as_json: bool) -> None:
    """Print STATS_FILE as torchvision, Keras or albumentations normalization arguments.

    Each on the scale it expects: torchvision's Normalize and albumentations' Normalize on
    0-1 (after ToTensor / with max_pixel_value), Keras' Normalization on raw 0-255 pixels
    with variance = std squared.
    """
    stats = read_stats(stats_file)
    chosen = FRAMEWORKS if frameworks == "all" else (frameworks,)
    if as_json:
        args = {name: normalization_args(stats, name, scope=stats_scope) for name in chosen}
        click.echo(json.dumps(args, indent=2))
        return
    for name in chosen:
        click.echo(normalization_code(stats, name, scope=stats_scope))
