"""The compact file list of a run: which images, under which root, with which label.

A run over millions of files holds this list for its whole life, and sends parts of it to
every worker; so it is stored as one relative path per file plus two small integers
(``ItemList``), and handed out as (root, relative paths) runs (``segments``) that a worker
joins itself. ``Discovery`` is what ``imgprep.io.discover`` finds: the list with its class
names, ignored-file count and notes.
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import overload

from imgprep.io.remote import is_url, join_url


@dataclass(frozen=True)
class ImageItem:
    """One image to process.

    Attributes:
        path: path to open, as reachable from the current directory.
        rel: path recorded in outputs: relative to its input directory, or as given for an
            explicit file.
        label: index into ``Discovery.classes``, or None for unlabelled images.
    """

    path: str
    rel: str
    label: int | None = None


class ItemList(Sequence[ImageItem]):
    """The images of a run, stored compactly: one string per file and two small integers.

    A list of ``ImageItem`` objects costs about 260 bytes per file (object, full path and
    relative path); this keeps the relative path only, with the index of its input root and
    its label, about 70 bytes per file, so that memory stays dominated by the batch being
    processed, not by the size of the file list. Items are built on access.
    """

    def __init__(self) -> None:
        self._roots: list[str] = []
        self._rels: list[str] = []
        self._root_index = array("I")
        self._labels = array("i")

    def extend(self, root: str, rels: Iterable[str], label: int | None) -> None:
        """Add images under ``root`` (``""`` for paths given as they are) with one label."""
        if not self._roots or self._roots[-1] != root:
            self._roots.append(root)
        index = len(self._roots) - 1
        before = len(self._rels)
        self._rels.extend(rels)
        added = len(self._rels) - before
        self._root_index.extend([index] * added)
        self._labels.extend([-1 if label is None else label] * added)

    def segments(self, start: int, stop: int) -> list[tuple[str, tuple[str, ...]]]:
        """Items ``start:stop`` as (root, relative paths) runs: cheap to build and to send to
        a worker, which joins the paths itself (``join_path``)."""
        runs: list[tuple[str, tuple[str, ...]]] = []
        index = start
        while index < stop:
            root_index = self._root_index[index]
            end = index + 1
            while end < stop and self._root_index[end] == root_index:
                end += 1
            runs.append((self._roots[root_index], tuple(self._rels[index:end])))
            index = end
        return runs

    def take(self, indices: Sequence[int]) -> ItemList:
        """A new list with the items at ``indices``, in that order."""
        subset = ItemList()
        subset._roots = list(self._roots)
        subset._rels = [self._rels[i] for i in indices]
        subset._root_index = array("I", (self._root_index[i] for i in indices))
        subset._labels = array("i", (self._labels[i] for i in indices))
        return subset

    def labelled_count(self) -> int:
        """How many items have a class label."""
        return sum(1 for value in self._labels if value >= 0)

    def labels(self) -> list[int | None]:
        """Every item's label, in order."""
        return [None if value < 0 else value for value in self._labels]

    def path(self, index: int) -> str:
        return join_path(self._roots[self._root_index[index]], self._rels[index])

    def rel(self, index: int) -> str:
        return self._rels[index]

    def longest_rel_bytes(self) -> int:
        """The longest relative path in UTF-8 bytes (at least 1): the width of the fixed-length
        ``paths`` dataset of an HDF5 output."""
        return max((len(rel.encode("utf-8", "surrogateescape")) for rel in self._rels), default=1)

    def label(self, index: int) -> int | None:
        value = self._labels[index]
        return None if value < 0 else value

    def rels_between(self, start: int, stop: int) -> list[str]:
        """``rel(i)`` for i in ``start:stop``, as one slice."""
        return self._rels[start:stop]

    def labels_between(self, start: int, stop: int) -> list[int | None]:
        """``label(i)`` for i in ``start:stop``, as one slice."""
        return [None if value < 0 else value for value in self._labels[start:stop]]

    def __len__(self) -> int:
        return len(self._rels)

    @overload
    def __getitem__(self, index: int) -> ImageItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[ImageItem]: ...

    def __getitem__(self, index: int | slice) -> ImageItem | list[ImageItem]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(index)
        return ImageItem(path=self.path(index), rel=self._rels[index], label=self.label(index))


@dataclass
class Discovery:
    """Result of discovery: images in processing order, class names, ignored-file count."""

    items: ItemList
    classes: list[str] = field(default_factory=list)
    ignored: int = 0
    inputs: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def labelled(self) -> bool:
        """True when every image has a class label."""
        return self.items.labelled_count() == len(self.items) > 0


def iter_segments(segments: Sequence[tuple[str, Sequence[str]]]) -> Iterator[tuple[str, str]]:
    """(path, relative path) of each file of ``ItemList.segments`` runs, in order."""
    for root, rels in segments:
        for rel in rels:
            yield join_path(root, rel), rel


def absolute_segments(
    segments: Sequence[tuple[str, tuple[str, ...]]],
) -> list[tuple[str, tuple[str, ...]]]:
    """The same runs with absolute roots, relative paths unchanged: for processes whose
    working directory differs from this one's (Dask workers). Files given as they are (root
    ``""``) that are relative get this directory as their root; URLs stay as they are."""
    cwd = os.getcwd()

    def root_of(rel: str) -> str:
        return "" if is_url(rel) or os.path.isabs(rel) else cwd

    out: list[tuple[str, tuple[str, ...]]] = []
    for root, rels in segments:
        if root:
            out.append((root if is_url(root) else os.path.abspath(root), tuple(rels)))
        else:
            out += [(base, tuple(run)) for base, run in itertools.groupby(rels, key=root_of)]
    return out


def join_path(root: str, rel: str) -> str:
    """The path to open for ``rel`` under ``root`` (``""`` for paths given as they are)."""
    if not root:
        return rel
    return join_url(root, rel) if is_url(root) else os.path.join(root, rel)
