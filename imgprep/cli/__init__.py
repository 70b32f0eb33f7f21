"""The ``imgprep`` command: a thin adapter over the library.

Each subcommand parses its options, calls one library function and prints. Library errors
(``ImgprepError``) become one ``Error: ...`` line on stderr with the exception's exit code
(1 data error, 2 usage error); click's own usage errors exit 2; Ctrl-C exits 130. Anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

from typing import Any

import click

from imgprep import __version__
from imgprep.cli.common import EXIT_CODES_HELP
from imgprep.cli.demo import demo
from imgprep.cli.examples import examples
from imgprep.cli.export_stats import export_stats
from imgprep.cli.fit_stats import fit_stats
from imgprep.cli.inspect_cmd import inspect
from imgprep.cli.transform import transform
from imgprep.errors import ImgprepError


class ImgprepGroup(click.Group):
    """Turns library exceptions into one line and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ImgprepError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("Interrupted; no output was written.", err=True)
            ctx.exit(130)


@click.group(cls=ImgprepGroup, epilog=EXIT_CODES_HELP)
@click.version_option(__version__, prog_name="imgprep")
def main() -> None:
    """Prepare image datasets for deep learning: exact streaming statistics you can save,
    merge and apply, and dataset inspection for CI.

    Results go to stdout; progress and logs to stderr.
    """


main.add_command(fit_stats)
main.add_command(transform)
main.add_command(inspect)
main.add_command(export_stats)
main.add_command(examples)
main.add_command(demo)
