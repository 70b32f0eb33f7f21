"""The HTML report's page: ``render_page(Report)`` -> one self-contained HTML document.

Sections, each present when ``inspect`` computed it: overview, statistics and exact
percentiles per split, per-channel histograms (one line per split), drift against the
training statistics, class counts and samples per class, sizes and outliers, exact and near
duplicates and leakage (both images side by side), skipped files with their reasons.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from imgprep.balance import ASPECT_LABELS, Outliers, SplitClasses
from imgprep.duplicates import DuplicateReport
from imgprep.report import svg
from imgprep.report.svg import text_escape
from imgprep.stats.drift import Drift
from imgprep.stats.file import channel_names
from imgprep.stats.histogram import percentile_label
from imgprep.summary import Summary, shapes_text

STYLE = """
:root { color-scheme: light dark; --bg: #fff; --fg: #1b1b1f; --muted: #60606a;
        --card: #f3f3f6; --line: #d0d0d8; --bad: #c0392b; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #121214; --fg: #ececf1; --muted: #a0a0aa; --card: #1d1d21; --line: #3a3a42;
          --bad: #ff7b6b; } }
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0 auto;
       max-width: 1100px; padding: 10px; background: var(--bg); color: var(--fg); }
h1 { font-size: 1.4em; } h2 { font-size: 1.15em; margin: 0 0 6px; }
section { background: var(--card); border-radius: 8px; padding: 10px 12px; margin: 12px 0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 2px 8px; border-bottom: 1px solid var(--line); text-align: right; }
th:first-child, td:first-child { text-align: left; }
.muted { color: var(--muted); } .bad { color: var(--bad); }
.grid { display: flex; flex-wrap: wrap; gap: 6px; align-items: flex-start; }
figure { margin: 0; text-align: center; font-size: 11px; max-width: 100px;
         overflow-wrap: anywhere; }
img { width: 64px; height: auto; max-height: 96px; object-fit: contain;
      image-rendering: pixelated; }
.samples { display: inline-block; vertical-align: top; margin: 0 12px 8px 0; }
.pair { display: flex; gap: 6px; align-items: center; margin: 4px 0; flex-wrap: wrap; }
svg { max-width: 100%; height: auto; }
"""


@dataclass
class ReportPart:
    """What ``inspect`` found for one split (or for the one input)."""

    name: str | None
    summary: Summary
    drift: list[Drift] | None = None
    classes: SplitClasses | None = None
    outliers: tuple[Outliers, list[int]] | None = None
    samples: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # (name, uri)
    sizes: tuple[np.ndarray, np.ndarray] | None = None  # widths, heights (with outliers)


@dataclass
class Report:
    """The whole page's content."""

    parts: list[ReportPart]
    name_of: Callable[[int], str]  # a profile row's path
    duplicates: DuplicateReport | None = None
    splits: Sequence[str] = ()  # each profile row's split
    images: dict[int, str] = field(default_factory=dict)  # profile row -> data URI
    listed: int = 20
    against: str | None = None


def render_page(report: Report) -> str:
    """The HTML document."""
    sections = [_overview(report), *(_statistics(part) for part in report.parts),
                _histograms(report.parts), _drift(report), _classes(report.parts),
                _outliers(report), _duplicates(report), _skipped(report.parts)]  # fmt: skip
    body = "\n".join(section for section in sections if section)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>imgprep inspect</title><style>{STYLE}</style></head>\n"
        f"<body><h1>imgprep inspect</h1>\n{body}\n</body></html>\n"
    )


def _label(part: ReportPart) -> str:
    return part.name if part.name is not None else part.summary.source


def _overview(report: Report) -> str:
    rows = [
        [_label(p), p.summary.kind, p.summary.accumulator.images, p.summary.dtype,
         shapes_text(p.summary.shape), len(p.summary.skipped)]
        for p in report.parts
    ]  # fmt: skip
    return _section("Overview", _table(["split", "kind", "images", "dtype", "shape (HxWxC)",
                                        "skipped"], rows), "overview")  # fmt: skip


def _statistics(part: ReportPart) -> str:
    acc = part.summary.accumulator
    channel, whole = acc.channel_stats(), acc.global_stats()
    names = channel_names(acc.channels or 0)
    rows = [
        [name, acc.count, *(_n(channel[key][c]) for key in ("min", "max", "mean", "std"))]
        for c, name in enumerate(names)
    ]
    rows.append(["global", whole["count"], _n(whole["min"]), _n(whole["max"]),
                 _n(whole["mean"]), _n(whole["std"])])  # fmt: skip
    html = _table(["channel", "count", "min", "max", "mean", "std"], rows)
    if acc.histogram is not None:
        per_channel, overall = acc.histogram.percentiles(part.summary.percentiles)
        header = ["channel", *(percentile_label(q) for q in part.summary.percentiles)]
        values = [[name, *row] for name, row in zip(names, per_channel, strict=True)]
        html += "<p>Exact percentiles</p>" + _table(header, [*values, ["global", *overall]])
    return _section(f"Statistics: {_label(part)}", html, "statistics")


def _histograms(parts: Sequence[ReportPart]) -> str:
    with_counts = [p for p in parts if p.summary.accumulator.histogram is not None]
    if not with_counts:
        return ""
    first = with_counts[0].summary.accumulator.histogram
    assert first is not None
    charts = []
    for c, name in enumerate(channel_names(first.channels)):
        series = []
        for part in with_counts:
            histogram = part.summary.accumulator.histogram
            if histogram is not None and histogram.compatible(first):
                series.append((_label(part)[:16], histogram.counts[c]))
        title = f"channel {name}: share of pixels per value"
        charts.append(svg.histogram_lines(series, offset=first.offset, title=title))
    note = "<p class='muted'>Log scale, from 1 (all pixels) down to 1e-7.</p>"
    return _section("Histograms", note + "".join(charts), "histograms")


def _drift(report: Report) -> str:
    blocks = []
    for part in report.parts:
        if part.drift is None:
            continue
        rows = [[d.name, _n(d.mean), _n(d.reference_mean), f"{d.mean_shift:+.4f}", _n(d.std),
                 _n(d.reference_std), f"{d.std_ratio:.4g}", _opt(d.ks), _opt(d.psi)]
                for d in part.drift]  # fmt: skip
        header = ["channel", "mean", "train mean", "shift (sd)", "std", "train std",
                  "std ratio", "KS", "PSI"]  # fmt: skip
        blocks.append(f"<p>{text_escape(_label(part))}</p>" + _table(header, rows))
    title = f"Drift against {report.against}" if report.against else "Drift"
    return _section(title, "".join(blocks), "drift") if blocks else ""


def _classes(parts: Sequence[ReportPart]) -> str:
    blocks = []
    for part in parts:
        if part.classes is None:
            continue
        counts = part.classes.counts
        ratio = part.classes.imbalance
        text = f"imbalance {ratio:.3g}" if ratio is not None else "no images"
        if part.classes.missing:
            missing = text_escape(", ".join(part.classes.missing))
            text += f"; <span class='bad'>missing: {missing}</span>"
        blocks.append(f"<p>{text_escape(_label(part))}: {len(counts)} classes, {text}</p>")
        blocks.append(svg.bars(list(counts), list(counts.values()), title="images per class"))
        for label, samples in part.samples.items():
            figures = "".join(_figure(uri, name) for name, uri in samples)
            blocks.append(f"<div class='samples'><p>{text_escape(label)}</p>"
                          f"<div class='grid'>{figures}</div></div>")  # fmt: skip
    return _section("Classes", "".join(blocks), "classes") if blocks else ""


def _outliers(report: Report) -> str:
    blocks = []
    for part in report.parts:
        if part.outliers is None:
            continue
        found, positions = part.outliers
        histogram = svg.bars(list(ASPECT_LABELS), found.aspect_histogram,
                             title="aspect ratio (width / height)")  # fmt: skip
        if part.sizes is not None:
            widths, heights = part.sizes
            histogram += svg.scatter(widths, heights, title="image sizes: width (x) by height "
                                     "(y), in pixels")  # fmt: skip
        blocks.append(f"<p>{text_escape(_label(part))}: height {found.height[0]} / "
                      f"{found.height[1]} / {found.height[2]}, width {found.width[0]} / "
                      f"{found.width[1]} / {found.width[2]} (min / median / max)</p>"
                      + histogram)  # fmt: skip
        for kind in ("large", "small", "constant", "dark", "bright"):
            rows = getattr(found, kind)
            names = [report.name_of(positions[row]) for row in rows[: report.listed]]
            if rows:
                items = "".join(f"<li>{text_escape(name)}</li>" for name in names)
                blocks.append(f"<p>{kind}: {len(rows)}</p><ul>{items}</ul>")
    return _section("Sizes and outliers", "".join(blocks), "outliers") if blocks else ""


def _duplicates(report: Report) -> str:
    found = report.duplicates
    if found is None:
        return ""
    blocks = [f"<p>{found.images} images; exact: {len(found.exact_groups)} groups "
              f"({found.exact_images} images); near (within {found.near} bits): "
              f"{len(found.near_pairs)} pairs</p>"]  # fmt: skip
    for group in found.exact_groups[: report.listed]:
        blocks.append("<div class='pair'>" + "".join(
            _figure(report.images.get(row, ""), report.name_of(row)) for row in group[:6]
        ) + "<span>identical</span></div>")  # fmt: skip
    for title, pairs in (("Near pairs", found.near_pairs), ("Leakage into other splits",
                                                            found.leaks)):  # fmt: skip
        if not len(pairs):
            continue
        blocks.append(f"<h2>{title}: {len(pairs)}</h2>")
        for pair in pairs[: report.listed]:
            first, second = int(pair["first"]), int(pair["second"])
            how = "identical" if pair["exact"] else f"{int(pair['distance'])} bits"
            blocks.append(
                "<div class='pair'>" + _figure(report.images.get(first, ""), _named(report, first))
                + _figure(report.images.get(second, ""), _named(report, second))
                + f"<span>{how}</span></div>"
            )  # fmt: skip
    return _section("Duplicates", "".join(blocks), "duplicates")


def _skipped(parts: Sequence[ReportPart]) -> str:
    rows = [
        [_label(p), entry["path"], entry["reason"]] for p in parts for entry in p.summary.skipped
    ]
    if not rows:
        return ""
    return _section(f"Skipped files: {len(rows)}", _table(["split", "file", "reason"], rows),
                    "skipped")  # fmt: skip


def _named(report: Report, row: int) -> str:
    split = report.splits[row] if report.splits else ""
    return f"{split}: {report.name_of(row)}" if split else report.name_of(row)


def _figure(uri: str, caption: str) -> str:
    image = f'<img src="{uri}" alt="">' if uri else ""
    return f"<figure>{image}<figcaption>{text_escape(caption)}</figcaption></figure>"


def _section(title: str, html: str, anchor: str) -> str:
    return f'<section id="{anchor}"><h2>{text_escape(title)}</h2>{html}</section>'


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{text_escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{text_escape(str(v))}</td>" for v in row) + "</tr>"
                   for row in rows)  # fmt: skip
    return f"<div class='scroll'><table><tr>{head}</tr>{body}</table></div>"


def _n(value: float) -> str:
    return f"{float(value):.6g}" if np.isfinite(value) else str(value)


def _opt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"
