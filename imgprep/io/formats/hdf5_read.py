"""What an HDF5 file imgprep reads may point at, and the shape it may have.

An HDF5 file is a small file system: a dataset can keep its bytes in another file (external
raw storage, for example on ``/etc/passwd``), a name can be a link into another file
(``h5py.ExternalLink``) or a soft link that loops, and a virtual dataset reads other files'
datasets, with the fill value (zeros) for any source that is missing. Its declared shape
costs nothing to write: a 1.4 KB file can declare 10^12 values, all unwritten. ``inspect``
and ``Pipeline.from_hdf5`` read files a user may have received from someone else, so before
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
"""

from __future__ import annotations

import math
import os
import stat
from typing import Any

import numpy as np
from PIL import Image

from imgprep.errors import ImgprepError, InputError
from imgprep.io.discover import is_inside
from imgprep.values import MAX_JSON_DEPTH, json_depth

MAX_SIDE = 65_535
MAX_CHANNELS = 1024  # multispectral stacks, not only L, LA, RGB, RGBA
MAX_CHUNK_BYTES = 256 << 20
MAX_LINK_HOPS = 16  # HDF5's own limit of nested soft links
MAX_LISTED = 20  # dataset names listed when the one asked for is missing
MAX_ATTRIBUTE_BYTES = 16 << 20  # imgprep's own attributes are a few KB
# Filters HDF5 (and h5py, for lzf) decode without loading a plugin.
BUILTIN_FILTERS = {
    1: "gzip",
    2: "shuffle",
    3: "fletcher32",
    4: "szip",
    5: "nbit",
    6: "scaleoffset",
    32000: "lzf",
}
_ALLOW_HINT = "pass --allow-external (allow_external=True) if you trust it"


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

    found = _resolve(handle, path, name, allow_external=allow_external)
    if not isinstance(found, h5py.Dataset):
        names = dataset_names(handle)
        listed = ", ".join(names[:MAX_LISTED]) or "none"
        if len(names) > MAX_LISTED:
            listed += f" (and {len(names) - MAX_LISTED} more)"
        raise InputError(f"{path}: no dataset {name!r}; it has: {listed}")
    return found


def _resolve(handle: Any, path: str, name: str, *, allow_external: bool) -> Any:
    """Walk ``name`` one link at a time: h5py would follow an external link silently, and a
    soft-link loop ends in a RuntimeError traceback there."""
    import h5py

    pending = [part for part in name.split("/") if part not in ("", ".")]
    node = handle
    hops = 0
    while pending:
        if not isinstance(node, h5py.Group):
            return None
        part = pending.pop(0)
        link = node.get(part, getlink=True)
        if link is None:
            return None
        if isinstance(link, h5py.SoftLink):
            hops += 1
            if hops > MAX_LINK_HOPS:
                raise ImgprepError(
                    f"{path}: {name!r} is a soft link that loops (more than {MAX_LINK_HOPS} "
                    "links deep)"
                )
            pending[:0] = [part for part in link.path.split("/") if part not in ("", ".")]
            if link.path.startswith("/"):
                node = handle
            continue
        if isinstance(link, h5py.ExternalLink):
            if not allow_external:
                raise ImgprepError(
                    f"{path}: {name!r} is an external link to {link.path} in {link.filename}, "
                    f"outside the file; {_ALLOW_HINT}"
                )
            try:
                node = node[part]
            except (KeyError, OSError) as exc:
                raise ImgprepError(
                    f"{path}: {name!r} is an external link to {link.path} in {link.filename}, "
                    f"which cannot be opened ({exc})"
                ) from exc
            continue
        try:
            node = node[part]
        except (KeyError, OSError):  # a hard link to an object HDF5 cannot open
            return None
    return node


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
        _check_virtual(path, name, data, allow_external=allow_external)
    else:
        _check_stored(path, name, data, allow_external=allow_external)


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


def _check_stored(path: str, name: str, data: Any, *, allow_external: bool) -> None:
    """A dataset with bytes of its own: in the file (or, allowed, in external raw files),
    through built-in filters, in chunks of bounded size, every one of them written."""
    import h5py

    external = data.external
    if external:
        files = ", ".join(str(entry[0]) for entry in external)
        if not allow_external:
            raise ImgprepError(
                f"{path}: dataset {name!r} stores its values in {files} (external storage), "
                f"outside the file; {_ALLOW_HINT}"
            )
        for entry in external:
            target = os.fsdecode(entry[0])
            if not os.path.isfile(target):  # a FIFO or a device would block or never end
                raise ImgprepError(
                    f"{path}: dataset {name!r} stores its values in {target} (external "
                    "storage), which is not a regular file"
                )
        return
    plist = data.id.get_create_plist()
    for index in range(plist.get_nfilters()):
        code, _flags, _values, label = plist.get_filter(index)
        if code not in BUILTIN_FILTERS:
            raise ImgprepError(
                f"{path}: dataset {name!r} is compressed with HDF5 filter {code} "
                f"({os.fsdecode(label) or 'unnamed'}); imgprep reads only "
                f"{', '.join(sorted(BUILTIN_FILTERS.values()))}"
            )
    size = math.prod(data.shape) * data.dtype.itemsize
    layout = plist.get_layout()
    if layout == h5py.h5d.CHUNKED:
        chunks = data.chunks
        chunk_bytes = math.prod(chunks) * data.dtype.itemsize
        if chunk_bytes > MAX_CHUNK_BYTES:
            raise ImgprepError(
                f"{path}: dataset {name!r} has chunks of {chunk_bytes:,} bytes; imgprep reads "
                f"chunks of at most {MAX_CHUNK_BYTES >> 20} MiB (HDF5 decompresses a whole "
                "chunk to read any part of it)"
            )
        sides = zip(data.shape, chunks, strict=True)
        expected = math.prod(-(-side // chunk) for side, chunk in sides)
        stored = data.id.get_num_chunks()
        if stored < expected:
            raise ImgprepError(
                f"{path}: dataset {name!r} of shape {'x'.join(map(str, data.shape))} has "
                f"{stored:,} of its {expected:,} chunks written (HDF5 would return the fill "
                "value for the others)"
            )
    elif layout == h5py.h5d.CONTIGUOUS and data.id.get_storage_size() < size:
        raise ImgprepError(
            f"{path}: dataset {name!r} of shape {'x'.join(map(str, data.shape))} was never "
            "written (HDF5 would return the fill value)"
        )


def _check_virtual(path: str, name: str, data: Any, *, allow_external: bool) -> None:
    """Each mapping reads a plain dataset of the expected shape and dtype, in a regular
    file inside the folder of ``path`` (unless ``allow_external``); together they cover
    every row."""
    import h5py

    holder = os.path.abspath(data.file.filename)
    base = os.path.dirname(holder)  # HDF5 resolves relative sources from here first
    roots = {os.path.realpath(base), os.path.dirname(os.path.realpath(holder))}
    plist = data.id.get_create_plist()
    opened: dict[str, Any] = {}
    rows: list[tuple[int, int]] = []
    full_rows = True
    selected = 0
    try:
        for index in range(plist.get_virtual_count()):
            file_name = os.fsdecode(plist.get_virtual_filename(index))
            dset_name = os.fsdecode(plist.get_virtual_dsetname(index))
            vspace = plist.get_virtual_vspace(index)
            where = f"{path}: dataset {name!r} reads {dset_name!r} in {file_name}"
            if "%" in file_name or "%" in dset_name:
                raise ImgprepError(f"{where}: a printf-style source name, which imgprep refuses")
            low, high = vspace.get_select_bounds()
            block = tuple(h - lo + 1 for lo, h in zip(low, high, strict=True))
            points = vspace.get_select_npoints()
            selected += points
            if points == math.prod(block) and all(lo == 0 for lo in low[1:]):
                full_rows = full_rows and block[1:] == tuple(data.shape[1:])
                rows.append((low[0], high[0] + 1))
            else:
                full_rows = False
            if file_name == ".":
                source = _resolve(data.file, path, dset_name, allow_external=False)
            else:
                target = os.path.join(base, file_name)
                real = os.path.realpath(target)
                inside = any(real == root or is_inside(real, root) for root in roots)
                if not inside and not allow_external:
                    raise ImgprepError(
                        f"{where} (a virtual source), outside the folder of the file; {_ALLOW_HINT}"
                    )
                if not os.path.isfile(real):
                    raise ImgprepError(
                        f"{path}: dataset {name!r} reads {file_name}, which is missing (HDF5 "
                        "would return zeros for it); keep the .shards folder beside the file"
                    )
                if real not in opened:
                    try:
                        opened[real] = h5py.File(real, "r")
                    except OSError as exc:
                        raise ImgprepError(f"{where}, which is not HDF5 ({exc})") from exc
                source = _resolve(opened[real], path, dset_name, allow_external=allow_external)
            if not isinstance(source, h5py.Dataset):
                raise ImgprepError(
                    f"{where}, which has no such dataset (HDF5 would return zeros for it)"
                )
            if source.is_virtual:
                raise ImgprepError(f"{where}, itself a virtual dataset; imgprep reads one level")
            _check_source(where, source, plist.get_virtual_srcspace(index), block, points, data)
            _check_stored(
                path, f"{dset_name} in {file_name}", source, allow_external=allow_external
            )
    finally:
        for handle in opened.values():
            handle.close()
    total = math.prod(data.shape)
    covered = _covers(rows, data.shape[0]) if full_rows else selected >= total
    if not covered:
        raise ImgprepError(
            f"{path}: dataset {name!r}: its virtual sources do not cover every row (HDF5 "
            "would return zeros for the others)"
        )


def _check_source(
    where: str, source: Any, srcspace: Any, block: tuple[int, ...], points: int, data: Any
) -> None:
    """The source dataset has the dtype of the virtual one and the shape its mapping reads:
    HDF5 converts a dtype silently, and reads a part of (or zeros beyond) another shape."""
    import h5py

    if source.dtype != data.dtype:
        raise ImgprepError(
            f"{where}, which holds {source.dtype}, not {data.dtype} (HDF5 would convert it "
            "silently)"
        )
    shape = tuple(source.shape)
    shown = "x".join(map(str, shape))
    if srcspace.get_select_type() == h5py.h5s.SEL_ALL:
        same_rank = len(block) == len(shape)
        if (same_rank and shape != block) or (not same_rank and math.prod(shape) != points):
            raise ImgprepError(
                f"{where}, of shape {shown}, but maps it as {'x'.join(map(str, block))} "
                "(HDF5 would read a part of it, or zeros)"
            )
        return
    low, high = srcspace.get_select_bounds()
    if len(low) != len(shape) or any(h >= side for h, side in zip(high, shape, strict=True)):
        raise ImgprepError(
            f"{where}, of shape {shown}, but reads it up to index "
            f"{'x'.join(str(h) for h in high)} (HDF5 would return zeros beyond it)"
        )


def _covers(rows: list[tuple[int, int]], total: int) -> bool:
    reached = 0
    for start, stop in sorted(rows):
        if start > reached:
            return False
        reached = max(reached, stop)
    return reached >= total


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
