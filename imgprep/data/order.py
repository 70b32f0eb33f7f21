"""Which rows an epoch visits, in which order, on which rank: a pure function of the key.

The order of epoch ``e`` is computed by every process from (seed, epoch) alone, never from a
shared stream, so every DataLoader worker and every rank sees the same permutation and takes
its own part of it:

- ``shuffle``: a full permutation of the rows, ``Generator(Philox(key=[seed, epoch]))``'s
  ``permutation`` (NumPy keeps Generator streams stable except for bug fixes).
- ``block_shuffle=K``: the rows cut into blocks of K consecutive rows, the blocks permuted,
  then the rows permuted inside each window of ``buffer`` consecutive rows of that sequence
  (whole blocks; default 8 blocks). A reader then touches ``buffer`` rows' worth of blocks
  at a time instead of the whole file: the fast choice for files larger than the page
  cache, with K a multiple of the file's chunk rows. The price: rows of one block stay
  within one window of each other, so an epoch is less mixed than a full permutation.
- ``rank``/``world_size``: the epoch's order cut into ``world_size`` contiguous, disjoint
  parts of ``rows // world_size`` rows each; the last ``rows % world_size`` rows of the
  order are dropped (as ``DistributedSampler(drop_last=True)``), so that no row is seen
  twice in an epoch and every rank runs the same number of steps. With shuffling a
  different set is dropped each epoch; without, always the last rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from imgprep.errors import InputError

MASK64 = (1 << 64) - 1
DEFAULT_BUFFER_BLOCKS = 8


@dataclass(frozen=True)
class EpochOrder:
    """How a dataset orders and splits its rows each epoch (validated when built)."""

    rows: int
    seed: int
    shuffle: bool = False
    block_shuffle: int | None = None
    shuffle_buffer: int | None = None
    rank: int = 0
    world_size: int = 1

    def __post_init__(self) -> None:
        if self.world_size < 1:
            raise InputError(f"world_size must be at least 1, got {self.world_size}")
        if not 0 <= self.rank < self.world_size:
            raise InputError(f"rank must be in [0, {self.world_size}), got {self.rank}")
        if self.rows < self.world_size:
            raise InputError(
                f"{self.rows} rows cannot be split into {self.world_size} non-empty parts"
            )
        if self.block_shuffle is not None:
            if self.shuffle:
                raise InputError("shuffle and block_shuffle exclude each other; choose one")
            if self.block_shuffle < 1:
                raise InputError(f"block_shuffle must be at least 1, got {self.block_shuffle}")
        if self.shuffle_buffer is not None:
            if self.block_shuffle is None:
                raise InputError("shuffle_buffer needs block_shuffle")
            if self.shuffle_buffer < 1:
                raise InputError(f"shuffle_buffer must be at least 1, got {self.shuffle_buffer}")

    @property
    def part_rows(self) -> int:
        """Rows of this rank's part (every rank's: the parts are equal)."""
        return self.rows // self.world_size

    def full(self, epoch: int) -> np.ndarray:
        """Every row once, in epoch ``epoch``'s order (int64), before the rank split."""
        if self.shuffle:
            return generator(self.seed, epoch).permutation(self.rows)
        if self.block_shuffle is not None:
            return block_order(
                self.rows, self.block_shuffle, self.shuffle_buffer, generator(self.seed, epoch)
            )
        return np.arange(self.rows, dtype=np.int64)

    def part(self, epoch: int) -> np.ndarray:
        """This rank's rows of epoch ``epoch``, in order."""
        count = self.part_rows
        return self.full(epoch)[self.rank * count : (self.rank + 1) * count]


def generator(seed: int, epoch: int) -> np.random.Generator:
    """The epoch's own generator: Philox keyed by the 128 bits (seed, epoch)."""
    key = np.array([seed & MASK64, epoch & MASK64], dtype=np.uint64)
    return np.random.Generator(np.random.Philox(key=key))


def block_order(rows: int, block: int, buffer: int | None, rng: np.random.Generator) -> np.ndarray:
    """Blocks of ``block`` rows permuted, then rows permuted within windows of ``buffer``
    rows (rounded up to whole blocks; default ``DEFAULT_BUFFER_BLOCKS`` blocks)."""
    blocks = -(-rows // block)
    per_window = DEFAULT_BUFFER_BLOCKS if buffer is None else max(1, -(-buffer // block))
    starts = rng.permutation(blocks) * block
    parts = []
    for first in range(0, blocks, per_window):  # a window: whole blocks (the last may be short)
        window = np.concatenate(
            [
                np.arange(s, min(s + block, rows), dtype=np.int64)
                for s in starts[first : first + per_window]
            ]
        )
        parts.append(window[rng.permutation(len(window))])
    return np.concatenate(parts)
