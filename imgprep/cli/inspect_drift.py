"""``inspect --against STATS``: the drift options, their table and their gate."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from typing import Any

import click

from imgprep.against import DriftLimits
from imgprep.cli.common import DECODE_KEYS, given, with_options
from imgprep.config import DecodeSettings
from imgprep.stats.drift import Drift
from imgprep.stats.file import Stats

DRIFT_LIMIT_KEYS = ("max_mean_shift", "max_std_ratio", "max_ks", "max_psi")


def drift_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--against and the four drift limits."""
    options = [
        click.option(
            "--against",
            metavar="STATS",
            type=click.Path(dir_okay=False),
            help="Compare with these training statistics (a fit-stats file): per channel, the "
            "mean shift in training stds, the std ratio, the KS distance and the PSI. Images "
            "are decoded as those statistics were unless decode options say otherwise.",
        ),
        click.option(
            "--max-mean-shift",
            type=float,
            metavar="S",
            help="With --against: fail when a channel's |mean shift| exceeds S training stds.",
        ),
        click.option(
            "--max-std-ratio",
            type=float,
            metavar="R",
            help="With --against: fail when a channel's std is above R or below 1/R times the "
            "training std (R >= 1).",
        ),
        click.option(
            "--max-ks",
            type=float,
            metavar="D",
            help="With --against: fail when a channel's Kolmogorov-Smirnov distance exceeds D.",
        ),
        click.option(
            "--max-psi",
            type=float,
            metavar="P",
            help="With --against: fail when a channel's population stability index exceeds P "
            "(0.1: moderate, 0.25: significant shift).",
        ),
    ]
    return with_options(func, options)


def drift_limits(ctx: click.Context, params: dict[str, Any]) -> DriftLimits:
    """The limits asked for; usage errors for limits without --against or out of range."""
    named = [key for key in DRIFT_LIMIT_KEYS if params[key] is not None]
    if named and not params["against"]:
        flags = ", ".join("--" + key.replace("_", "-") for key in named)
        raise click.UsageError(f"{flags} need --against STATS (the training statistics)")
    values = {key[len("max_") :]: params[key] for key in DRIFT_LIMIT_KEYS}
    try:
        return DriftLimits(**values)
    except ValueError as exc:
        raise click.UsageError(str(exc).replace("_", " ")) from None


def settings_against(
    ctx: click.Context, params: dict[str, Any], reference: Stats
) -> DecodeSettings:
    """The reference's decode settings, with the decode options given on the command line
    in their place (the comparison then checks that the two spaces agree)."""
    chosen = {key: params[key] for key in DECODE_KEYS if given(ctx, key)}
    return dataclasses.replace(reference.settings, **chosen)


def render_drift(rows: list[Drift], source: str) -> list[str]:
    """The drift table: one row per channel and a global row."""
    lines = ["", f"drift against {source}"]
    lines.append(
        f"{'channel':<8} {'mean':>12} {'train mean':>12} {'shift (sd)':>11} {'std':>12} "
        f"{'train std':>12} {'std ratio':>10} {'KS':>8} {'PSI':>8}"
    )
    for row in rows:
        lines.append(
            f"{row.name:<8} {row.mean:>12.6g} {row.reference_mean:>12.6g} "
            f"{_signed(row.mean_shift):>11} {row.std:>12.6g} {row.reference_std:>12.6g} "
            f"{row.std_ratio:>10.4g} {_optional(row.ks):>8} {_optional(row.psi):>8}"
        )
    if any(row.ks is None for row in rows):
        lines.append("KS and PSI need the histograms of both (8/16-bit pixels, stats format 2)")
    return lines


def _signed(value: float) -> str:
    return f"{value:+.4f}" if math.isfinite(value) else f"{value:+}"


def _optional(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
