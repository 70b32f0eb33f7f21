"""``torch_loader``: a ``torch.utils.data.DataLoader`` over ``H5Images``.

PyTorch is imported here only (extra ``imgprep[torch]``). The dataset does the ordering
(its own keyed shuffle and rank part), so the loader's sampler is sequential and a batch is
the same items whatever ``num_workers``: worker ``w`` gets whole batches, and each item is a
function of (seed, epoch, index) alone. Each ``iter(loader)`` is one epoch: the loader sets
the dataset's epoch when the pass starts, then advances it. Workers are persistent (started
once, their file handle and cache kept): the epoch travels with the first index of each
batch (``EpochIndex``, from ``EpochSampler``), and a worker's dataset moves to it.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from imgprep.data.h5images import EpochIndex, H5Images, RowBatch
from imgprep.errors import InputError

TENSOR_BYTES = 512 << 10  # images per batch at least this large travel as a tensor


def import_extra(module: str, extra: str, caller: str) -> Any:
    """``import module``, or one line naming the extra that installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise InputError(
            f"{caller} needs {module}, which is not installed: pip install 'imgprep[{extra}]'"
        ) from exc


def collate(
    items: RowBatch | list[tuple[Any, ...]], out: np.ndarray | None = None
) -> tuple[Any, ...]:
    """A batch of ``H5Images`` items as NumPy arrays, in the worker: images N x C x H x W
    float32 (the stored values, or ``normalize``'s), labels int64; paths (with
    ``with_paths``) a list of str. ``items`` is the ``RowBatch`` the DataLoader's fetch gets
    from ``H5Images.__getitems__`` (already stacked), or a list of items; ``out``, when
    given, receives the images (N x C x H x W float32) and is returned as the first column.

    Framework-free; ``worker_collate`` decides what crosses from a worker."""
    if not isinstance(items, RowBatch):
        items = _stacked(items)
    images = channels_last(items.images).transpose(0, 3, 1, 2)
    if out is None:
        out = np.ascontiguousarray(images, dtype=np.float32)
    else:
        np.copyto(out, images, casting="unsafe")  # the cast ascontiguousarray makes
    return (out, *collate_tail(items))


def channels_last(images: np.ndarray) -> np.ndarray:
    """N x H x W x C images ((N, H, W) rows: one channel)."""
    return images[..., np.newaxis] if images.ndim == 3 else images


def worker_collate(items: RowBatch | list[tuple[Any, ...]]) -> tuple[Any, ...]:
    """``collate`` in a DataLoader worker, the images written into shared memory when large.

    What crosses to the main process is pickled: an array as its bytes, through the pipe
    (copied by the worker, the kernel and the main process), a tensor as a shared-memory
    segment passed by descriptor (no copy, a fixed cost per segment). Measured here, 2
    workers, 64 images per batch: at 0.2 MB per batch (digits) arrays gave 2-3x the
    batches per second, at 0.6 MB the two were even, at 1.2 MB tensors 1.5x, at 38 MB (224
    x 224 RGB float32) tensors 3-4x. So in a worker, images of ``TENSOR_BYTES`` or more are
    written straight into a shared-memory tensor (as ``default_collate`` stacks into one);
    labels (a few hundred bytes) always travel as an array. ``as_tensors`` finishes the
    conversion in the main process, without copying."""
    import torch

    if not isinstance(items, RowBatch):
        items = _stacked(items)
    n, h, w, c = channels_last(items.images).shape
    if n * c * h * w * 4 < TENSOR_BYTES or torch.utils.data.get_worker_info() is None:
        return collate(items)
    # default_collate's own way to stack into shared memory in a worker (torch 2.0 and on)
    storage = torch.empty(0)._typed_storage()._new_shared(n * c * h * w)
    shared = torch.empty(0).new(storage).resize_(n, c, h, w)
    return (shared, *collate(items, out=shared.numpy())[1:])


def collate_tail(items: RowBatch) -> list[Any]:
    """``collate``'s columns after the images."""
    tail: list[Any] = []
    if items.labels is not None:
        tail.append(np.asarray(items.labels, dtype=np.int64))
    if items.paths is not None:
        tail.append(list(items.paths))
    return tail


def as_tensors(batch: tuple[Any, ...], pin_memory: bool) -> tuple[Any, ...]:
    """``collate``'s arrays as tensors (sharing their memory), pinned when asked."""
    import torch

    out = []
    for column in batch:
        if isinstance(column, np.ndarray):  # unpickled arrays own writable memory
            column = torch.from_numpy(column)
        if pin_memory and isinstance(column, torch.Tensor):
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
    return RowBatch(np.stack(columns[0]), labels, paths)


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

    Workers fetch whole batches (``H5Images.__getitems__``) and send small batches as NumPy
    arrays, large ones as tensors (``worker_collate``); the main process wraps the arrays
    (``as_tensors``). The loader's
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
        sampler=EpochSampler(data, batch_size),  # in order: the dataset orders each epoch
        num_workers=num_workers,
        collate_fn=worker_collate,
        pin_memory=False,  # as_tensors pins in the main process: arrays cross from workers
        drop_last=drop_last,
        # No worker_init_fn: workers need none (the dataset opens its own handle), and
        # cv2.setNumThreads in a worker forked from a process whose OpenCV thread pool has
        # run hangs forever (tests/data/test_adapters.py), so OpenCV keeps its own setting.
        multiprocessing_context=multiprocessing_context if num_workers > 0 else None,
        persistent_workers=num_workers > 0,  # the epoch travels with the indices
    )


class EpochSampler:
    """Indices ``0 .. len - 1`` in order, the first of each batch an ``EpochIndex`` of the
    dataset's epoch when the pass starts, so persistent workers read the main process's
    epoch: a worker's dataset moves to it on the batch's first index (``__getitems__``, or
    the first ``__getitem__`` of the batch). Plain ints for the rest: an ``EpochIndex`` per
    index cost the main process a Python object and a pickling call per image."""

    def __init__(self, dataset: H5Images, batch_size: int) -> None:
        self.dataset = dataset
        self.batch_size = batch_size

    def __len__(self) -> int:
        return len(self.dataset)

    def __iter__(self) -> Any:
        epoch, size = self.dataset.epoch, self.batch_size
        for i in range(len(self.dataset)):
            yield EpochIndex(i, epoch) if i % size == 0 else i
