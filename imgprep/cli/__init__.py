"""The ``imgprep`` command: a thin adapter over the library.

Each subcommand parses its options, calls one library function and prints. Library errors
(``ImgprepError``) become one ``Error: ...`` line on stderr with the exception's exit code
(1 data error or unwritable output, 2 usage error); click's own usage errors exit 2; Ctrl-C
exits 130 and SIGTERM 143, with the output deleted. Anything else is a bug and keeps its
traceback.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

from imgprep import __version__, interrupts
from imgprep.cli.one_line import one_line
from imgprep.errors import EXIT_CODES_HELP, ImgprepError
from imgprep.run.cpu import opencv_single_threaded

# Subcommand name -> (module, function); --help lists them sorted. A subcommand's
# module is imported only when that subcommand runs (or --help lists them all), so that
# `imgprep fit-stats` does not load transform's HDF5, augmentation and cluster code.
SUBCOMMANDS = {
    "fit-stats": ("imgprep.cli.fit_stats", "fit_stats"),
    "transform": ("imgprep.cli.transform", "transform"),
    "inspect": ("imgprep.cli.inspect_cmd", "inspect"),
    "export-stats": ("imgprep.cli.export_stats", "export_stats"),
    "examples": ("imgprep.cli.examples", "examples"),
    "demo": ("imgprep.cli.demo", "demo"),
}


def exit_now(code: int) -> None:
    """End the process without running finalizers (which would touch an abandoned file)."""
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


class ImgprepGroup(click.Group):
    """Loads subcommands on demand; turns library exceptions into one line and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(SUBCOMMANDS)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.exceptions.NoSuchCommand as exc:  # suggest from the names, not loaded
            raise click.exceptions.NoSuchCommand(
                str(args[0]), possibilities=list(SUBCOMMANDS), ctx=ctx
            ) from exc

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in SUBCOMMANDS:
            return None
        module, attribute = SUBCOMMANDS[cmd_name]
        command: click.Command = getattr(importlib.import_module(module), attribute)
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; Ctrl-C and SIGTERM are taken only where safe (see
        ``imgprep.interrupts``). After one, the output and scratch files are already
        deleted when the line is printed, and the process ends at once (``exit_now``):
        interpreter exit would run finalizers and join the process pool's threads, which
        is where interrupted runs used to hang or print "Exception ignored"."""
        try:
            with interrupts.deliver_safely(), opencv_single_threaded():
                return super().invoke(ctx)
        except ImgprepError as exc:
            click.echo(f"Error: {one_line(exc.for_command_line())}", err=True)
            if getattr(exc, "exit_now", False):  # an abandoned HDF5 output: see OutputError
                exit_now(exc.exit_code)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt as exc:  # Ctrl-C: 130; SIGTERM (interrupts.Terminated): 143
            code = getattr(exc, "exit_code", 130)
            what = "Terminated" if code == 143 else "Interrupted"
            click.echo(f"{what}; no output was written.", err=True)
            if interrupts.received() is not None:  # a real signal, not a test's exception
                exit_now(code)
            ctx.exit(code)


@click.group(cls=ImgprepGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="imgprep")
def main() -> None:
    """Prepare image datasets for deep learning: exact streaming statistics you can save,
    merge and apply, and dataset inspection for CI.

    Results go to stdout; progress and logs to stderr.
    """
