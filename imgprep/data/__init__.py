"""Loaders over imgprep's HDF5 output for training code.

``H5Images`` is the framework-free core: a map-style dataset over one split, read in
chunk-aligned blocks through a bounded per-process cache, opened lazily in each process
that reads (safe in forked and spawned DataLoader workers), shuffled, split across ranks and
augmented on the fly by keys, so the images depend only on (seed, epoch, index).
Modules: ``source`` (what the file holds, checked once), ``blocks`` (reading and the
cache), ``order`` (each epoch's order and rank part), ``augmenting`` (the keyed copies),
``h5images`` (the dataset); ``torch_adapter`` (``torch_loader``) and ``keras_adapter``
(``keras_dataset``), which import PyTorch and Keras only when called (extras ``imgprep[torch]``,
``imgprep[keras]``).
"""

from imgprep.data.h5images import DEFAULT_CACHE_BYTES, H5Images, RowBatch, RowIndexError
from imgprep.data.keras_adapter import keras_dataset
from imgprep.data.torch_adapter import torch_loader

__all__ = [
    "DEFAULT_CACHE_BYTES",
    "H5Images",
    "RowBatch",
    "RowIndexError",
    "keras_dataset",
    "torch_loader",
]
