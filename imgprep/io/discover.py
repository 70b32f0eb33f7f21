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
  PPM/PGM/PBM; ``IMAGE_EXTENSIONS``, both in ``imgprep.io.decoded_formats``) are taken;
  hidden files and folders (name starting with ".") and other files are ignored, and their
  number is reported. Pillow's other plugins are never used, whatever a file is named: some
  of them run outside programs (EPS runs Ghostscript), and the rest are formats imgprep
  does not document.
- Order: inputs in the order given; inside a directory, sorted by class, then by the path
  relative to the class folder (code-point order of each path component). Symbolic links to
  folders are not followed (as ``os.walk``).
- When several labelled directories are given, the class list is the sorted union of their
  class names, so the same class name always gets the same label.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from operator import attrgetter
from typing import TextIO

from imgprep.errors import InputError
from imgprep.io.decoded_formats import IMAGE_EXTENSIONS
from imgprep.io.items import Discovery, ItemList
from imgprep.io.paths import is_inside, normal_paths
from imgprep.io.remote import is_url, list_files, url_exists, url_is_dir


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
