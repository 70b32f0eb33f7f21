"""Group-aware splits: every image of one group (a patient, a scene, a video) in one split.

Why: near-duplicates leak across a random split by construction when they come in groups
(frames of one video, slices of one scan, photos of one object); keeping each group whole
removes that leak before any check has to find it. Groups come from a regular expression
over each image's path relative to its input (``--group-by``: the first capture group, or
the whole match) or from a CSV file of ``path,group`` rows (``--groups``).

The assignment is seeded and stratified as closely as whole groups allow: groups are
shuffled by a generator keyed by (seed, ``_GROUPS``), then placed largest first, each in the
split that most lacks its classes (the sum over its classes of its count times the split's
remaining need, relative to the split's target), ties to the split listed first. The
achieved fractions are reported, since with few or uneven groups they can be far from the
asked ones.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imgprep.errors import InputError, option

_GROUPS = 0x4752_4F55  # the group shuffle's key word: never the class split's (seed, k + 1)
MAX_GROUP_FILE = 256 << 20


@dataclass(frozen=True)
class GroupRule:
    """How images are grouped: a ``pattern`` over relative paths, or a ``table``
    {relative path: group} read from a CSV file (``source`` names it in messages)."""

    pattern: str | None = None
    table: dict[str, str] | None = None
    source: str = ""

    def __post_init__(self) -> None:
        if (self.pattern is None) == (self.table is None):
            raise InputError(f"give one of {option('group-by')} and {option('groups')}")
        if self.pattern is not None:
            try:
                re.compile(self.pattern)
            except re.error as exc:
                raise InputError(f"invalid {option('group-by')} {self.pattern!r}: {exc}") from None

    def groups(self, rels: Sequence[str]) -> list[str]:
        """Each image's group, from its path relative to its input.

        Raises:
            InputError: an image the rule gives no group (named, with the rule).
        """
        if self.table is not None:
            missing = [rel for rel in rels if rel not in self.table]
            if missing:
                raise InputError(f"{missing[0]}: not in the groups file {self.source}")
            return [self.table[rel] for rel in rels]
        assert self.pattern is not None
        compiled = re.compile(self.pattern)
        found = []
        for rel in rels:
            match = compiled.search(rel)
            if match is None:
                raise InputError(
                    f"{rel}: {option('group-by')} {self.pattern!r} does not match its path"
                )
            group = match.group(1) if compiled.groups else match.group(0)
            if group is None:  # an optional or alternative group that did not take part
                raise InputError(
                    f"{rel}: {option('group-by')} {self.pattern!r} matches its path, but its "
                    "first group takes no part in the match"
                )
            found.append(group)
        return found


def read_group_table(raw: bytes, source: str) -> dict[str, str]:
    """{path: group} from the bytes of a CSV file of ``path,group`` rows (a header row
    ``path,group`` is skipped; paths relative to the input, as ``transform`` lists them).

    Raises:
        InputError: not UTF-8, a row without two fields, or one path with two groups.
    """
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputError(f"{source}: not a UTF-8 CSV file (byte {exc.start})") from None
    table: dict[str, str] = {}
    rows = csv.reader(io.StringIO(text))
    number = 0
    while True:
        number += 1
        try:
            row = next(rows)
        except StopIteration:
            break
        except csv.Error as exc:
            raise InputError(f"{source}: line {number}: not CSV ({exc})") from None
        if not row or (number == 1 and [v.strip().lower() for v in row] == ["path", "group"]):
            continue
        if len(row) != 2 or not row[0]:
            raise InputError(f"{source}: line {number}: expected path,group")
        path, group = row[0], row[1]
        if table.get(path, group) != group:
            raise InputError(f"{source}: line {number}: {path} is in two groups")
        table[path] = group
    return table


def group_split(
    labels: Sequence[int | None],
    groups: Sequence[str],
    fractions: Sequence[tuple[str, float]],
    seed: int,
) -> dict[str, list[int]]:
    """Indices of each split (input order), every group whole, classes as balanced as the
    groups allow (module docstring)."""
    names = sorted(set(groups))
    group_index = {name: i for i, name in enumerate(names)}
    classes = sorted({-1 if label is None else label for label in labels})
    class_index = {label: i for i, label in enumerate(classes)}
    counts = np.zeros((len(names), len(classes)), dtype=np.int64)
    members: list[list[int]] = [[] for _ in names]
    for image, (label, group) in enumerate(zip(labels, groups, strict=True)):
        g = group_index[group]
        counts[g, class_index[-1 if label is None else label]] += 1
        members[g].append(image)
    shares = np.array([fraction for _, fraction in fractions])
    target = shares[:, None] * counts.sum(axis=0)[None, :]  # splits x classes
    placed = np.zeros_like(target)
    order = np.random.default_rng([seed, _GROUPS]).permutation(len(names))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]  # largest first
    result: dict[str, list[int]] = {name: [] for name, _ in fractions}
    for g in order.tolist():
        need = (target - placed) / np.maximum(target, 1)
        score = need @ counts[g]
        split = int(np.argmax(score))  # first of the best on ties
        placed[split] += counts[g]
        result[fractions[split][0]].extend(members[g])
    return {name: sorted(indices) for name, indices in result.items()}


def achieved(parts: dict[str, list[int]], total: int) -> dict[str, float]:
    """Each split's share of the images."""
    return {name: len(indices) / total if total else 0.0 for name, indices in parts.items()}
