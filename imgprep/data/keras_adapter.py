"""``keras_dataset``: a Keras 3 ``keras.utils.PyDataset`` over ``H5Images`` (any backend).

Keras is imported here only (extra ``imgprep[keras]``). Batch ``b`` is items
``b * batch_size`` to ``(b + 1) * batch_size`` of the dataset's epoch order, channels last
as Keras expects; ``on_epoch_end`` (called by ``model.fit`` after each epoch) advances the
epoch (not after fit's first look at batch 0: ``H5Batches.on_epoch_end``), so each epoch
is shuffled and augmented afresh, as ``ImageDataGenerator`` does, but
reproducibly: the batches are a function of (seed, epoch) whatever Keras' ``workers``.
"""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from imgprep.data.h5images import H5Images
from imgprep.data.torch_adapter import import_extra


def keras_dataset(
    path: str | os.PathLike[str],
    batch_size: int,
    split: str | None = None,
    *,
    workers: int = 1,
    use_multiprocessing: bool = False,
    max_queue_size: int = 10,
    **dataset: Any,
) -> Any:
    """A ``keras.utils.PyDataset`` of ``(images, labels)`` batches (float32 N x H x W x C,
    int64 labels; images alone when the file has no labels) from one split of an imgprep
    HDF5 file.

    Args:
        path, split: the file and split (``H5Images``).
        batch_size: items per batch; the last batch of an epoch may be smaller.
        workers, use_multiprocessing, max_queue_size: passed to ``PyDataset``.
        **dataset: ``H5Images``' options (``augment``, ``seed``, ``shuffle``, ``epoch``,
            ``normalize``, ...).

    Raises:
        InputError: Keras is missing (naming the extra), or ``H5Images``' refusals.
    """
    keras = import_extra("keras", "keras", "keras_dataset")
    data = H5Images(path, split, **dataset)

    class H5Batches(keras.utils.PyDataset):  # type: ignore[misc, name-defined]
        """Batches of an ``H5Images``; ``on_epoch_end`` moves to the next epoch."""

        def __init__(self) -> None:
            super().__init__(
                workers=workers, use_multiprocessing=use_multiprocessing,
                max_queue_size=max_queue_size,
            )  # fmt: skip
            self.dataset = data
            self.batch_size = batch_size
            self._read: set[int] = set()  # batches read in this process before the first end
            self._ends = 0

        def __len__(self) -> int:
            return math.ceil(len(self.dataset) / self.batch_size)

        def __getitem__(self, index: int) -> Any:
            if not self._ends:
                self._read.add(index)
            start = index * self.batch_size
            stop = min(start + self.batch_size, len(self.dataset))
            batch = self.dataset.batch(np.arange(start, stop))
            images = batch.images.astype(np.float32, copy=False)
            if images.ndim == 3:
                images = images[..., np.newaxis]
            if batch.labels is not None:
                return images, batch.labels.astype(np.int64, copy=False)
            return images

        def on_epoch_end(self) -> None:
            """Advance the epoch, except at Keras' first look: ``model.fit`` reads one batch
            to build its step and ends that pass as an epoch before the first real one
            (BEGIN, batch 0, END, then BEGIN ... END per epoch: measured with Keras 3.15 on
            JAX), so the first end, when this process has not read every batch, does not
            advance and fit's epoch ``k`` is the dataset's epoch ``epoch + k``."""
            first, self._ends = self._ends == 0, self._ends + 1
            if first and len(self._read) < len(self):
                return
            self.dataset.set_epoch(self.dataset.epoch + 1)

    return H5Batches()
