"""--group-by and --groups: one definition for ``transform --split`` and ``inspect --split``
(the same groups must give the same split in both)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from imgprep.cli.common import with_options
from imgprep.groups import MAX_GROUP_FILE, GroupRule, read_group_table
from imgprep.io.bounded import read_regular_file


def group_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """--group-by REGEX, --groups FILE.csv."""
    options = [
        click.option(
            "--group-by",
            metavar="REGEX",
            help="With --split: keep the images of one group in one split; the group is the "
            "first capture group (or the match) of REGEX in each path relative to its input, "
            "e.g. '^(patient_[0-9]+)/'.",
        ),
        click.option(
            "--groups",
            "groups_path",
            type=click.Path(dir_okay=False),
            metavar="FILE.csv",
            help="With --split: keep the images of one group in one split, groups from a CSV "
            "file of path,group rows (paths relative to the input).",
        ),
    ]
    return with_options(func, options)


def group_rule(params: dict[str, Any]) -> GroupRule | None:
    """--group-by or --groups, not both; a groups file read bounded, as a regular file."""
    if params["group_by"] is not None and params["groups_path"] is not None:
        raise click.UsageError("give one of --group-by and --groups")
    if params["group_by"] is not None:
        return GroupRule(pattern=params["group_by"])
    if params["groups_path"] is not None:
        path = params["groups_path"]
        raw = read_regular_file(path, limit=MAX_GROUP_FILE, what="groups file")
        return GroupRule(table=read_group_table(raw, path), source=path)
    return None
