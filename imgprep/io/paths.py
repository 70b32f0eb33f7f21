"""Where paths lie relative to each other: comparable forms, and "inside".

Inputs that overlap (the same file twice, a folder given inside another), an output inside
an input, an HDF5 file whose virtual sources lie outside it: each such rule compares paths
that may be spelled differently (relative, through a symbolic link, a URL with a final /),
so they all compare the forms ``normal_paths`` gives.
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from imgprep.io.remote import is_url


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
