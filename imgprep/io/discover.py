"""Turn command-line inputs into a deterministic, sorted list of images with labels.

Rules (documented in the README):

- A directory with at least one visible subfolder holding images is a *labelled* dataset, as
  Keras' ``flow_from_directory``: each immediate subfolder that holds images (at any depth)
  is a class, classes are sorted by name, and images are collected recursively inside each
  class folder. Files lying directly at the root of a labelled directory belong to no class;
  they are ignored, counted, and reported as a note. Subfolders without any image are not
  classes (Keras would make them empty classes).
- Any other directory is *unlabelled*: the images directly inside it, sorted by name.
- Inputs must not overlap: the same file twice, or an input inside another input directory,
  is refused (each image would be counted twice).
- A file given explicitly (on the command line, in a list file, or on stdin) is taken as is,
  whatever its extension, unlabelled; if it is not an image, decoding reports it.
- Inside directories, only files whose extension (case-insensitive) belongs to one of the
  formats imgprep decodes (``DECODED_FORMATS``: PNG, JPEG, BMP, GIF, TIFF, WebP and
  PPM/PGM/PBM; ``IMAGE_EXTENSIONS``) are taken; hidden files and folders (name starting
  with ".") and other files are ignored, and their number is reported. Pillow's other
  plugins are never used, whatever a file is named: some of them run outside programs
  (EPS runs Ghostscript), and the rest are formats imgprep does not document.
- Order: inputs in the order given; inside a directory, sorted by class, then by the path
  relative to the class folder (code-point order of each path component). Symbolic links to
  folders are not followed (as ``os.walk``).
- When several labelled directories are given, the class list is the sorted union of their
  class names, so the same class name always gets the same label.
"""

from __future__ import annotations

import itertools
import os
from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import TextIO, overload

from imgprep.errors import InputError
from imgprep.io.remote import is_url, join_url, list_files, url_exists, url_is_dir

# The formats imgprep decodes, by Pillow's plugin names (JPEG also opens MPO, the camera
# JPEGs holding several pictures; PPM also reads PGM, PBM and PNM). Every ``Image.open``
# passes these as ``formats=``, so no other plugin ever sees a file: a PostScript file named
# x.png would otherwise make the EPS plugin run Ghostscript.
DECODED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
DECODED_FORMATS_TEXT = "PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM/PBM"


# Every extension Pillow registers for one of ``DECODED_FORMATS``, with the plugin that opens
# it (.mpo: camera JPEGs, opened by the JPEG plugin). A table, not ``Image.init()`` at import:
# that loads all of Pillow's plugins (global state, and start-up time) to learn a constant;
# tests/test_discover.py checks the table against Pillow's own registry.
FORMAT_OF_EXTENSION = {
    ".bmp": "BMP", ".gif": "GIF",
    ".jfif": "JPEG", ".jpe": "JPEG", ".jpeg": "JPEG", ".jpg": "JPEG", ".mpo": "JPEG",
    ".apng": "PNG", ".png": "PNG",
    ".pbm": "PPM", ".pfm": "PPM", ".pgm": "PPM", ".pnm": "PPM", ".ppm": "PPM",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
}  # fmt: skip
IMAGE_EXTENSIONS = frozenset(FORMAT_OF_EXTENSION)


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


def is_hidden(name: str) -> bool:
    """Hidden in the Unix sense: the name starts with a dot."""
    return name.startswith(".")


def has_image_extension(name: str) -> bool:
    """Whether ``name`` ends with one of ``IMAGE_EXTENSIONS``, case-insensitively.

    Same answer as ``os.path.splitext`` (a leading dot is not an extension), 3x faster,
    which matters for directories of millions of files.
    """
    dot = name.rfind(".")
    return dot > 0 and name[dot:].lower() in IMAGE_EXTENSIONS


MAX_LIST_LINE = 1 << 16  # characters of one line of a path list (PATH_MAX is 4,096 bytes)


def read_path_list(stream: TextIO) -> list[str]:
    """Paths from a list file or stdin: one per line, blank lines and ``#`` comments skipped.

    Each line is read with a cap (``MAX_LIST_LINE``): a list that is no list (``--files-from
    /dev/zero``, a binary file) would otherwise be read into one line without end.

    Raises:
        InputError: a line longer than the cap.
    """
    paths = []
    number = 0
    while line := stream.readline(MAX_LIST_LINE + 1):
        number += 1
        if len(line) > MAX_LIST_LINE and not line.endswith("\n"):
            name = getattr(stream, "name", "the list of paths")
            raise InputError(
                f"{name}: line {number} is longer than {MAX_LIST_LINE:,} characters; "
                "a list of paths has one path per line"
            )
        text = line.rstrip("\r\n")
        if text.strip() and not text.lstrip().startswith("#"):
            paths.append(text)
    return paths


def discover(inputs: Sequence[str], *, class_names: Sequence[str] | None = None) -> Discovery:
    """Expand ``inputs`` (directories and files) into a ``Discovery``.

    ``class_names`` fixes the class list (for several splits that must share labels); by
    default it is the sorted union of the class folders found.

    Raises:
        InputError: a path does not exist, inputs overlap (the same image would be counted
            twice), or no image is found at all (exit 2).
    """
    if isinstance(inputs, str):
        inputs = [inputs]
    if not inputs:
        raise InputError("no input given: pass directories, image files, or - for stdin")
    missing = [path for path in inputs if not _exists(path)]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise InputError(f"input not found: {missing[0]}{more}")
    _refuse_overlaps(inputs)
    walked = {path: _scan(path) for path in inputs if _is_dir(path)}
    found_classes = sorted({name for scan in walked.values() for name, _ in scan.classes})
    if class_names is None:
        class_names = found_classes
    elif set(found_classes) - set(class_names):
        raise InputError(f"class folders {sorted(set(found_classes) - set(class_names))} unknown")
    label_of = {name: index for index, name in enumerate(class_names)}
    items = ItemList()
    ignored = 0
    notes: list[str] = []
    for path in inputs:
        if path not in walked:
            items.extend("", [path], None)
            continue
        scan = walked[path]
        ignored += scan.ignored
        notes.extend(scan.notes)
        if scan.classes:
            for name, rels in scan.classes:
                items.extend(path, [f"{name}/{rel}" for rel in rels], label_of[name])
        else:
            items.extend(path, scan.flat, None)
    if not items:
        detail = f" ({ignored} non-image or hidden files ignored)" if ignored else ""
        raise InputError(f"no images found in {', '.join(inputs)}{detail}")
    has_labels = items.labelled_count() > 0
    return Discovery(
        items=items,
        classes=list(class_names) if has_labels else [],
        ignored=ignored,
        inputs=list(inputs),
        notes=notes,
    )


def _exists(path: str) -> bool:
    return url_exists(path) if is_url(path) else os.path.exists(path)


def _is_dir(path: str) -> bool:
    return url_is_dir(path) if is_url(path) else os.path.isdir(path)


def _scan(path: str) -> _Scan:
    return _scan_listing(path, list_files(path)) if is_url(path) else _scan_directory(path)


@dataclass
class _Scan:
    """One input directory: class folders with their images, or a flat list."""

    classes: list[tuple[str, list[str]]]
    flat: list[str]
    ignored: int
    notes: list[str]


def _scan_directory(path: str) -> _Scan:
    """Labelled when at least one visible subfolder holds an image (recursively).

    Subfolders without any image (``__MACOSX``, an empty ``tmp``) are not classes; unlike
    Keras, which would make every subfolder a class, so that such a folder neither shifts
    the labels nor turns a flat folder into an empty labelled one.
    """
    entries = _sorted_entries(path)
    subfolders = [
        entry.name
        for entry in entries
        if entry.is_dir(follow_symlinks=False) and not is_hidden(entry.name)
    ]
    hidden_folders = [
        entry.path
        for entry in entries
        if entry.is_dir(follow_symlinks=False) and is_hidden(entry.name)
    ]
    ignored = sum(_count_files(folder) for folder in hidden_folders)
    classes: list[tuple[str, list[str]]] = []
    empty: list[str] = []
    for name in subfolders:
        rels, skipped = _walk_images(os.path.join(path, name))
        ignored += skipped
        if rels:
            classes.append((name, rels))
        else:
            empty.append(name)
    top = [entry.name for entry in entries if not entry.is_dir(follow_symlinks=False)]
    return _finish_scan(path, classes, empty, top, ignored)


def _finish_scan(
    path: str,
    classes: list[tuple[str, list[str]]],
    empty: list[str],
    top: list[str],
    ignored: int,
) -> _Scan:
    """What both scans decide the same way, from the class folders with images, those
    without (``empty``), the sorted file names at the top, and the files ignored so far: a
    labelled dataset ignores the top files (noting any images among them), a flat one keeps
    the top images."""
    flat = [name for name in top if not is_hidden(name) and has_image_extension(name)]
    if not classes:
        return _Scan(classes=[], flat=flat, ignored=ignored + len(top) - len(flat), notes=[])
    notes: list[str] = []
    if flat:
        notes.append(
            f"{path}: {len(flat)} image(s) at the top of a labelled folder belong to no "
            "class folder and are ignored"
        )
    if empty:
        notes.append(f"{path}: folder(s) without images are not classes: {', '.join(empty)}")
    return _Scan(classes=classes, flat=[], ignored=ignored + len(top), notes=notes)


def _scan_listing(url: str, rels: list[str]) -> _Scan:
    """``_scan_directory``'s rules over a recursive listing (an fsspec URL's files).

    Object stores have no empty folders, so "a subfolder without images" is one holding
    only other files; everything else (hidden parts, extensions, order) is as local.
    """
    top: list[str] = []
    folders: dict[str, list[str]] = {}
    ignored = 0
    for rel in rels:
        head, sep, rest = rel.partition("/")
        if not sep:
            top.append(rel)
        elif is_hidden(head):
            ignored += 1
        else:
            folders.setdefault(head, []).append(rest)
    classes: list[tuple[str, list[str]]] = []
    empty: list[str] = []
    for name in sorted(folders):
        images = []
        for rest in folders[name]:
            parts = rest.split("/")
            if any(is_hidden(part) for part in parts) or not has_image_extension(parts[-1]):
                ignored += 1
            else:
                images.append(rest)
        if images:
            classes.append((name, sorted(images, key=lambda rel: rel.split("/"))))
        else:
            empty.append(name)
    return _finish_scan(url, classes, empty, sorted(top), ignored)


def is_inside(path: str, folder: str) -> bool:
    """Whether ``path`` lies strictly inside ``folder``, both in one normal form (real
    absolute paths, or URLs: ``normal_paths``)."""
    separator = "/" if is_url(folder) else os.sep
    return path != folder and path.startswith(folder.rstrip(separator) + separator)


def normal_paths(inputs: Sequence[str]) -> list[str]:
    """Comparable forms of inputs: real absolute local paths (symbolic links resolved, so a
    link to an input folder is that folder; a file's folder is resolved once per folder,
    which keeps 60,000 paths on stdin cheap), or the URL without a final /."""
    folders: dict[str, str] = {}
    out = []
    for path in inputs:
        if is_url(path):
            out.append(path.rstrip("/"))
            continue
        absolute = os.path.abspath(path)
        if os.path.isdir(absolute):
            out.append(os.path.realpath(absolute))
            continue
        parent, name = os.path.split(absolute)
        real = folders.get(parent)
        if real is None:
            real = folders[parent] = os.path.realpath(parent)
        out.append(os.path.join(real, name))
    return out


def _refuse_overlaps(inputs: Sequence[str]) -> None:
    """The same file twice, or an input inside another, would count images twice."""
    normal = normal_paths(inputs)
    seen: dict[str, str] = {}
    for given, path in zip(inputs, normal, strict=True):
        if path in seen:
            raise InputError(f"{given} is given twice (as {seen[path]} and {given})")
        seen[path] = given
    folders = sorted(
        (path, given) for given, path in zip(inputs, normal, strict=True) if _is_dir(given)
    )
    for given, path in zip(inputs, normal, strict=True):
        for folder, folder_given in folders:
            if is_inside(path, folder):
                raise InputError(
                    f"inputs overlap: {given} is inside {folder_given}; its images would be "
                    "counted twice"
                )


def class_folder_names(inputs: Sequence[str]) -> list[str]:
    """Sorted union of the class folder names of the labelled directories in ``inputs``."""
    names = set()
    for path in inputs:
        if _is_dir(path):
            names.update(name for name, _ in _scan(path).classes)
    return sorted(names)


def _sorted_entries(directory: str) -> list[os.DirEntry[str]]:
    return sorted(_entries(directory), key=_entry_name)


def _entries(directory: str) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except OSError as exc:
        raise InputError(f"cannot list {directory}: {exc.strerror or exc}") from exc


_entry_name = attrgetter("name")


def _walk_images(root: str) -> tuple[list[str], int]:
    """Image paths under ``root`` relative to it (sorted walk), and the ignored-file count.

    The loop is written for directories of hundreds of thousands of files: one pass over
    the ``scandir`` entries with the hidden and extension tests inline (the same rule as
    ``is_hidden`` and ``has_image_extension``; a name that is not hidden has no leading
    dot), then one sort of plain names: 60,000 MNIST files in about 65 ms here, against
    100 ms for sorting ``DirEntry`` objects and calling the helpers per file.
    """
    found: list[str] = []
    ignored = 0
    extensions = IMAGE_EXTENSIONS
    stack: list[tuple[str, str]] = [(root, "")]
    nested = False
    while stack:
        directory, prefix = stack.pop()
        files: list[str] = []
        subdirs: list[tuple[str, str]] = []
        for entry in _entries(directory):
            name = entry.name
            if entry.is_dir(follow_symlinks=False):
                if name[0] == ".":
                    ignored += _count_files(entry.path)
                else:
                    subdirs.append((name, entry.path))
            elif name[0] != "." and name[name.rfind(".") :].lower() in extensions:
                files.append(name)
            else:
                ignored += 1
        files.sort()
        found.extend([prefix + name for name in files] if prefix else files)
        subdirs.sort()
        stack.extend((path, f"{prefix}{name}/") for name, path in reversed(subdirs))
        nested = nested or bool(subdirs)
    if nested:  # files and folders interleave by name: sort by path components
        found.sort(key=lambda rel: rel.split("/"))
    return found, ignored


def _count_files(directory: str) -> int:
    return sum(len(files) for _, _, files in os.walk(directory))
