"""PNG-tree output: a folder mirroring the input's class folders, one PNG file per row.

See ``PngWriter``; ``imgprep.io.formats.base`` has the protocol and the atomic finish, and
``imgprep.plan`` the names a tree may hold (checked before any work).
"""

from __future__ import annotations

import errno
import json
import os
import shutil
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from imgprep import interrupts
from imgprep.errors import ImgprepError, InputError
from imgprep.io.atomic import OutputError, temporary_name
from imgprep.io.formats.base import (
    FORMAT_NAME,
    FORMAT_VERSION,
    AtomicWriter,
    AugmentRow,
    Column,
    OutputOptions,
    RowKind,
    temporary_beside,
)
from imgprep.io.formats.png_tree import DATASET_MANIFEST, check_png_target, png_stem
from imgprep.version import __version__

MIN_PNG_BYTES = 67  # the smallest PNG file: signature, IHDR, one IDAT, IEND


class PngWriter(AtomicWriter):
    """A folder mirroring the input's class folders (``SPLIT/CLASS/NAME.png``).

    Only integer images can be written: uint8 with 1-4 channels (L, LA, RGB, RGBA) or
    uint16 grayscale (16-bit PNG). The file name keeps the source's relative path with its
    extension replaced by ``.png``; files given one by one are named as ``imgprep.plan``
    says (``start_split(names=...)``), and every resolved path is checked to lie inside the
    output before it is written. ``imgprep.json`` at the top records the pipeline, the
    statistics, the class names and the skipped files.

    Two runs writing one tree at once do not replace each other silently: the target's
    state is noted when the writer opens, and if another run has written it meanwhile the
    rename is refused and this run's tree deleted.
    """

    name = "png"
    folder = True

    @classmethod
    def least_row_bytes(
        cls, *, path_bytes: int, labelled: bool, augmented: bool, pixel_bytes: int | None
    ) -> int:
        """One file (and inode) per row, of at least ``MIN_PNG_BYTES``."""
        return MIN_PNG_BYTES

    @classmethod
    def open(cls, target: str, options: OutputOptions) -> PngWriter:
        return cls(target, overwrite=options.overwrite)

    @classmethod
    def check_pipeline(cls, pipeline: RowKind) -> None:
        """PNG holds integers: refuse a float pipeline rather than clip its values."""
        if pipeline.makes_floats:
            raise InputError(
                "a float pipeline (rescale, centre or standardize) cannot be written as PNG "
                "without clipping; write HDF5 (-o FILE.h5) instead"
            )
        if pipeline.dtype not in ("auto", "uint8", "uint16"):
            raise InputError(f"PNG output holds integers only, not {pipeline.dtype}")

    def __init__(self, target: str, *, overwrite: bool = False) -> None:
        check_png_target(target, overwrite=overwrite)
        self.target = target
        with interrupts.shielded():  # as in Hdf5Writer: the caller's ``with`` deletes it
            self._temporary = temporary_beside(target, directory=True)
        self._root = os.path.abspath(self._temporary) + os.sep
        self._state = _tree_state(target)
        self._prefix = ""
        self._names: Mapping[str, str] = {}
        self._written: set[str] = set()
        self._skipped: dict[str, list[dict[str, str]]] = {}
        self._split_key = ""
        self._copies: list[dict[str, Any]] = []
        self._columns: Sequence[str] = ()  # recorded augmentation columns of this split
        self._finished = False

    def start_split(
        self,
        name: str | None,
        *,
        labelled: bool,
        augmentation: Sequence[Column] | None = None,
        path_bytes: int = 1,
        names: Mapping[str, str] | None = None,
        hold_images: bool = False,
    ) -> None:
        """Begin a split; ``names`` maps relative paths of files given one by one to their
        names in the tree (``imgprep.plan.png_names``); ``augmentation`` names the values
        each copy's manifest record holds. A tree cannot hold raw rows (``holds_raw_rows``)."""
        if hold_images:
            raise ValueError("a PNG tree cannot hold raw rows: it writes each row as it comes")
        self._prefix = f"{name}/" if name else ""
        self._split_key = name or ""
        self._names = names or {}
        self._columns = [name for name, _ in augmentation or ()]
        self._count = 0

    def write(
        self,
        images: Sequence[np.ndarray],
        rels: Sequence[str],
        labels: Sequence[int | None],
        augmentation: Sequence[AugmentRow] | None = None,
    ) -> None:
        for position, (image, rel) in enumerate(zip(images, rels, strict=True)):
            stem = self._prefix + png_stem(rel, self._names)
            if augmentation is not None:
                index, copy, values = augmentation[position]
                if copy:
                    stem = f"{stem}_copy{copy}"
                record = {"path": stem + ".png", "source": rel, "source_index": index, "copy": copy}
                record.update(zip(self._columns, values, strict=True))
                self._copies.append(record)
            name = stem + ".png"
            if name in self._written:
                raise InputError(f"two inputs would both be written as {name}; rename one of them")
            self._written.add(name)
            path = os.path.normpath(os.path.join(self._temporary, name))
            if not path.startswith(self._root):  # imgprep.plan's names never get here
                raise InputError(f"{rel}: its output name {name} would lie outside {self.target}")
            try:
                os.makedirs(os.path.dirname(path), exist_ok=True)
                _save_png(image, path, rel)
            except OSError as exc:
                if exc.errno != errno.ENAMETOOLONG:
                    raise
                raise self._cannot_write(f"{name}: file name too long") from None
            self._count += 1

    def end_split(self, *, skipped: list[dict[str, str]]) -> None:
        if self._count == 0:
            raise ImgprepError("no image could be read; nothing to write")
        self._skipped[self._split_key] = skipped

    def finish(self, metadata: dict[str, Any]) -> None:
        manifest = {
            "format": FORMAT_NAME,
            "format_version": FORMAT_VERSION,
            "imgprep_version": __version__,
            **metadata,
            "skipped": self._skipped,
        }
        if self._copies:
            manifest["copies"] = self._copies
        with open(os.path.join(self._temporary, "imgprep.json"), "w", encoding="utf-8") as handle:
            json.dump(manifest, handle, indent=2)
            handle.write("\n")
        self._finished = True

    def _publish(self) -> None:
        """Swap the new tree in; a replaced folder is moved aside first, then deleted.

        Refused when another run wrote the target since this one began (that tree is kept,
        this one discarded). A target that did not exist is taken with a plain rename, which
        fails rather than replace a non-empty folder created meanwhile.
        """
        if _tree_state(self.target) != self._state:
            raise self._written_meanwhile()
        old = None
        if os.path.isdir(self.target):
            old = temporary_name(self.target)
            os.replace(self.target, old)
        try:
            os.rename(self._temporary, self.target)
        except OSError as exc:
            if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                raise
            raise self._written_meanwhile() from None
        if old:
            shutil.rmtree(old, ignore_errors=True)

    def _written_meanwhile(self) -> OutputError:
        self._discard()
        return OutputError(
            f"cannot write {self.target}: another run wrote it while this one ran; this run's "
            "output was discarded"
        )

    def _discard(self) -> None:
        shutil.rmtree(self._temporary, ignore_errors=True)


def _tree_state(target: str) -> tuple[int, ...] | None:
    """What identifies the target folder's content: the folder's and its manifest's inode and
    modification time (None when the folder is absent)."""
    parts: list[int] = []
    for path in (target, os.path.join(target, DATASET_MANIFEST)):
        try:
            info = os.stat(path)
        except OSError:
            parts += [-1, -1]
            continue
        parts += [info.st_ino, info.st_mtime_ns]
    return None if parts[0] == -1 else tuple(parts)


def _save_png(image: np.ndarray, path: str, rel: str) -> None:
    channels = image.shape[-1]
    if image.dtype == np.uint8 and channels in (1, 2, 3, 4):
        Image.fromarray(image[:, :, 0] if channels == 1 else image).save(path, format="PNG")
    elif image.dtype == np.uint16 and channels == 1:
        Image.fromarray(np.ascontiguousarray(image[:, :, 0])).save(path, format="PNG")
    else:
        raise InputError(
            f"{rel}: cannot write a {channels}-channel {image.dtype} image as PNG (uint8 with 1-4 "
            "channels or uint16 grayscale only); write HDF5 instead"
        )


WRITERS = (PngWriter,)  # found by imgprep.io.formats.registry.discover
