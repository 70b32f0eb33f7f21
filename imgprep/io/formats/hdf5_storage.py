"""Where an HDF5 dataset's values live, and the rules for each place (see ``hdf5_reader``).

Names resolve one link at a time (``resolve``): soft links at most ``MAX_LINK_HOPS`` deep,
external links only with ``allow_external``. A dataset's bytes live in the file itself
(``check_stored``: built-in filters only, chunks of at most ``MAX_CHUNK_BYTES``, every chunk
written), in external raw files (only with ``allow_external``), or in virtual sources
(``check_virtual``: regular files inside the folder of the file unless ``allow_external``,
each holding a plain dataset of the expected dtype and shape, together covering every row).
HDF5 would otherwise follow, convert, or return the fill value (zeros) silently.
"""

from __future__ import annotations

import math
import os
from typing import Any

from imgprep.errors import ImgprepError
from imgprep.io.paths import is_inside

MAX_CHUNK_BYTES = 256 << 20
MAX_LINK_HOPS = 16  # HDF5's own limit of nested soft links
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
ALLOW_HINT = "pass --allow-external (allow_external=True) if you trust it"


def resolve(handle: Any, path: str, name: str, *, allow_external: bool) -> Any:
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
                    f"outside the file; {ALLOW_HINT}"
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


def check_stored(path: str, name: str, data: Any, *, allow_external: bool) -> None:
    """A dataset with bytes of its own: in the file (or, allowed, in external raw files),
    through built-in filters, in chunks of bounded size, every one of them written."""
    import h5py

    external = data.external
    if external:
        files = ", ".join(str(entry[0]) for entry in external)
        if not allow_external:
            raise ImgprepError(
                f"{path}: dataset {name!r} stores its values in {files} (external storage), "
                f"outside the file; {ALLOW_HINT}"
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


def check_virtual(path: str, name: str, data: Any, *, allow_external: bool) -> None:
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
                source = resolve(data.file, path, dset_name, allow_external=False)
            else:
                target = os.path.join(base, file_name)
                real = os.path.realpath(target)
                inside = any(real == root or is_inside(real, root) for root in roots)
                if not inside and not allow_external:
                    raise ImgprepError(
                        f"{where} (a virtual source), outside the folder of the file; {ALLOW_HINT}"
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
                source = resolve(opened[real], path, dset_name, allow_external=allow_external)
            if not isinstance(source, h5py.Dataset):
                raise ImgprepError(
                    f"{where}, which has no such dataset (HDF5 would return zeros for it)"
                )
            if source.is_virtual:
                raise ImgprepError(f"{where}, itself a virtual dataset; imgprep reads one level")
            _check_source(where, source, plist.get_virtual_srcspace(index), block, points, data)
            check_stored(path, f"{dset_name} in {file_name}", source, allow_external=allow_external)
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
