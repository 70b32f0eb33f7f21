"""``fit-stats`` as one library call: a request checked before any image is read
(``plan_stats``), then the statistics pass, the optional ZCA pass and the stats file written
as one (``run_fit_stats``); and the union of stats files (``merge_stats``).

The passes themselves are ``imgprep.run.stats_pass`` and ``imgprep.run.zca_pass``, the files
``imgprep.io.stats_io``; this module orders them so that a caller (the command line, a
script) parses, calls, and reports: the output's folder and the output rules
(``imgprep.plan``) are checked before discovery, the ZCA settings before the first pass, the
one-shape rule of ZCA before its pass, and the stats file and its sidecar are written
together only once both passes are complete. ``imgprep.compute_stats`` stays the plain
function for statistics in memory.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field

from imgprep.config import DecodeSettings
from imgprep.errors import InputError, option
from imgprep.io.atomic import check_writable
from imgprep.io.discover import discover
from imgprep.io.items import Discovery
from imgprep.io.stats_io import read_stats_files, write_stats
from imgprep.io.zca_sidecar import zca_sidecar_path
from imgprep.plan import check_output
from imgprep.run.policy import ErrorPolicy
from imgprep.run.runner import Runner
from imgprep.run.stats_pass import compute_stats
from imgprep.run.zca_pass import compute_zca
from imgprep.stats.file import Stats
from imgprep.stats.histogram import DEFAULT_PERCENTILES, merged_percentiles
from imgprep.stats.zca import KERAS_ZCA_EPSILON, ZcaFit

# progress(total, name) at the start of each pass ("statistics", then "zca"): a context
# manager yielding advance(count), called as files are finished
PassProgress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


@dataclass(frozen=True, kw_only=True)
class StatsRequest:
    """What ``fit-stats`` is asked to do, as values.

    Attributes:
        inputs: folders, files and URLs (``imgprep.io.discover``).
        output: the stats file to write; None: the caller takes the ``Stats`` (the command
            line prints them on stdout).
        settings: the pre-processing that defines the space of the statistics.
        zca: also fit ZCA whitening (written beside ``output``; one image shape).
        zca_epsilon: added to each eigenvalue before the inverse square root.
        rescale: with ``zca``, the factor the transform applies first (recorded).
        batch_size: files per task (default: ``stats_pass.auto_batch_size``).
        on_error: ``stop`` or ``skip`` (``imgprep.run.policy``).
        percentiles: those the stats file lists (``imgprep.stats.histogram``; the histogram
            it keeps gives any other later).
    """

    inputs: Sequence[str]
    output: str | None = None
    settings: DecodeSettings = field(default_factory=DecodeSettings)
    zca: bool = False
    zca_epsilon: float = KERAS_ZCA_EPSILON
    rescale: float | None = None
    batch_size: int | None = None
    on_error: str = "stop"
    percentiles: tuple[float, ...] = DEFAULT_PERCENTILES

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", tuple(self.inputs))
        if not all(0 <= q <= 100 for q in self.percentiles):
            raise InputError(f"percentiles must lie in [0, 100], got {list(self.percentiles)}")
        object.__setattr__(self, "percentiles", merged_percentiles(self.percentiles))
        if self.zca and not self.output:
            raise InputError("a ZCA fit needs an output stats file: its matrix goes beside it")
        epsilon = self.zca_epsilon
        if self.zca and not (epsilon > 0 and math.isfinite(epsilon)):
            raise InputError(f"zca_epsilon must be a positive finite number, got {epsilon}")
        if not self.zca and self.rescale is not None:
            raise InputError("rescale applies only with zca (statistics stay in pixel units)")
        if self.batch_size is not None and self.batch_size < 1:
            raise InputError(f"batch_size must be at least 1, got {self.batch_size}")
        ErrorPolicy(self.on_error)  # a bad on_error is refused here, before discovery


@dataclass(frozen=True)
class StatsPlan:
    """A request checked, with the images it will read (built by ``plan_stats``)."""

    request: StatsRequest
    found: Discovery


@dataclass(frozen=True)
class StatsReport:
    """What ``run_fit_stats`` computed and wrote: the statistics, the ZCA fit and its sidecar."""

    stats: Stats
    zca: ZcaFit | None = None
    zca_path: str | None = None


@dataclass(frozen=True)
class MergeReport:
    """The union of stats files, and whether ZCA fits of the inputs were left out."""

    stats: Stats
    files: int
    zca_dropped: bool


def plan_stats(request: StatsRequest) -> StatsPlan:
    """Check the output (its folder is writable, it is none of the inputs nor read as one)
    before discovery, then discover the images; nothing is read or written yet.

    Raises:
        InputError: naming the output or the input (nothing written).
    """
    output = request.output
    if output:
        check_writable(output)
        check_output(output, list(request.inputs))
    return StatsPlan(request, discover(list(request.inputs)))


def run_fit_stats(
    plan: StatsPlan,
    *,
    workers: int | Runner = 1,
    progress: PassProgress | None = None,
    on_skip: Callable[[str, str], None] | None = None,
    on_stats: Callable[[Stats], None] | None = None,
) -> StatsReport:
    """The statistics of the plan's images, with ``zca`` the whitening fit, written to the
    request's output when it has one (with ZCA, the pair as one: ``write_stats``).

    Args:
        plan: from ``plan_stats``.
        workers: worker processes or a runner; the result is byte-identical for any value.
        progress: see ``PassProgress``.
        on_skip: called with (path, reason) for each file skipped under ``skip``.
        on_stats: called with the statistics as soon as their pass ends, before the ZCA
            pass (which takes about as long again), so that a caller can report them.

    Raises:
        InputError: ZCA over images of several shapes.
        DecodeError: a file cannot be read and ``on_error`` is ``stop``.
    """
    request, items = plan.request, plan.found.items
    with _pass(progress, len(items), "statistics") as advance:
        stats = compute_stats(
            plan.found,
            settings=request.settings,
            workers=workers,
            batch_size=request.batch_size,
            on_error=request.on_error,
            progress=advance,
            on_skip=on_skip,
        )
    stats.percentiles = request.percentiles
    if on_stats is not None:
        on_stats(stats)
    fit = None
    if request.zca:
        if stats.image_shape is None:
            raise InputError(f"ZCA needs every image to have one shape; pass {option('size')} WxH")
        shape = tuple(stats.image_shape)
        with _pass(progress, len(items), "zca") as advance:
            moments = compute_zca(items, request.settings, shape, workers=workers,
                                  progress=advance)  # fmt: skip
        fit = moments.fit(epsilon=request.zca_epsilon, rescale=request.rescale or 1.0)
    if request.output:
        write_stats(stats, request.output, zca=fit)
    zca_path = zca_sidecar_path(request.output) if fit is not None and request.output else None
    return StatsReport(stats, fit, zca_path)


def merge_stats(
    files: Sequence[str],
    *,
    output: str | None = None,
    percentiles: Sequence[float] = DEFAULT_PERCENTILES,
) -> MergeReport:
    """The union of stats files over disjoint data in one space, written to ``output``
    when given. Their ZCA fits are not merged: a fit keeps no raw moments. The union lists
    the percentiles any input listed, and ``percentiles``.

    Raises:
        InputError: fewer than two files, one file twice, an output that is an input, or
            statistics of different spaces (``Stats.merge``).
    """
    files = list(files)
    if len(files) < 2:
        raise InputError(f"a merge needs at least two stats files, got {len(files)}")
    if output:
        check_writable(output)
        check_output(output, files)
    parts = read_stats_files(files)
    merged = parts[0]
    for part in parts[1:]:
        merged = merged.merge(part)
    merged.percentiles = merged_percentiles(merged.percentiles + tuple(percentiles))
    if output:
        write_stats(merged, output)
    return MergeReport(merged, len(files), any(part.zca for part in parts))


@contextlib.contextmanager
def _pass(
    progress: PassProgress | None, total: int, name: str
) -> Iterator[Callable[[int], None] | None]:
    """The caller's progress for one pass, or None."""
    if progress is None:
        yield None
        return
    with progress(total, name) as advance:
        yield advance
