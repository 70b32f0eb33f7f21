"""What a PNG tree is: the manifest that marks one imgprep wrote, the folder it may go to or
replace, and how a source path becomes a tree name.

Shared by the writer (``png.py``, which checks its target again when opened from Python)
and the run's plan (``imgprep.plan``, which checks it before any image is read), so the
rule is written once, below both.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping

from imgprep.errors import InputError, option

DATASET_MANIFEST = "imgprep.json"  # what marks a folder as a PNG tree imgprep wrote
DATASET_FORMAT = "imgprep-dataset"


def check_png_target(target: str, *, overwrite: bool) -> None:
    """A PNG tree goes to a new or empty folder, or replaces with ``overwrite`` a folder that
    imgprep wrote (one holding an ``imgprep.json`` of an imgprep dataset), nothing else."""
    if os.path.lexists(target) and not os.path.isdir(target):
        raise InputError(f"cannot write a PNG tree to {target}: it is a file")
    if not os.path.isdir(target) or not os.listdir(target):
        return
    if not overwrite:
        raise InputError(
            f"{target} exists and is not empty; pass {option('overwrite')} to replace it"
        )
    if not is_imgprep_tree(target):
        raise InputError(
            f"{target} is not a PNG tree written by imgprep (it has no {DATASET_MANIFEST}); "
            f"{option('overwrite')} replaces only those: "
            f"remove it yourself or choose another folder"
        )


def is_imgprep_tree(folder: str) -> bool:
    """Whether ``folder`` holds the manifest of a PNG tree imgprep wrote."""
    manifest = os.path.join(folder, DATASET_MANIFEST)
    try:
        if not os.path.isfile(manifest) or os.path.getsize(manifest) > 1 << 30:
            return False
        with open(manifest, encoding="utf-8") as handle:
            data = json.load(handle)
    except (OSError, ValueError, RecursionError):
        return False
    return isinstance(data, dict) and data.get("format") == DATASET_FORMAT


def png_stem(rel: str, names: Mapping[str, str]) -> str:
    """The tree path of ``rel`` without its extension (``.png`` and copy suffixes follow)."""
    return os.path.splitext(names.get(rel, rel))[0]
