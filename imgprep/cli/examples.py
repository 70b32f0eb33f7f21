"""``imgprep examples``: where the bundled datasets are."""

from __future__ import annotations

import click

from imgprep.examples import EXAMPLES, example_path


@click.command("examples")
@click.argument("name", required=False, type=click.Choice(sorted(EXAMPLES)))
def examples(name: str | None) -> None:
    """List the bundled example datasets, or print the directory of NAME.

    Use them anywhere a directory is expected, for example
    `imgprep inspect $(imgprep examples mnist)`, or with --example NAME.
    """
    if name:
        click.echo(example_path(name))
        return
    for key in sorted(EXAMPLES):
        click.echo(f"{key}\t{example_path(key)}\t{EXAMPLES[key]}")
