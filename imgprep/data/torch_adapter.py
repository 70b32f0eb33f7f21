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

from imgprep.data.h5images import H5Images
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


def collate(items: list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """A batch of ``H5Images`` items as tensors: images N x C x H x W float32 (the stored
    values, or ``normalize``'s), labels int64; paths (with ``with_paths``) a list of str."""
    import torch

    columns = list(zip(*items, strict=True))
    images = np.stack(columns[0])
    if images.ndim == 3:  # (N, H, W) rows: one channel
        images = images[..., np.newaxis]
    batch: list[Any] = [
        torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2), dtype=np.float32))
    ]
    for column in columns[1:]:
        if isinstance(column[0], str) or column[0] is None:
            batch.append(list(column))
        else:
            batch.append(torch.from_numpy(np.asarray(column, dtype=np.int64)))
    return tuple(batch)


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
        batch_size, num_workers, pin_memory, drop_last, multiprocessing_context: passed to
            ``torch.utils.data.DataLoader`` (``"fork"``, ``"spawn"`` or None for the default).
        **dataset: ``H5Images``' options (``augment``, ``seed``, ``shuffle``,
            ``block_shuffle``, ``rank``, ``world_size``, ``epoch``, ``normalize``, ...).

    The loader's ``dataset`` is the ``H5Images``; ``loader.set_epoch(e)`` chooses the next
    epoch (as ``DistributedSampler.set_epoch``), otherwise each ``iter`` advances by one.

    Raises:
        InputError: PyTorch is missing (naming the extra), or ``H5Images``' refusals.
    """
    torch = import_extra("torch", "torch", "torch_loader")
    data = H5Images(path, split, **dataset)

    class EpochLoader(torch.utils.data.DataLoader):  # type: ignore[misc, name-defined]
        """A DataLoader that sets its dataset's epoch when an epoch starts."""

        def set_epoch(self, epoch: int) -> None:
            self.dataset.set_epoch(epoch)
            self._next_epoch = epoch

        def __iter__(self) -> Any:
            epoch = getattr(self, "_next_epoch", self.dataset.epoch)
            self.dataset.set_epoch(epoch)
            self._next_epoch = epoch + 1
            return super().__iter__()

    return EpochLoader(
        data,
        batch_size=batch_size,
        shuffle=False,  # the dataset orders each epoch itself, keyed
        num_workers=num_workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        drop_last=drop_last,
        worker_init_fn=worker_init if num_workers > 0 else None,
        multiprocessing_context=multiprocessing_context if num_workers > 0 else None,
        persistent_workers=False,  # each epoch's workers must receive the new epoch
    )
