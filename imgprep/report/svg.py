"""Inline SVG charts for the HTML report: histograms as lines, counts as bars, a scatter.

Every chart is a fixed ``viewBox`` scaled to the page width (``width="100%"``), drawn with
``currentColor`` and a few series colours that read on light and dark backgrounds.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape as _escape

import numpy as np


def text_escape(text: str) -> str:
    """HTML-escaped text; a file name that is not UTF-8 (its bytes kept as surrogates, as
    Python lists them) shows its undecodable bytes as U+FFFD instead of failing the write."""
    clean = text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _escape(clean)


SERIES = ("#2b8cbe", "#e6550d", "#31a354", "#756bb1", "#d6616b", "#8c6d31")
WIDTH, HEIGHT, PAD = 640, 220, 36


def histogram_lines(series: Sequence[tuple[str, np.ndarray]], *, offset: int, title: str) -> str:
    """Fractions of pixels per value, one line per (name, counts), on a log scale (the
    spikes of a mostly-black dataset would flatten everything else on a linear one)."""
    floor = 1e-7
    paths, legend = [], []
    for index, (name, counts) in enumerate(series):
        total = max(1, int(counts.sum()))
        fractions = np.log10(np.maximum(counts / total, floor))
        xs = PAD + np.arange(len(counts)) * (WIDTH - 2 * PAD) / max(1, len(counts) - 1)
        ys = PAD + (0 - fractions) / (0 - math.log10(floor)) * (HEIGHT - 2 * PAD)
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in zip(xs, ys, strict=True))
        colour = SERIES[index % len(SERIES)]
        paths.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.2" '
                     f'points="{points}"/>')  # fmt: skip
        legend.append((name, colour))
    top = offset + len(series[0][1]) - 1 if series else 0
    axes = _axes(f"{offset}", f"{top}", "1", "1e-7", title)
    return _svg(axes + "".join(paths) + _legend(legend), title)


def bars(labels: Sequence[str], values: Sequence[int], *, title: str) -> str:
    """One bar per label, its count written above it."""
    if not values:
        return ""
    count, top = len(values), max(1, max(values))
    slot = (WIDTH - 2 * PAD) / count
    shapes = []
    for index, (label, value) in enumerate(zip(labels, values, strict=True)):
        height = value / top * (HEIGHT - 2 * PAD - 12)
        x, y = PAD + index * slot + slot * 0.1, HEIGHT - PAD - height
        shapes.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.8:.1f}" '
                      f'height="{height:.1f}" fill="{SERIES[0]}"><title>{text_escape(label)}: '
                      f"{value}</title></rect>")  # fmt: skip
        if count <= 40:
            centre = x + slot * 0.4
            shapes.append(_text(centre, y - 3, str(value), anchor="middle", size=9))
            shapes.append(_text(centre, HEIGHT - PAD + 12, label[:10], anchor="middle", size=9))
    return _svg(_axes("", "", str(top), "0", title) + "".join(shapes), title)


def scatter(xs: Sequence[float], ys: Sequence[float], *, title: str) -> str:
    """Points (at most 2,000 are drawn: evenly spaced ones of more); the axes' names belong
    in ``title`` (beside the axis a long label would leave the drawing)."""
    if not len(xs):
        return ""
    step = max(1, len(xs) // 2000)
    xs, ys = np.asarray(xs)[::step], np.asarray(ys)[::step]
    x_top, y_top = max(1.0, float(max(xs))), max(1.0, float(max(ys)))
    dots = "".join(
        f'<circle cx="{PAD + x / x_top * (WIDTH - 2 * PAD):.1f}" '
        f'cy="{HEIGHT - PAD - y / y_top * (HEIGHT - 2 * PAD):.1f}" r="2" fill="{SERIES[1]}" '
        'fill-opacity="0.6"/>'
        for x, y in zip(xs, ys, strict=True)
    )
    axes = _axes("0", f"{x_top:g}", f"{y_top:g}", "0", title)
    return _svg(axes + dots, title)


def _axes(x_low: str, x_high: str, y_high: str, y_low: str, title: str) -> str:
    bottom, right = HEIGHT - PAD, WIDTH - PAD
    return (
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{bottom}" stroke="currentColor" '
        'stroke-opacity="0.5"/>'
        f'<line x1="{PAD}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="currentColor" '
        'stroke-opacity="0.5"/>'
        + _text(PAD, bottom + 14, x_low, anchor="start")
        + _text(right, bottom + 14, x_high, anchor="end")
        + _text(PAD - 4, PAD + 4, y_high, anchor="end")
        + _text(PAD - 4, bottom, y_low, anchor="end")
        + _text(WIDTH / 2, 16, title, anchor="middle", size=12)
    )


def _legend(entries: Sequence[tuple[str, str]]) -> str:
    return "".join(
        f'<rect x="{WIDTH - PAD - 110}" y="{PAD + 14 * i}" width="10" height="10" '
        f'fill="{colour}"/>' + _text(WIDTH - PAD - 96, PAD + 9 + 14 * i, name, anchor="start")
        for i, (name, colour) in enumerate(entries)
    )


def _text(x: float, y: float, text: str, *, anchor: str, size: int = 10) -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" '
            f'fill="currentColor">{text_escape(text)}</text>')  # fmt: skip


def _svg(body: str, title: str) -> str:
    return (f'<svg viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
            f'aria-label="{text_escape(title)}">{body}</svg>')  # fmt: skip
