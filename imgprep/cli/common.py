"""Options and helpers shared by the subcommands: inputs, decoding, engine, progress, output."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from dataclasses import fields
from typing import Any, TypeVar

import click

from imgprep import interrupts
from imgprep.cli.one_line import one_line
from imgprep.config import (
    COLOR_MODES,
    RESAMPLE_FILTERS,
    RESIZE_BACKENDS,
    RESIZE_MODES,
    DecodeSettings,
    parse_clip,
    parse_rescale,
    parse_size,
)
from imgprep.errors import InputError
from imgprep.examples import EXAMPLES, example_path
from imgprep.io.discover import read_path_list
from imgprep.run.dask import DEFAULT_PARTITION_FILES, ENGINES, connect
from imgprep.run.policy import ON_ERROR_CHOICES
from imgprep.stats.histogram import merged_percentiles, parse_percentiles


def with_options(func: Callable[..., Any], options: list[Callable[..., Any]]) -> Callable[..., Any]:
    """``func`` decorated with each of ``options``, listed in the order --help shows them."""
    for option in reversed(options):
        func = option(func)
    return func


def input_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """INPUTS... plus --files-from and --example."""
    func = click.option(
        "--example",
        type=click.Choice(sorted(EXAMPLES)),
        help="Use a dataset bundled with imgprep (see `imgprep examples`).",
    )(func)
    func = click.option(
        "--files-from",
        # surrogateescape: a name that is not UTF-8 is kept as its bytes, as in a folder
        type=click.File("r", encoding="utf-8", errors="surrogateescape"),
        help="Read image paths from this file, one per line ('-' for stdin).",
    )(func)
    return click.argument("inputs", nargs=-1, type=click.Path(allow_dash=True))(func)


def resolve_inputs(inputs: tuple[str, ...], files_from: Any, example: str | None) -> list[str]:
    """Expand '-' (paths on stdin), --files-from and --example into a list of paths."""
    paths: list[str] = []
    for value in inputs:
        if value == "-":
            paths.extend(read_path_list(sys.stdin))
        else:
            paths.append(value)
    if files_from is not None:
        paths.extend(read_path_list(files_from))
    if example:
        paths.append(example_path(example))
    if not paths:
        if "-" in inputs or files_from is not None:
            raise InputError("the list of paths is empty")
        raise click.UsageError("no input given: pass directories, image files, or - for stdin")
    return paths


def parsing_callback(parse: Callable[[str], Any]) -> Callable[..., Any]:
    """A click callback running ``parse``; its InputError becomes a usage error (exit 2)."""

    def callback(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
        if value is None:
            return None
        try:
            return parse(value)
        except InputError as exc:
            raise click.BadParameter(exc.for_command_line()) from exc

    return callback


rescale_callback = parsing_callback(parse_rescale)  # --rescale: a number or a fraction (1/255)
clip_callback = parsing_callback(parse_clip)  # --clip-percentiles LO,HI


def decode_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--color, --size, --resize-mode, --resample, --pad-value, --exif, --jpeg-draft,
    --resize-backend, --bit-depth."""
    options = [
        click.option(
            "--color",
            type=click.Choice(COLOR_MODES),
            default="keep",
            show_default=True,
            help="keep: the file's channels (L, LA, RGB, RGBA); grayscale: ITU-R 601-2 luma "
            "as Keras; rgb; rgba.",
        ),
        click.option(
            "--size",
            callback=parsing_callback(parse_size),
            metavar="WxH",
            help="Resize to WIDTHxHEIGHT (width first; Keras' target_size is (height, width)).",
        ),
        click.option(
            "--resize-mode",
            type=click.Choice(RESIZE_MODES),
            default="stretch",
            show_default=True,
            help="stretch: ignore aspect (Keras); fit: keep aspect, pad; fill: keep aspect, "
            "centre-crop.",
        ),
        click.option(
            "--resample",
            type=click.Choice(RESAMPLE_FILTERS),
            default="bilinear",
            show_default=True,
            help="Pillow filter; antialiased when shrinking (Keras' load_img uses nearest).",
        ),
        click.option(
            "--pad-value",
            type=float,
            default=0,
            show_default=True,
            help="Padding value for --resize-mode fit.",
        ),
        click.option(
            "--exif",
            type=click.Choice(["apply", "ignore"]),
            default="apply",
            show_default=True,
            help="apply: rotate photos as their EXIF orientation says; ignore: as stored (Keras).",
        ),
        click.option(
            "--jpeg-draft/--no-jpeg-draft",
            default=True,
            show_default=True,
            help="With --size, decode large JPEGs at a reduced scale keeping 2x the pixels needed "
            "(faster; 0.03 grey levels from a full decode on average, up to ~50 at sharp edges).",
        ),
        click.option(
            "--resize-backend",
            type=click.Choice(RESIZE_BACKENDS),
            default="pillow",
            show_default=True,
            help="With --size: pillow (Pillow's pixels exactly) or opencv (8-bit L/RGB bilinear "
            "resized 2x faster, 0.4 grey levels from Pillow's on average; the rest as pillow).",
        ),
        click.option(
            "--bit-depth",
            type=click.Choice(["8", "16"]),
            callback=lambda ctx, param, value: None if value is None else int(value),
            help="Convert every integer image exactly to 8 bits (round(v/257)) or 16 bits "
            "(v*257), after colour, before resize. Default: keep each depth; a mix is refused.",
        ),
    ]
    return with_options(func, options)


_Settings = TypeVar("_Settings")


def settings_from(cls: type[_Settings], params: dict[str, Any], **overrides: Any) -> _Settings:
    """The dataclass ``cls`` from the parsed options named as its fields (and ``overrides``)."""
    values = {field.name: params[field.name] for field in fields(cls)}  # type: ignore[arg-type]
    return cls(**{**values, **overrides})


def decode_settings(params: dict[str, Any]) -> DecodeSettings:
    """DecodeSettings from the parsed decode options."""
    return settings_from(DecodeSettings, params)


def engine_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--workers, --batch-size, --on-error, --quiet."""
    options = [
        click.option(
            "--workers",
            "-j",
            type=click.IntRange(min=0),
            default=1,
            show_default=True,
            callback=_workers_callback,
            help="Worker processes (0: one per CPU; at most 4 per CPU). Results are identical for "
            "any value.",
        ),
        click.option(
            "--batch-size",
            type=click.IntRange(min=1),
            default=None,
            help="Images per task. Results are identical for any value. Default: statistics "
            "16-1024 (8 tasks per worker at least); transform about 4 MiB of output rows "
            "(1-1024 images). A transform task never holds more than about 4 MiB of rows "
            "(or one row) whatever the value, which bounds memory.",
        ),
        click.option(
            "--on-error",
            type=click.Choice(ON_ERROR_CHOICES),
            default="stop",
            show_default=True,
            help="stop: exit 1 at the first unreadable file; skip: list it on stderr and go on.",
        ),
        click.option(
            "--quiet", "-q", is_flag=True, help="No progress bar and no summary on stderr."
        ),
    ]
    return with_options(func, options)


def cluster_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--engine, --scheduler, --partition-size (fit-stats and transform)."""
    options = [
        click.option(
            "--engine",
            type=click.Choice(ENGINES),
            default="local",
            show_default=True,
            help="local: worker processes on this machine; dask: a Dask cluster "
            "(pip install 'imgprep[dask]'). Results are identical.",
        ),
        click.option(
            "--scheduler",
            metavar="ADDRESS",
            help="With --engine dask: a running scheduler (tcp://host:8786); default: a "
            "local cluster of --workers processes.",
        ),
        click.option(
            "--partition-size",
            type=click.IntRange(min=1),
            default=DEFAULT_PARTITION_FILES,
            show_default=True,
            help="With --engine dask: files per Dask task (transform: per HDF5 shard).",
        ),
    ]
    return with_options(func, options)


@contextlib.contextmanager
def workers_from(ctx: click.Context, params: dict[str, Any]) -> Iterator[Any]:
    """The worker count (--engine local) or a connected ``DaskRunner`` (--engine dask)."""
    if params["engine"] == "local":
        refuse_options(ctx, ("scheduler", "partition_size"), "without --engine dask")
        yield worker_count(params["workers"])
        return
    if params["scheduler"] is not None and given(ctx, "workers"):
        raise click.UsageError(
            "--workers sets the size of a local cluster; a running --scheduler has its own"
        )
    quiet = params["quiet"]
    with connect(
        params["scheduler"],
        workers=worker_count(params["workers"]),
        partition_files=params["partition_size"],
        quiet=quiet,
        log=lambda line: log(line, quiet=quiet),
        progress=lambda total, desc: progress_bar(total, quiet=quiet, desc=desc, unit="partition"),
    ) as runner:
        yield runner


WORKERS_PER_CPU = 4  # --workers above this many per CPU is refused


def _workers_callback(ctx: click.Context, param: click.Parameter, value: int | None) -> Any:
    """Refuse more workers than ``WORKERS_PER_CPU`` per CPU: each is a process started up
    front (a fork each), so ``-j 100000`` started processes for minutes with signals held
    off, and a number beyond a C int ended in a traceback; more than the CPUs only compete."""
    cpus = os.cpu_count() or 1
    if value is not None and value > WORKERS_PER_CPU * cpus:
        raise click.BadParameter(
            f"{value} is more than {WORKERS_PER_CPU} per CPU ({WORKERS_PER_CPU * cpus} on this "
            f"machine of {cpus}); more worker processes only compete for the CPUs"
        )
    return value


def worker_count(value: int) -> int:
    """--workers 0 means one per CPU."""
    return value if value > 0 else (os.cpu_count() or 1)


def _tqdm_bar(total: int, desc: str, unit: str) -> Any:
    """A tqdm bar on stderr; tqdm is imported here, only when a bar is shown (25 ms)."""
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit=unit, file=sys.stderr)


@contextlib.contextmanager
def progress_bar(
    total: int, *, quiet: bool, desc: str, unit: str = "img"
) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr, shown only when stderr is a terminal and not --quiet.

    Each update is also a point where a Ctrl-C or SIGTERM received is raised
    (``interrupts.check``): the command line installs ``interrupts.deliver_safely`` for the
    whole command, which raises a signal at once in ordinary code and defers it out of the
    process pool's internals and finalizers (see ``imgprep.interrupts``).
    """
    disable = quiet or not sys.stderr.isatty()
    with contextlib.ExitStack() as stack:
        bar = None if disable else stack.enter_context(_tqdm_bar(total, desc, unit))

        def advance(count: int) -> None:
            interrupts.check()
            if bar is not None:
                bar.update(count)

        yield advance


Terminated = interrupts.Terminated  # SIGTERM's exception (exit 143), under its old name here


def log(message: str, *, quiet: bool = False) -> None:
    """An informational line on stderr (suppressed by --quiet)."""
    if not quiet:
        click.echo(message, err=True)


def report_skip(path: str, reason: str) -> None:
    """Every skipped file is listed on stderr, even with --quiet."""
    click.echo(one_line(f"skipped: {path}: {reason}"), err=True)


DECODE_KEYS = tuple(field.name for field in fields(DecodeSettings))  # the decode options
ENGINE_KEYS = ("workers", "batch_size", "on_error", "engine", "scheduler", "partition_size")


def given(ctx: click.Context, name: str) -> bool:
    """Whether option ``name`` was set by the user (command line or environment)."""
    return ctx.get_parameter_source(name) not in (
        click.core.ParameterSource.DEFAULT,
        click.core.ParameterSource.DEFAULT_MAP,
        None,
    )


def refuse_options(ctx: click.Context, keys: tuple[str, ...], reason: str) -> None:
    """A usage error naming every option of ``keys`` given explicitly (they would do nothing)."""
    named = ["--" + key.replace("_", "-") for key in keys if given(ctx, key)]
    if named:
        raise click.UsageError(f"{', '.join(named)} cannot be used {reason}")


def _parse_percentiles(_ctx: click.Context, _param: click.Parameter, text: str | None) -> Any:
    try:
        return merged_percentiles(parse_percentiles(text) if text else ())
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


percentiles_option = click.option(
    "--percentiles",
    metavar="Q[,Q...]",
    callback=_parse_percentiles,
    help="Percentiles (0-100) to report besides p0.1, p1, p5, p25, p50, p75, p95, p99 and "
    "p99.9: exact, from the histogram of 8/16-bit pixels (NumPy's inverted_cdf).",
)
