"""``H5Images``: a map-style dataset over one split of an imgprep HDF5 output.

The object is a description (file, split, settings, seed, epoch) that pickles cheaply; each
process that reads opens its own handle (``BlockReader``), so it is safe in forked and
spawned DataLoader workers. What item ``i`` is depends only on (seed, epoch, rank, i): the
epoch's order (``EpochOrder``) and the augmentation key (``augmenting``), so any number of
workers, any batch size and any rank split see the same images.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from imgprep.data.augmenting import Augment, KeyedParams, augmented, resolve_settings
from imgprep.data.blocks import BlockReader
from imgprep.data.order import EpochOrder
from imgprep.data.source import SplitSource, describe
from imgprep.errors import InputError

DEFAULT_CACHE_BYTES = 64 << 20


class RowIndexError(InputError, IndexError):
    """An index outside the dataset: an ``InputError`` that is also an ``IndexError``, so
    ``for item in ds`` and ``list(ds)`` stop at the end as for any sequence."""


class EpochIndex(int):
    """An item index that carries its epoch: a persistent DataLoader worker keeps its copy
    of the dataset from one epoch to the next, so the epoch travels with the indices its
    sampler sends (``imgprep.data.torch_adapter.EpochSampler``); ``H5Images`` moves to it
    on reading one."""

    epoch: int

    def __new__(cls, value: int, epoch: int) -> EpochIndex:
        index = super().__new__(cls, value)
        index.epoch = epoch
        return index

    def __reduce__(self) -> tuple[Any, tuple[int, int]]:
        return EpochIndex, (int(self), self.epoch)


class RowBatch(Sequence[tuple[Any, ...]]):
    """Several items of an ``H5Images`` as stacked arrays: ``images`` (N x row shape, or
    N x H x W x C after ``normalize``), ``labels`` (N, None without) and ``paths`` (a list of
    str or None each, None unless ``with_paths``). As a sequence, element ``k`` is the item
    tuple ``ds[indices[k]]`` gives, so code written for a list of items (``default_collate``)
    takes it unchanged."""

    def __init__(
        self, images: np.ndarray, labels: np.ndarray | None, paths: list[Any] | None
    ) -> None:
        self.images, self.labels, self.paths = images, labels, paths

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, k: Any) -> Any:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        item: tuple[Any, ...] = (self.images[k],)
        if self.labels is not None:
            item += (np.asarray(self.labels[k]),)
        if self.paths is not None:
            item += (self.paths[k],)
        return item


class H5Images:
    """Rows of one split of an imgprep HDF5 file: ``ds[i]`` is ``(image, label)``.

    Args:
        path: an HDF5 file written by ``imgprep transform`` (one file, or the Dask engine's
            main file joining its shards by virtual datasets).
        split: the split's group (``"train"``); None for a file whose datasets are at the
            root.
        augment: None; ``"stored"`` (the file's ``augmentation`` attribute, and its seed
            when ``seed`` is None); an ``AugmentSettings``; or a table of its options
            (``{"rotation_range": 10, "horizontal_flip": True}``, TOML keys accepted). Row
            ``i`` of epoch ``e`` is then what ``transform --copies K --seed S`` writes as
            copy ``e + 1`` of image ``i`` (see ``imgprep.data.augmenting``). A file holding
            augmented copies is augmented from its originals only (copy 0, written with
            ``keep_original``): those rows are the dataset, keyed by their source index.
        seed: keys shuffling and augmentation. None: the stored seed for
            ``augment="stored"``, else one drawn from the OS when the dataset is made and
            kept in ``ds.seed`` (so workers, which receive the object, share it).
        shuffle: a full permutation of the rows per epoch, keyed by (seed, epoch).
        epoch: the epoch ``ds[i]`` reads (``set_epoch`` changes it).
        with_paths: ``ds[i]`` is ``(image, label, path)`` (path as ``str``; label left
            out when the file has none).
        block_shuffle: shuffle blocks of that many consecutive rows, then rows within
            ``shuffle_buffer`` rows (``imgprep.data.order``): fewer, larger reads.
        shuffle_buffer: rows shuffled together under ``block_shuffle`` (rounded up to
            whole blocks). Default: as many whole blocks as ``cache_bytes`` holds (at least
            one), so that with ``block_shuffle`` a multiple of the file's chunk rows
            (``ds.source.chunk_rows``) each chunk is read once per epoch.
        rank, world_size: this process's part of each epoch (disjoint, equal, the
            remainder dropped; ``imgprep.data.order``).
        cache_bytes: the most bytes of decoded blocks each process keeps.
        normalize: a ``Pipeline`` whose steps (rescale onwards; no resize) are applied to
            each row after augmentation, e.g. ``imgprep.pipeline_from_hdf5`` of a file
            written with the normalization you train with.

    Raises:
        InputError: a missing or non-imgprep file, a missing split (the message names the
            splits there are), settings that cannot apply, bad shuffling or rank options.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        split: str | None = None,
        *,
        augment: Augment = None,
        seed: int | None = None,
        shuffle: bool = False,
        epoch: int = 0,
        with_paths: bool = False,
        block_shuffle: int | None = None,
        shuffle_buffer: int | None = None,
        rank: int = 0,
        world_size: int = 1,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        normalize: Any = None,
    ) -> None:
        if cache_bytes < 0:
            raise InputError(f"cache_bytes must be at least 0, got {cache_bytes}")
        self.path = os.fspath(path)
        self.source: SplitSource = describe(self.path, split, cache_bytes=cache_bytes)
        self.augment, stored_seed = resolve_settings(augment, self.source)
        if seed is None:
            seed = stored_seed
        self.seed = int(seed) if seed is not None else _fresh_seed()
        self.with_paths = with_paths
        self.normalize = normalize
        self._positions, self._keys = _rows_of(self.source, self.augment is not None)
        count = len(self._positions) if self._positions is not None else self.source.rows
        if block_shuffle is not None and shuffle_buffer is None and block_shuffle >= 1:
            fitting = cache_bytes // (self.source.row_bytes + self.source.extra_bytes)
            shuffle_buffer = max(block_shuffle, fitting // block_shuffle * block_shuffle)
        self.order = EpochOrder(
            count,
            self.seed,
            shuffle=shuffle,
            block_shuffle=block_shuffle,
            shuffle_buffer=shuffle_buffer,
            rank=rank,
            world_size=world_size,
        )
        split_bytes = (self.source.row_bytes + self.source.extra_bytes) * self.source.rows
        self._reader = BlockReader(
            self.source, cache_bytes, scattered=shuffle and split_bytes > cache_bytes
        )
        self._keep_dtype = _keeps_dtype(self.source.dtype, normalize)
        self._params = None
        if self.augment is not None:
            self._params = KeyedParams(
                self.augment, seed=self.seed, split=self.source.ordinal, shape=self.source.shape
            )
        self.epoch = 0
        self._part: np.ndarray | None = None
        self._part_keys: np.ndarray | None = None
        self.set_epoch(epoch)

    def set_epoch(self, epoch: int) -> None:
        """Read epoch ``epoch`` from now on: its order and its augmentation (copy
        ``epoch + 1``). Call it in every process that reads (the adapters do)."""
        if epoch < 0:
            raise InputError(f"epoch must be at least 0, got {epoch}")
        self.epoch = int(epoch)
        self._part, self._part_keys = None, None

    def __len__(self) -> int:
        return self.order.part_rows

    def __getitem__(self, index: int) -> tuple[Any, ...]:
        self._follow(index)
        count = len(self)
        if not isinstance(index, int | np.integer):
            raise InputError(f"{self.path}: an index must be an integer, not {index!r}")
        if not -count <= index < count:
            raise RowIndexError(
                f"{self.path}: index {index} is out of range for {count} rows"
                + (f" of split {self.source.split!r}" if self.source.split else "")
            )
        position = int(self._epoch_part()[index])
        row = int(self._positions[position]) if self._positions is not None else position
        image, label, path = self._reader.row(row)
        if self._params is not None:
            params = self._params.get(index % count, self._epoch_keys(), self.epoch)
            image = augmented(image, params, self.augment, keep_dtype=self._keep_dtype)
        if self.normalize is not None:
            image = self.normalize.apply_array(image if image.ndim == 3 else image[..., None])
        item: tuple[Any, ...] = (image,)
        if label is not None:
            item += (np.asarray(label),)
        if self.with_paths:
            item += (path.decode("utf-8") if path is not None else None,)
        return item

    def __getitems__(self, indices: Sequence[int]) -> RowBatch:
        """Items ``indices`` at once (``torch.utils.data`` calls this for a batch): see
        ``batch``."""
        return self.batch(indices)

    def batch(self, indices: Sequence[int] | np.ndarray) -> RowBatch:
        """Items ``indices`` as one ``RowBatch``: stacked arrays equal to ``ds[i]`` item by
        item, read one block at a time and normalized as one array, so that a DataLoader
        worker spends its time on pixels rather than on a Python step per row."""
        if len(indices):
            self._follow(indices[0])
        wanted = np.asarray(indices)
        count = len(self)
        if wanted.ndim != 1 or len(wanted) == 0 or wanted.dtype.kind not in "iu":
            raise InputError(f"{self.path}: a batch needs a non-empty list of integer indices")
        outside = (wanted < -count) | (wanted >= count)
        if outside.any():
            raise RowIndexError(
                f"{self.path}: index {int(wanted[outside][0])} is out of range for {count} rows"
                + (f" of split {self.source.split!r}" if self.source.split else "")
            )
        wanted = wanted.astype(np.int64) % count
        positions = self._epoch_part()[wanted]
        rows = self._positions[positions] if self._positions is not None else positions
        images, labels, paths = self._reader.rows(rows)
        if self._params is not None:
            keys = self._epoch_keys()
            images = np.stack(
                [
                    augmented(
                        image,
                        self._params.get(int(k), keys, self.epoch),
                        self.augment,
                        keep_dtype=self._keep_dtype,
                    )
                    for image, k in zip(images, wanted, strict=True)
                ]
            )
        if self.normalize is not None:
            images = self.normalize.apply_block(images if images.ndim == 4 else images[..., None])
        names = None
        if self.with_paths:  # as __getitem__: str, or None when the file has no paths
            stored = paths if paths is not None else [None] * len(wanted)
            names = [p.decode("utf-8") if p is not None else None for p in stored]
        return RowBatch(images, labels, names)

    def _follow(self, index: Any) -> None:
        """Move to the epoch an ``EpochIndex`` carries."""
        if isinstance(index, EpochIndex) and index.epoch != self.epoch:
            self.set_epoch(index.epoch)

    def rows_of_epoch(self) -> np.ndarray:
        """The stored row each item of this epoch reads (this rank's part, in order)."""
        part = self._epoch_part()
        return self._positions[part] if self._positions is not None else part.copy()

    def _epoch_keys(self) -> np.ndarray:
        """The augmentation key of each item of this epoch's part: its row's index in the
        split (its ``source_index`` when the dataset is a split's originals)."""
        if self._part_keys is None:
            part = self._epoch_part()
            self._part_keys = self._keys[part] if self._keys is not None else part
        return self._part_keys

    def _epoch_part(self) -> np.ndarray:
        if self._part is None:
            self._part = self.order.part(self.epoch)
        return self._part

    @property
    def cache(self) -> Any:
        """This process's block cache (``nbytes``, ``peak``, ``limit``)."""
        return self._reader.cache

    @property
    def is_open(self) -> bool:
        """Whether this process holds an open handle on the file."""
        return self._reader.is_open

    def close(self) -> None:
        """Close this process's handle; reading afterwards is refused."""
        self._reader.close()

    def __del__(self) -> None:
        reader = getattr(self, "_reader", None)
        if reader is not None and reader.is_open:
            reader.close()

    def __repr__(self) -> str:
        split = f", split={self.source.split!r}" if self.source.split else ""
        return f"H5Images({self.path!r}{split}, rows={len(self)}, epoch={self.epoch})"


def _fresh_seed() -> int:
    """A seed from the OS, for datasets made without one."""
    return int(np.random.SeedSequence().entropy) & ((1 << 63) - 1)


def _keeps_dtype(dtype: str, normalize: Any) -> bool:
    """``transform``'s ``keep_dtype``: integer rows stay integer unless a float pipeline
    follows the augmentation."""
    if np.dtype(dtype).kind not in "ui":
        return False
    if normalize is None:
        return True
    return np.dtype(normalize.output_dtype(np.dtype(dtype))).kind in "ui"


def _rows_of(source: SplitSource, augmenting: bool) -> tuple[np.ndarray | None, Any]:
    """The stored rows the dataset is made of and their augmentation keys: every row, keyed
    by its index (None, None), or, to augment a split of augmented copies, its originals
    (copy 0) keyed by their ``source_index``."""
    if not (augmenting and source.has_copies):
        return None, None
    from imgprep.data.source import open_checked

    with open_checked(source.path) as handle:
        copies = np.asarray(handle[source.name("copy")][:])
        indices = np.asarray(handle[source.name("source_index")][:])
    originals = np.flatnonzero(copies == 0)
    if len(originals) == 0:
        raise InputError(
            f"{source.path}: its rows are augmented copies only; augmenting them again would "
            "not give transform's copies: write the originals too (keep_original) or a file "
            "without augmentation"
        )
    return originals, indices[originals]
