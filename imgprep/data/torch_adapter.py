"""``torch_loader``: a ``torch.utils.data.DataLoader`` over ``H5Images``.

PyTorch is imported here only (extra ``imgprep[torch]``). The dataset does the ordering
(its own keyed shuffle and rank part), so the loader's sampler is sequential and a batch is
the same items whatever ``num_workers``: worker ``w`` gets whole batches, and each item is a
function of (seed, epoch, index) alone. Each ``iter(loader)`` is one epoch: the loader sets
the dataset's epoch before its workers start (workers are not persistent, so every epoch's
workers receive the dataset at that epoch), then advances it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from imgprep.data.h5images import H5Images, RowBatch
from imgprep.errors import InputError


def import_extra(module: str, extra: str, caller: str) -> Any:
    """``import module``, or one line naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(
            f"{caller} needs {module}, which is not installed: pip install 'imgprep[{extra}]'"
        ) from exc


def worker_init(worker_id: int) -> None:
    """In each DataLoader worker: OpenCV single-threaded (the augmentation's warp), so that
    ``num_workers`` processes do not each start a thread per core. The dataset needs nothing:
    it opens the file itself in the worker, on the first read."""
    import cv2

    cv2.setNumThreads(1)


def collate(items: RowBatch | list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """A batch of ``H5Images`` items as NumPy arrays, in the worker: images N x C x H x W
    float32 (the stored values, or ``normalize``'s), labels int64; paths (with
    ``with_paths``) a list of str. ``items`` is the ``RowBatch`` the DataLoader's fetch gets
    from ``H5Images.__getitems__`` (already stacked), or a list of items.

    Arrays, not tensors, cross from the worker: a tensor is moved to its own shared-memory
    segment whose descriptor is passed over a socket, which cost more than copying the bytes
    through the pipe (``bench/loader_bench.py``: batches of 64 digits, 2 workers, zeros
    from a trivial Dataset: about 2x the batches per second as arrays); ``as_tensors`` wraps
    them in the main process without a copy."""
    if not isinstance(items, RowBatch):
        items = _stacked(items)
    images = items.images
    if images.ndim == 3:  # (N, H, W) rows: one channel
        images = images[..., np.newaxis]
    batch: list[Any] = [np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32)]
    if items.labels is not None:
        batch.append(np.asarray(items.labels, dtype=np.int64))
    if items.paths is not None:
        batch.append(list(items.paths))
    return tuple(batch)


def as_tensors(batch: tuple[Any, ...], pin_memory: bool) -> tuple[Any, ...]:
    """``collate``'s arrays as tensors (sharing their memory), pinned when asked."""
    import torch

    out = []
    for column in batch:
        if isinstance(column, np.ndarray):
            if not column.flags.writeable:  # unpickled from a worker's read-only buffer
                column = column.copy()
            column = torch.from_numpy(column)
            if pin_memory:
                column = column.pin_memory()
        out.append(column)
    return tuple(out)


def _accelerated(torch: Any) -> bool:
    """Whether there is an accelerator to pin for; warns as ``DataLoader`` does when
    ``pin_memory`` is asked for without one (and then does not pin)."""
    accelerator = getattr(torch, "accelerator", None)  # torch 2.6 and newer
    if accelerator.is_available() if accelerator is not None else torch.cuda.is_available():
        return True
    import warnings

    warnings.warn(
        "'pin_memory' argument is set as true but no accelerator is found, "
        "then device pinned memory won't be used.",
        stacklevel=3,
    )
    return False


def _stacked(items: list[tuple[Any, ...]]) -> RowBatch:
    """A list of item tuples as a ``RowBatch``: (image, [label], [path]); a path is a str
    or None, a label anything else."""
    columns = list(zip(*items, strict=True))
    labels = paths = None
    for column in columns[1:]:
        if isinstance(column[0], str) or column[0] is None:
            paths = list(column)
        else:
            labels = np.asarray(column)
    return RowBatch(np.stack(columns[0]), labels, paths, paths is not None)


def torch_loader(
    path: str | os.PathLike[str],
    batch_size: int,
    num_workers: int = 0,
    split: str | None = None,
    *,
    pin_memory: bool = False,
    drop_last: bool = False,
    multiprocessing_context: Any = None,
    **dataset: Any,
) -> Any:
    """A DataLoader of ``(images, labels)`` batches from one split of an imgprep HDF5 file.

    Args:
        path, split: the file and split (``H5Images``).
        batch_size, num_workers, drop_last, multiprocessing_context: passed to
            ``torch.utils.data.DataLoader`` (``"fork"``, ``"spawn"`` or None for the default).
        pin_memory: pin each batch's tensors, as ``DataLoader(pin_memory=True)`` does (and,
            like it, warn and not pin without an accelerator); done in the main process
            when the workers' arrays become tensors, so the loader's own ``pin_memory``
            attribute is False.
        **dataset: ``H5Images``' options (``augment``, ``seed``, ``shuffle``,
            ``block_shuffle``, ``rank``, ``world_size``, ``epoch``, ``normalize``, ...).

    Workers fetch whole batches (``H5Images.__getitems__``) and send NumPy arrays, which
    the main process wraps as tensors (``collate``, ``as_tensors``). The loader's
    ``dataset`` is the ``H5Images``; ``loader.set_epoch(e)`` chooses the next
    epoch (as ``DistributedSampler.set_epoch``), otherwise each ``iter`` advances by one.

    Raises:
        InputError: PyTorch is missing (naming the extra), or ``H5Images``' refusals.
    """
    torch = import_extra("torch", "torch", "torch_loader")
    data = H5Images(path, split, **dataset)
    pinning = pin_memory and _accelerated(torch)

    class EpochLoader(torch.utils.data.DataLoader):  # type: ignore[misc, name-defined]
        """A DataLoader that sets its dataset's epoch when an epoch starts."""

        def set_epoch(self, epoch: int) -> None:
            self.dataset.set_epoch(epoch)
            self._next_epoch = epoch

        def __iter__(self) -> Any:
            epoch = getattr(self, "_next_epoch", self.dataset.epoch)
            self.dataset.set_epoch(epoch)
            self._next_epoch = epoch + 1
            return (as_tensors(batch, pinning) for batch in super().__iter__())

    return EpochLoader(
        data,
        batch_size=batch_size,
        shuffle=False,  # the dataset orders each epoch itself, keyed
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=False,  # as_tensors pins in the main process: arrays cross from workers
        drop_last=drop_last,
        worker_init_fn=worker_init if num_workers > 0 else None,
        multiprocessing_context=multiprocessing_context if num_workers > 0 else None,
        persistent_workers=False,  # each epoch's workers must receive the new epoch
    )
