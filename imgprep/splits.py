"""Named splits of a dataset: parsing ``train=0.8,val=0.2``, a stratified, seeded split, and
which split is the training part (the one statistics are fitted on and augmentation applies
to).

The split is stratified by class (each class is divided in the given proportions, so rare
classes reach every split), reproducible (class ``k``'s images are shuffled by a generator
keyed by ``(seed, k)``, independent of the other classes and of anything else), and keeps
input order inside each split. Counts are rounded by the largest-remainder method, so each
class's counts add up to its size; ties go to the split listed first.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from imgprep.errors import InputError, option
from imgprep.groups import GroupRule, group_split
from imgprep.io.discover import class_folder_names, discover
from imgprep.io.items import Discovery
from imgprep.plan import check_named_inputs

_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


def parse_split_spec(text: str) -> list[tuple[str, float]]:
    """``"train=0.8,val=0.1,test=0.1"`` -> [("train", 0.8), ...]; fractions must sum to 1."""
    parts: list[tuple[str, float]] = []
    for piece in text.split(","):
        name, sep, value = piece.partition("=")
        name = name.strip()
        if not sep or not _NAME.match(name):
            raise InputError(f"invalid split {piece!r}: expected NAME=FRACTION, e.g. train=0.8")
        try:
            fraction = float(value)
        except ValueError as exc:
            raise InputError(f"invalid split fraction {value!r} for {name}") from exc
        if not 0 < fraction <= 1:
            raise InputError(f"split fraction for {name} must be in (0, 1], got {fraction}")
        parts.append((name, fraction))
    names = [name for name, _ in parts]
    if len(set(names)) != len(names):
        raise InputError(f"split names must be unique, got {', '.join(names)}")
    total = math.fsum(fraction for _, fraction in parts)
    if abs(total - 1) > 1e-9:
        raise InputError(f"split fractions must add up to 1, they add up to {total:g}")
    return parts


def parse_named_input(text: str) -> tuple[str, str]:
    """``"train=data/train"`` -> ("train", "data/train")."""
    name, sep, path = text.partition("=")
    if not sep or not _NAME.match(name) or not path:
        raise InputError(
            f"invalid {option('input')} {text!r}: expected NAME=PATH, e.g. train=data/train"
        )
    return name, path


def stratified_split(
    labels: Sequence[int | None], fractions: Sequence[tuple[str, float]], seed: int
) -> dict[str, list[int]]:
    """Indices of each split, sorted (input order), stratified by label."""
    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(-1 if label is None else label, []).append(index)
    result: dict[str, list[int]] = {name: [] for name, _ in fractions}
    for label, indices in sorted(by_class.items()):
        order = np.random.default_rng([seed, label + 1]).permutation(len(indices))
        start = 0
        for (name, _), count in zip(fractions, split_counts(len(indices), fractions), strict=True):
            result[name].extend(indices[i] for i in order[start : start + count])
            start += count
    return {name: sorted(indices) for name, indices in result.items()}


def split_counts(total: int, fractions: Sequence[tuple[str, float]]) -> list[int]:
    """Largest-remainder rounding of ``total * fraction``; the counts add up to ``total``."""
    exact = [total * fraction for _, fraction in fractions]
    counts = [math.floor(value) for value in exact]
    missing = total - sum(counts)
    ranked = sorted(range(len(exact)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in ranked[:missing]:
        counts[i] += 1
    return counts


TRAIN = "train"


@dataclass
class Split:
    """One part of the output: its name (None for a single input) and its images.

    ``order`` (``transform --shuffle``): image ``j`` of ``discovery`` is image ``order[j]``
    of the split before shuffling (input order); None when not shuffled.
    """

    name: str | None
    discovery: Discovery
    order: np.ndarray | None = None


# The shuffle's generator is keyed by (seed, _SHUFFLE, split ordinal): three words, so it is
# never the stratified split's (seed, class + 1) nor the augmentation's Philox key.
_SHUFFLE = 0x5348_5546


def shuffle_order(count: int, seed: int, ordinal: int) -> np.ndarray:
    """The seeded permutation ``transform --shuffle`` writes split ``ordinal``'s images in."""
    return np.random.default_rng([seed, _SHUFFLE, ordinal]).permutation(count)


def shuffled_splits(splits: Sequence[Split], seed: int) -> list[Split]:
    """Each split's images in a seeded permuted order (``shuffle_order``), ``order`` set.

    Why: class folders are discovered class by class, so unshuffled rows are sorted by class
    and a trailing ``validation_split`` of such a file holds the last classes only.
    """
    shuffled = []
    for ordinal, split in enumerate(splits):
        found = split.discovery
        order = shuffle_order(len(found.items), seed, ordinal)
        items = found.items.take(order.tolist())
        discovery = Discovery(items, found.classes, found.ignored, found.inputs, found.notes)
        shuffled.append(Split(split.name, discovery, order))
    return shuffled


def build_splits(
    inputs: Sequence[str],
    named: Sequence[tuple[str, str]],
    split_spec: Sequence[tuple[str, float]] | None,
    seed: int | None,
    groups: GroupRule | None = None,
) -> list[Split]:
    """The splits to write, from plain inputs, ``--input NAME=PATH`` or ``--split`` (with
    ``groups``, every group whole in one split: ``imgprep.groups``)."""
    if groups is not None and not split_spec:
        raise InputError(
            f"{option('group-by')} and {option('groups')} decide how {option('split')} "
            f"divides one input; give {option('split')} too"
        )
    if named and inputs:
        raise InputError(f"give either INPUTS or {option('input')} NAME=PATH, not both")
    if named:
        if split_spec:
            raise InputError(
                f"{option('split')} divides one input; it cannot be combined with {option('input')}"
            )
        names = [name for name, _ in named]
        if len(set(names)) != len(names):
            raise InputError(f"{option('input')} names must be unique, got {', '.join(names)}")
        check_named_inputs(named)
        classes = class_folder_names([path for _, path in named])
        return [Split(name, discover([path], class_names=classes)) for name, path in named]
    found = discover(list(inputs))
    if not split_spec:
        return [Split(None, found)]
    if seed is None:
        raise InputError(
            f"{option('split')} needs {option('seed')} so that the split can be reproduced"
        )
    if seed < 0:
        raise InputError(f"{option('seed')} must be >= 0, got {seed}")
    if groups is not None:
        items = found.items
        keys = groups.groups([items.rel(i) for i in range(len(items))])
        parts = group_split(items.labels(), keys, split_spec, seed)
    else:
        parts = stratified_split(found.items.labels(), split_spec, seed)
    empty = [name for name, _ in split_spec if not parts[name]]
    if empty:
        raise InputError(
            f"split {empty[0]!r} would be empty: {len(found.items)} image(s) cannot be divided "
            f"as {', '.join(f'{n}={f:g}' for n, f in split_spec)} per class; use fewer splits "
            "or more images"
        )
    return [
        Split(
            name,
            Discovery(
                items=found.items.take(parts[name]),
                classes=found.classes,
                ignored=found.ignored,
                inputs=found.inputs,
            ),
        )
        for name, _ in split_spec
    ]


_NO_TRAIN_FOR_STATS = (
    f"featurewise statistics must come from the training part: name one split {TRAIN!r} or "
    "pass --stats"
)


_NO_TRAIN_FOR_AUGMENTATION = (
    f"augmentation applies to the training part only: name one split {TRAIN!r}"
)


def training_split(
    splits: Sequence[Split], *, missing: str = _NO_TRAIN_FOR_STATS
) -> tuple[int, str]:
    """The training part: the single input, or the split named 'train' (else ``missing``)."""
    if len(splits) == 1 and splits[0].name is None:
        return 0, "this input"
    for index, split in enumerate(splits):
        if split.name == TRAIN:
            return index, f"the {TRAIN!r} split"
    raise InputError(missing)


def augmented_splits(splits: Sequence[Split]) -> set[int]:
    """Which splits are augmented: a single input, or the split named ``train`` only.

    Validation and test data are never augmented, as with Keras users' separate generators.
    """
    index, _ = training_split(splits, missing=_NO_TRAIN_FOR_AUGMENTATION)
    return {index}
