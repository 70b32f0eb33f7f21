"""What an HDF5 file imgprep reads may point at, and the shape it may have.

An HDF5 file is a small file system: a dataset can keep its bytes in another file (external
raw storage, for example on ``/etc/passwd``), a name can be a link into another file
(``h5py.ExternalLink``) or a soft link that loops, and a virtual dataset reads other files'
datasets, with the fill value (zeros) for any source that is missing. Its declared shape
costs nothing to write: a 1.4 KB file can declare 10^12 values, all unwritten. ``inspect``
and ``pipeline_from_hdf5`` read files a user may have received from someone else, so before
any value is read, every rule below is checked here, in one place:

- Names resolve inside the file: soft links are followed at most ``MAX_LINK_HOPS`` times (a
  loop is one line), an external link is refused unless ``allow_external``.
- A dataset's bytes live in the file itself, or in virtual sources that resolve inside the
  folder of the file (imgprep's own Dask output: ``NAME.h5.shards/...`` beside ``NAME.h5``,
  named relative to it, or by absolute paths when ``-o`` was a symbolic link, which then
  resolve inside the real file's folder). External raw storage and sources elsewhere are
  refused unless ``allow_external``.
- Always, even with ``allow_external``: each virtual source file is a regular file holding
  the source dataset with the shape and dtype the mapping expects (HDF5 would return zeros,
  or convert, or read a part silently), the mappings cover every row, and every chunk of a
  chunked dataset was written (unwritten chunks read as the fill value).
- Only HDF5's built-in filters (and h5py's lzf) are decoded, never a plugin, and a chunk is
  at most ``MAX_CHUNK_BYTES`` (HDF5 decompresses a whole chunk to read any part of it).
- Rows are images, ``(N, H, W)`` or ``(N, H, W, C)`` with ``1 <= C <= 4``, ``H, W <=
  MAX_SIDE`` and ``H * W`` within Pillow's decompression-bomb limit
  (``PIL.Image.MAX_IMAGE_PIXELS``, as for image files), or single values ``(N,)`` (labels,
  augmentation columns); values are booleans, integers or floats.

Every refusal is one ``ImgprepError`` line naming the file, the dataset and what is wrong.
The rules on links and on where values live are in ``hdf5_storage``; the shape rules here.
"""

from __future__ import annotations

import os
import stat
from typing import Any

import numpy as np
from PIL import Image

from imgprep.errors import ImgprepError, InputError
from imgprep.io.formats.hdf5_layout import SUFFIXES
from imgprep.io.formats.hdf5_storage import check_stored, check_virtual, resolve
from imgprep.values import MAX_JSON_DEPTH, json_depth

MAX_SIDE = 65_535
MAX_CHANNELS = 1024  # multispectral stacks, not only L, LA, RGB, RGBA
MAX_LISTED = 20  # dataset names listed when the one asked for is missing
MAX_ATTRIBUTE_BYTES = 16 << 20  # imgprep's own attributes are a few KB


def is_hdf5_name(path: str) -> bool:
    """Whether ``path`` is named as an HDF5 file (``hdf5_layout.SUFFIXES``, any case)."""
    return path.lower().endswith(SUFFIXES)


def is_hdf5_path(path: str) -> bool:
    """HDF5 by extension, or by signature for other file names."""
    if is_hdf5_name(path):
        return True
    try:
        import h5py

        return h5py.is_hdf5(path)
    except (OSError, ValueError):
        return False


def open_hdf5(path: str) -> Any:
    """``h5py.File(path, "r")`` of a regular file, or one line saying why not.

    A FIFO or a device would block or never end; only regular files are opened.
    """
    import h5py

    try:
        info = os.stat(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror})") from exc
    if not stat.S_ISREG(info.st_mode):
        raise InputError(f"{path}: not a regular file")
    try:
        return h5py.File(path, "r")
    except OSError as exc:
        raise ImgprepError(f"{path}: cannot open as HDF5 ({exc})") from exc


def find_dataset(handle: Any, path: str, name: str, *, allow_external: bool) -> Any:
    """The dataset ``name`` of an open file, its links resolved by the rules above.

    Raises:
        InputError: there is no such dataset (lists, at most ``MAX_LISTED``, those there are).
        ImgprepError: a link loops, dangles or leaves the file without ``allow_external``.
    """
    import h5py

    found = resolve(handle, path, name, allow_external=allow_external)
    if not isinstance(found, h5py.Dataset):
        names = dataset_names(handle)
        listed = ", ".join(names[:MAX_LISTED]) or "none"
        if len(names) > MAX_LISTED:
            listed += f" (and {len(names) - MAX_LISTED} more)"
        raise InputError(f"{path}: no dataset {name!r}; it has: {listed}")
    return found


def dataset_names(handle: Any) -> list[str]:
    """Every dataset reached by hard links (``visititems`` follows no other link)."""
    import h5py

    names: list[str] = []
    handle.visititems(
        lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None
    )
    return names


def check_dataset(path: str, name: str, data: Any, *, allow_external: bool) -> None:
    """Refuse a dataset imgprep must not read: wrong kind of values, implausible shape,
    bytes outside the file, unwritten chunks, or virtual sources that would read as zeros.

    Only metadata is read (and each virtual source file opened), so a refusal is quick
    whatever the declared size.
    """
    check_shape(path, name, data.shape, data.dtype)
    if data.is_virtual:
        check_virtual(path, name, data, allow_external=allow_external)
    else:
        check_stored(path, name, data, allow_external=allow_external)


def check_shape(path: str, name: str, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Rows are images ``(N, H, W[, C])`` or single values ``(N,)``, of booleans, integers or
    floats, within the limits of the module docstring."""
    shown = "x".join(str(v) for v in shape) or "scalar"
    if dtype.kind not in "biuf" or dtype.fields is not None:
        raise ImgprepError(
            f"{path}: dataset {name!r} holds {dtype} values; imgprep reads booleans, integers "
            "and floats"
        )
    if len(shape) not in (1, 2, 3, 4):
        raise ImgprepError(
            f"{path}: dataset {name!r} has shape {shown}; imgprep reads images (N, H, W) or "
            "(N, H, W, C), or rows of values (N,) or (N, D)"
        )
    if shape[0] == 0:
        raise InputError(f"{path}: dataset {name!r} is empty")
    if len(shape) == 1:
        return
    if len(shape) == 2:  # feature vectors: one channel of D values per row
        limit = Image.MAX_IMAGE_PIXELS
        if shape[1] < 1 or (limit is not None and shape[1] > limit):
            raise ImgprepError(
                f"{path}: dataset {name!r} has shape {shown}: rows of {shape[1]:,} values, "
                f"imgprep reads 1 to {limit or 0:,}"
            )
        return
    height, width = shape[1], shape[2]
    channels = shape[3] if len(shape) == 4 else 1
    if not 1 <= channels <= MAX_CHANNELS:
        raise ImgprepError(
            f"{path}: dataset {name!r} has shape {shown}: {channels} channels, imgprep reads "
            f"1 to {MAX_CHANNELS}"
        )
    if not (1 <= height <= MAX_SIDE and 1 <= width <= MAX_SIDE):
        raise ImgprepError(
            f"{path}: dataset {name!r} has shape {shown}: images of {height}x{width}, imgprep "
            f"reads 1 to {MAX_SIDE:,} pixels a side"
        )
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and height * width > limit:
        raise ImgprepError(
            f"{path}: dataset {name!r} has shape {shown}: {height * width:,} pixels per image "
            f"is above Pillow's limit of {limit:,} (PIL.Image.MAX_IMAGE_PIXELS)"
        )


def image_dataset_names(handle: Any) -> list[str]:
    """``images`` at the root and in each top-level group (one per split), as written by
    ``imgprep transform``; only hard-linked names (links are checked when resolved)."""
    import h5py

    names = []
    for key in handle:
        link = handle.get(key, getlink=True)
        if not isinstance(link, h5py.HardLink):
            if key == "images":
                names.append(key)
            continue
        node = handle[key]
        if key == "images":
            names.append(key)
        elif isinstance(node, h5py.Group) and "images" in node:
            names.append(f"{key}/images")
    return names


def check_file(path: str, *, allow_external: bool) -> None:
    """Open ``path`` and check every images dataset in it (see ``image_dataset_names``)."""
    with open_hdf5(path) as handle:
        for name in image_dataset_names(handle):
            data = find_dataset(handle, path, name, allow_external=allow_external)
            check_dataset(path, name, data, allow_external=allow_external)


def read_json_attribute(handle: Any, path: str, key: str) -> Any:
    """The JSON text of the file attribute ``key``, parsed, or None when there is none.

    Raises:
        ImgprepError: the attribute is too large, not text, not JSON, or nested deeper than
            ``MAX_JSON_DEPTH`` (names the file and the attribute).
    """
    import json

    if key not in handle.attrs:
        return None
    where = f"{path}: attribute {key!r}"
    try:
        size = handle.attrs.get_id(key).get_storage_size()
        if size > MAX_ATTRIBUTE_BYTES:
            raise ImgprepError(f"{where} holds {size:,} bytes; imgprep reads at most 16 MiB")
        value = handle.attrs[key]
    except (OSError, TypeError) as exc:  # h5py: a type it cannot convert
        raise ImgprepError(f"{where} cannot be read ({exc})") from exc
    if isinstance(value, bytes):
        try:
            value = value.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ImgprepError(f"{where} is not UTF-8 text ({exc})") from exc
    if not isinstance(value, str):
        raise ImgprepError(f"{where} is not JSON text (it holds {type(value).__name__} data)")
    try:
        parsed = json.loads(value)
    except RecursionError as exc:
        raise ImgprepError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep") from exc
    except ValueError as exc:  # bad JSON, or an integer of more than 4,300 digits
        raise ImgprepError(f"{where} is not valid JSON ({exc})") from exc
    if json_depth(parsed) > MAX_JSON_DEPTH:
        raise ImgprepError(f"{where} is nested more than {MAX_JSON_DEPTH} levels deep")
    return parsed


def hdf5_splits(path: str, *, allow_external: bool = False) -> list[str]:
    """The split names an imgprep HDF5 output lists (its ``splits`` attribute), each a group
    with an ``images`` dataset; [] for a file without splits.

    Raises:
        ImgprepError: the file breaks a rule above, or its ``splits`` is not a list of names.
    """
    check_file(path, allow_external=allow_external)
    with open_hdf5(path) as handle:
        splits = read_json_attribute(handle, path, "splits")
    if splits is None:
        return []
    if not isinstance(splits, list) or not all(isinstance(name, str) for name in splits):
        raise ImgprepError(f"{path}: attribute 'splits' is not a list of split names")
    return splits


def label_counts(path: str, dataset: str, *, allow_external: bool = False) -> dict[str, int] | None:
    """Images per class of the split whose images are ``dataset`` (``NAME/images`` or
    ``images``): its ``labels`` beside it counted in blocks of 1M, named by the file's
    ``class_names``; None when it has no labels or no class names.

    Raises:
        ImgprepError: the file breaks a rule above, or a label is not one of its classes.
    """
    import h5py

    check_file(path, allow_external=allow_external)
    group, _, _ = dataset.rpartition("/")
    labels_name = f"{group}/labels" if group else "labels"
    with open_hdf5(path) as handle:
        names = read_json_attribute(handle, path, "class_names")
        labels = handle.get(labels_name)
        if not isinstance(names, list) or not isinstance(labels, h5py.Dataset):
            return None
        if labels.ndim != 1 or labels.dtype.kind not in "iu":
            raise ImgprepError(f"{path}: dataset {labels_name!r} is not one integer per image")
        counts = np.zeros(len(names), dtype=np.int64)
        for start in range(0, labels.shape[0], 1 << 20):
            block = np.asarray(labels[start : start + (1 << 20)]).astype(np.int64)
            if len(block) and (block.min() < 0 or block.max() >= len(names)):
                raise ImgprepError(
                    f"{path}: dataset {labels_name!r} holds a label outside its "
                    f"{len(names)} class_names"
                )
            counts += np.bincount(block, minlength=len(names))
    return {str(name): int(count) for name, count in zip(names, counts.tolist(), strict=True)}
