"""The safety rules of a run's outputs, checked before any image is read or any file written.

imgprep never modifies or deletes what it reads and never writes outside its output. The
rules that make this so live here, in one place, and every run calls them before it starts
(``imgprep.run.transform_plan.plan_transform`` and ``imgprep.run.stats_plan.plan_stats``,
which the command line and library callers alike go through):

- An output is never one of the inputs: not an input file (``transform a/x.png -o a/x.png``),
  not an input folder, and not inside an input folder where it would be read as one of its
  images (``fit-stats data -o data/a/x.png``) or, for a PNG tree, at all (``transform data
  -o data/out``: the next run would read its own output).
- ``--overwrite`` replaces only a folder that imgprep wrote (it holds ``imgprep.json``), and
  never one that is or contains an input (``transform par/train -o par --overwrite`` would
  delete ``par/val``).
- Every file of a PNG tree is named inside the output folder: images under an input folder
  keep their path relative to it; files named one by one (arguments, a list, stdin) are
  named relative to the deepest folder holding all of them, so that ``/abs/data/a/x.png``
  or ``../photos/a.jpg`` become ``a/x.png`` and ``a.png`` in the tree, never a path outside
  it (the writer checks each resolved path again before it writes). Two inputs that would
  get one name, and names longer than the file system allows, are refused up front.
- Named inputs (``--input train=DIR``) must not overlap: the same folder in two splits, or
  one inside another, would put the same images in training and test data.

All refusals are ``InputError`` (exit 2) naming the paths; none of them reads an image.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Mapping, Sequence
from typing import Any

from imgprep.errors import InputError, option
from imgprep.io.discover import has_image_extension
from imgprep.io.formats.png_tree import check_png_target, png_stem
from imgprep.io.items import ItemList
from imgprep.io.paths import is_inside, normal_paths
from imgprep.io.remote import is_url

_COPY_SUFFIX = re.compile(r"^(.*)_copy([1-9][0-9]*)$")


def _real(path: str) -> str:
    return os.path.realpath(os.path.abspath(path))


def check_output(
    output: str,
    inputs: Sequence[str],
    *,
    folder: bool = False,
    overwrite: bool = False,
    what: str = "the output",
    files: frozenset[str] = frozenset(),
) -> None:
    """Refuse an output that is, or would replace or be read as, one of ``inputs``.

    Args:
        output: the path to be written (a file, or a folder when ``folder``).
        inputs: the inputs as given: folders, files and URLs (URLs cannot be written over).
        folder: the output is a folder (a PNG tree), which may not lie inside an input at all.
        overwrite: an existing folder is to be replaced; it must not hold an input.
        what: how messages name the output ("the output", "the preview").
        files: inputs known to be files (discovery knows them): not stat-ed again, which
            matters for 60,000 paths on stdin.

    Raises:
        InputError: with both paths named (exit 2).
    """
    real = _real(output)
    exists = os.path.lexists(output)
    target_id = _file_id(output) if exists else None
    replaced = folder and overwrite and exists
    for given in inputs:
        if is_url(given):
            continue
        if given not in files and os.path.isdir(given):
            source = _real(given)
            if real == source:
                raise InputError(f"{what} {output} is the input folder {given}")
            if is_inside(real, source) and (folder or has_image_extension(real)):
                kind = "folder" if folder else "file"
                raise InputError(
                    f"{what} {kind} {output} is inside the input {given}, so a later run "
                    "would read it as input; write it elsewhere"
                )
        elif target_id is not None and _file_id(given) == target_id:
            raise InputError(f"{what} {output} is the input {given}; write it elsewhere")
        if replaced and is_inside(_real(given), real):
            raise InputError(
                f"{what} folder {output} holds the input "
                f"{given}; {option('overwrite')} would delete it"
            )


def _file_id(path: str) -> tuple[int, int] | None:
    """(device, inode) of what ``path`` names, or None when it cannot be read."""
    try:
        info = os.stat(path)
    except OSError:
        return None
    return (info.st_dev, info.st_ino)


def check_named_inputs(named: Sequence[tuple[str, str]]) -> None:
    """Refuse named inputs that overlap: the same images would be in two splits.

    Raises:
        InputError: naming both splits (exit 2).
    """
    normal = [(name, path, _normal(path)) for name, path in named]
    for index, (name, path, where) in enumerate(normal):
        for other_name, other_path, other in normal[:index]:
            if where == other:
                raise InputError(
                    f"inputs overlap: {other_name}={other_path} and {name}={path} are the same "
                    "images; each would be in two splits"
                )
            for inner, inner_path, outer, outer_path in (
                (name, path, other_name, other_path),
                (other_name, other_path, name, path),
            ):
                if is_inside(_normal(inner_path), _normal(outer_path)):
                    raise InputError(
                        f"inputs overlap: {inner}={inner_path} is inside {outer}={outer_path}; "
                        "its images would be in two splits"
                    )


def _normal(path: str) -> str:
    return normal_paths([path])[0]


def png_names(items: ItemList) -> dict[str, str]:
    """Output names for the files named one by one (root ``""``), by their path as given:
    a relative path that stays below the current folder keeps its (normalised) path, as
    always; absolute paths, paths that climb out (``../a.jpg``) and URLs are named relative
    to the deepest folder holding all of them (see the module docstring). Images found
    under an input folder keep their relative path and are not listed."""
    explicit = [rel for root, rels in items.segments(0, len(items)) if not root for rel in rels]
    names: dict[str, str] = {}
    escaping = []
    for rel in explicit:
        if rel.startswith("/") or is_url(rel):
            escaping.append(rel)
            continue
        normal = os.path.normpath(rel)
        if os.path.isabs(normal) or normal == os.pardir or normal.startswith(os.pardir + os.sep):
            escaping.append(rel)
        elif normal != rel:
            names[rel] = normal
    local = [rel for rel in escaping if not is_url(rel)]
    urls = [rel for rel in escaping if is_url(rel)]
    if local:
        names.update(_below_common_folder(local, [os.path.abspath(rel) for rel in local], os.path))
    if urls:
        bare = [rel.split("://", 1)[1] for rel in urls]
        names.update(_below_common_folder(urls, [posixpath.normpath(p) for p in bare], posixpath))
    return names


def _below_common_folder(rels: list[str], paths: list[str], flavour: Any) -> dict[str, str]:
    """Each of ``paths`` (normalised) relative to the deepest folder holding all of them,
    keyed by ``rels``: a cut of the common prefix (``relpath`` costs 30 us a path)."""
    folders = list({flavour.dirname(path) for path in paths})
    base = flavour.commonpath(folders)
    cut = len(base) if base.endswith("/") else len(base) + 1
    return {rel: path[cut:] for rel, path in zip(rels, paths, strict=True)}


def check_png_names(
    items: ItemList, names: Mapping[str, str], *, copies: int, target: str, prefix: str = ""
) -> None:
    """Refuse, before any work, two inputs that one PNG tree name would hold (``x.jpg`` and
    ``x.png``; ``x.png`` and ``x_copy1.png`` when copies are written) and names longer than
    the file system allows once ``_copyK.png`` is added.

    Raises:
        InputError: naming both files, or the long name (exit 2).
    """
    limit = _name_max(target)
    owner: dict[str, str] = {}
    for index in range(len(items)):
        rel = items.rel(index)
        stem = prefix + png_stem(rel, names)
        if stem in owner:
            raise InputError(
                f"two inputs would both be written as {stem}.png: {owner[stem]} and {rel}; "
                "rename one of them"
            )
        owner[stem] = rel
        longest = f"{os.path.basename(stem)}_copy{copies}.png" if copies else f"{stem}.png"
        for part in [*stem.split("/")[:-1], os.path.basename(longest)]:
            if len(part.encode("utf-8", "surrogateescape")) > limit:
                raise InputError(
                    f"{rel}: the output name {part} would be longer than the {limit} bytes "
                    "the file system allows; rename the file or write HDF5"
                )
    if copies:
        _check_copy_names(owner, copies)


def _check_copy_names(owner: Mapping[str, str], copies: int) -> None:
    for stem, rel in owner.items():
        found = _COPY_SUFFIX.match(stem)
        if found and int(found.group(2)) <= copies and found.group(1) in owner:
            raise InputError(
                f"two inputs would both be written as {stem}.png: {rel} and copy "
                f"{found.group(2)} of {owner[found.group(1)]}; rename {rel}"
            )


def _name_max(target: str) -> int:
    """The longest file name the file system of ``target`` takes (255 when unknown)."""
    folder = os.path.dirname(os.path.abspath(target)) or "."
    try:
        return int(os.pathconf(folder, "PC_NAME_MAX"))
    except (OSError, ValueError):
        return 255


def plan_png_tree(
    output: str,
    parts: Sequence[tuple[str | None, ItemList, int]],
    *,
    overwrite: bool,
) -> list[dict[str, str]]:
    """Check a PNG tree's target and every name it will hold, before any work.

    Args:
        output: the tree's folder.
        parts: per split, its name (None for a single input), its items and the number of
            augmented copies written per image (0 when the split is not augmented).
        overwrite: an existing imgprep tree may be replaced.

    Returns:
        Per split, the names of its files given one by one (see ``png_names``).
    """
    check_png_target(output, overwrite=overwrite)
    names = []
    for split, items, copies in parts:
        mapping = png_names(items)
        prefix = f"{split}/" if split else ""
        check_png_names(items, mapping, copies=copies, target=output, prefix=prefix)
        names.append(mapping)
    return names


def check_preview(preview: str, output: str, *, folder: bool) -> None:
    """Refuse a preview sheet written where the output goes: the output would replace it
    (the same file), or hold it (inside a PNG tree, where it would be taken for a row)."""
    sheet, target = normal_paths([preview, output])
    if sheet == target or (folder and is_inside(sheet, target)):
        where = "is" if sheet == target else "is inside"
        raise InputError(f"the preview {preview} {where} the output {output}; write it elsewhere")
