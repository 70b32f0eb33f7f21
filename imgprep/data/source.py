"""What one split of an imgprep HDF5 output holds, read once, before any row is.

``describe`` opens the file under ``imgprep.io.formats.hdf5_reader``'s rules (a regular file;
names that resolve inside it; virtual sources, as the Dask engine writes, only beside it; no
unwritten chunks), checks that it is imgprep's (its ``format`` attribute), finds the split and
returns a ``SplitSource``: plain numbers and names that pickle cheaply to DataLoader workers,
which then open the file themselves. Every refusal is one ``InputError`` line naming the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from imgprep.errors import ImgprepError, InputError

DEFAULT_BLOCK_BYTES = 4 << 20  # block of rows read at once when the dataset is not chunked


@dataclass(frozen=True)
class SplitSource:
    """One split's datasets and the numbers a reader needs.

    Attributes:
        path: the HDF5 file.
        split: the split's name (None: datasets at the root).
        ordinal: the split's position in the file's ``splits`` attribute (0 at the root):
            the ``split`` part of the augmentation key, as ``transform`` numbered it.
        prefix: ``""`` or ``"NAME/"`` before ``images``, ``labels``, ``paths``.
        rows: rows of ``images``.
        shape: one row's shape (H, W, C) or (H, W).
        dtype: the stored dtype's name.
        chunk_rows: rows per block: the chunk's rows (or a divisor of them when a chunk is
            larger than the cache), ``DEFAULT_BLOCK_BYTES`` of rows when not chunked.
        has_labels, has_paths: whether those datasets exist.
        pipeline: the file's ``pipeline`` attribute (options and steps), parsed.
        augmentation: the file's ``augmentation`` attribute, parsed (None without).
        has_copies: whether the split holds augmented copies (a ``copy`` dataset).
        extra_bytes: bytes of one row's label and path (cached with its image).
    """

    path: str
    split: str | None
    ordinal: int
    prefix: str
    rows: int
    shape: tuple[int, ...]
    dtype: str
    chunk_rows: int
    has_labels: bool
    has_paths: bool
    pipeline: dict[str, Any]
    augmentation: dict[str, Any] | None
    has_copies: bool
    extra_bytes: int = 0

    @property
    def row_bytes(self) -> int:
        """Bytes of one stored image row."""
        return int(np.prod(self.shape, dtype=np.int64)) * np.dtype(self.dtype).itemsize

    @property
    def normalized(self) -> bool:
        """Whether the stored rows went through float steps (rescale, centring,
        standardization, ZCA): then they are not the decoded pixels augmentation needs."""
        return bool(self.pipeline.get("steps")) and np.dtype(self.dtype).kind == "f"

    def name(self, dataset: str) -> str:
        """The full name of one of the split's datasets (``train/images``)."""
        return f"{self.prefix}{dataset}"


def open_checked(path: str) -> Any:
    """The open h5py file ``path`` (read-only), refused in one line when it is missing, not a
    regular file, not HDF5, or HDF5 without imgprep's ``format`` attribute."""
    from imgprep.io.formats.base import FORMAT_NAME
    from imgprep.io.formats.hdf5_reader import open_hdf5

    try:
        handle = open_hdf5(path)
    except InputError:
        raise
    except ImgprepError as exc:
        raise InputError(f"{path}: not an imgprep HDF5 file (it cannot be opened as HDF5)") from exc
    fmt = handle.attrs.get("format")
    if isinstance(fmt, bytes):
        fmt = fmt.decode("utf-8", "replace")
    if fmt != FORMAT_NAME:
        handle.close()
        raise InputError(
            f"{path}: not an imgprep HDF5 file (no 'format' attribute {FORMAT_NAME!r}); "
            "write one with imgprep transform"
        )
    return handle


def describe(path: str, split: str | None, *, cache_bytes: int) -> SplitSource:
    """Open ``path``, check it and the split, and describe the split (the file is closed
    again: each reading process opens its own handle).

    Raises:
        InputError: a missing or non-imgprep file, a split that does not exist (naming those
            that do), a split that is needed but not named.
        ImgprepError: an images dataset imgprep must not read (``hdf5_reader``'s rules).
    """
    from imgprep.io.formats.hdf5_reader import check_dataset, find_dataset, read_json_attribute

    with open_checked(path) as handle:
        splits = read_json_attribute(handle, path, "splits") or []
        if not isinstance(splits, list) or not all(isinstance(s, str) for s in splits):
            raise InputError(f"{path}: attribute 'splits' is not a list of names")
        prefix, ordinal = _split_prefix(handle, path, split, splits)
        images = find_dataset(handle, path, f"{prefix}images", allow_external=False)
        check_dataset(path, f"{prefix}images", images, allow_external=False)
        has_labels = f"{prefix}labels" in handle
        if has_labels:
            labels = find_dataset(handle, path, f"{prefix}labels", allow_external=False)
            check_dataset(path, f"{prefix}labels", labels, allow_external=False)
            if labels.shape != (images.shape[0],):
                raise InputError(
                    f"{path}: dataset '{prefix}labels' has {labels.shape} values for "
                    f"{images.shape[0]} images"
                )
        has_paths = f"{prefix}paths" in handle
        extra = labels.dtype.itemsize if has_labels else 0
        if has_paths:
            extra += find_dataset(
                handle, path, f"{prefix}paths", allow_external=False
            ).dtype.itemsize
        pipeline = read_json_attribute(handle, path, "pipeline")
        augmentation = read_json_attribute(handle, path, "augmentation")
        row_shape = tuple(int(v) for v in images.shape[1:])
        dtype = images.dtype.name
        row_bytes = int(np.prod(row_shape, dtype=np.int64)) * images.dtype.itemsize
        chunk_rows = _block_rows(images.chunks, int(images.shape[0]), row_bytes, cache_bytes)
        return SplitSource(
            path=path,
            split=split,
            ordinal=ordinal,
            prefix=prefix,
            rows=int(images.shape[0]),
            shape=row_shape,
            dtype=dtype,
            chunk_rows=chunk_rows,
            has_labels=has_labels,
            has_paths=has_paths,
            pipeline=pipeline if isinstance(pipeline, dict) else {},
            augmentation=augmentation if isinstance(augmentation, dict) else None,
            has_copies=f"{prefix}copy" in handle,
            extra_bytes=extra,
        )


def _split_prefix(handle: Any, path: str, split: str | None, splits: list[str]) -> tuple[str, int]:
    """The dataset prefix and ordinal of ``split`` in the file (see ``SplitSource``)."""
    if split is None:
        if splits and "images" not in handle:
            raise InputError(f"{path}: holds the splits {', '.join(splits)}; name one (split=...)")
        return "", 0
    if split not in splits:
        where = f"it has: {', '.join(splits)}" if splits else "its datasets are at the root"
        raise InputError(f"{path}: no split {split!r}; {where}")
    return f"{split}/", splits.index(split)


def _block_rows(chunks: tuple[int, ...] | None, rows: int, row_bytes: int, cache: int) -> int:
    """Rows per cached block: one chunk's rows, whose reading decompresses the chunk once,
    or the largest divisor of them that fits the cache (a chunk larger than the cache is
    then read once per block: correct, slower); ``DEFAULT_BLOCK_BYTES`` of rows when the
    dataset is contiguous or virtual (the Dask engine's joined file)."""
    if chunks is None:
        return max(1, min(rows, DEFAULT_BLOCK_BYTES // max(1, row_bytes)))
    per_chunk = int(chunks[0])
    if per_chunk * row_bytes <= cache or cache <= 0:
        return per_chunk
    fitting = max(1, cache // max(1, row_bytes))
    return max(d for d in range(1, min(per_chunk, fitting) + 1) if per_chunk % d == 0)


def stored_settings(source: SplitSource) -> tuple[Any, int | None]:
    """The ``AugmentSettings`` stored in the file's ``augmentation`` attribute (its run keys,
    ``copies``, ``seed``..., set aside by ``imgprep.augment.recorded.settings_from``) and
    the stored seed."""
    from imgprep.augment.recorded import settings_from

    if source.augmentation is None:
        raise InputError(
            f"{source.path}: has no 'augmentation' attribute; pass the augmentation settings "
            "instead of 'stored'"
        )
    seed = source.augmentation.get("seed")
    return settings_from(source.augmentation), int(seed) if isinstance(seed, int) else None
