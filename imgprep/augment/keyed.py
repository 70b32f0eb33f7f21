"""Keyed uniforms: the random numbers of copy ``k`` of image ``i`` are a function of the key.

A counter-based generator instead of a stream (as albumentations' per-transform generators):
the key (seed, split, image, copy) is hashed with SplitMix64's finalizer, and draw slot ``s``
of that key is ``mix(key ^ s)``. Nothing depends on workers, batch size or order, a batch of
copies is sampled with a few vectorized NumPy operations, and each operation reads its own
slots, so adding an operation never changes another's numbers.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np

MASK64 = (1 << 64) - 1


def mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64's output function (a bijection of uint64 with good avalanche)."""
    x = (x + np.uint64(0x9E3779B97F4A7C15)) & np.uint64(MASK64)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def copy_keys(seed: int, split: int, indices: np.ndarray, copies: np.ndarray) -> np.ndarray:
    """One uint64 key per (index, copy): mix(mix(mix(mix(seed) ^ split) ^ index) ^ copy)."""
    with np.errstate(over="ignore"):
        base = np.full(len(indices), np.uint64(seed & MASK64), dtype=np.uint64)
        h = mix(base)
        h = mix(h ^ np.uint64(split & MASK64))
        h = mix(h ^ np.asarray(indices, dtype=np.uint64))
        return mix(h ^ np.asarray(copies, dtype=np.uint64))


def slot_uniforms(keys: np.ndarray, slots: Sequence[int] | np.ndarray) -> np.ndarray:
    """(len(keys), len(slots)) uniforms in [0, 1): mix(key ^ slot), its top 53 bits."""
    with np.errstate(over="ignore"):
        numbers = np.asarray(slots, dtype=np.uint64)
        draws = mix(keys[:, None] ^ numbers[None, :])
    return (draws >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


def uniform_draws(
    seed: int, split: int, indices: np.ndarray, copies: np.ndarray, count: int
) -> np.ndarray:
    """``count`` uniforms in [0, 1) per (index, copy): slots 1 to ``count`` of each key.

    Key mixing: h = mix(mix(mix(mix(seed) ^ split) ^ index) ^ copy), draw j = mix(h ^ j), with
    SplitMix64's finalizer as ``mix``; the top 53 bits become the float.
    """
    keys = copy_keys(seed, split, indices, copies)
    return slot_uniforms(keys, np.arange(1, count + 1, dtype=np.uint64))


def named_slots(name: str, count: int) -> tuple[int, ...]:
    """``count`` draw slots of their own for the operation ``name``: a 64-bit hash of the name
    and the next ``count - 1`` numbers. The first release's operations use slots 1 to 12; a
    hashed base lands among them with probability about 1e-18 (the registry checks)."""
    digest = hashlib.blake2b(name.encode("utf-8"), digest_size=8, person=b"imgprep-slots")
    base = int.from_bytes(digest.digest(), "little")
    return tuple((base + j) & MASK64 for j in range(count))


def symmetric(u: np.ndarray, limit: float) -> np.ndarray:
    """Uniforms mapped onto [-limit, limit] (zeros when the limit is 0)."""
    return (2.0 * u - 1.0) * limit if limit else np.zeros_like(u)


def slot_integers(u: np.ndarray) -> np.ndarray:
    """Slot uniforms back as the 53-bit integers they were made from (exact in float64): the
    per-copy key of an operation that needs a whole generator (``standard_normals``)."""
    return np.floor(np.asarray(u, dtype=np.float64) * float(1 << 53))


def standard_normals(key: int, shape: tuple[int, ...]) -> np.ndarray:
    """float32 standard normals of one copy, C order: ``Generator(Philox(key=key))``'s
    ``standard_normal`` (ziggurat). ``key`` comes from the copy's own draw slot, not from a
    shared stream, so the numbers do not depend on workers, batch size or order (NumPy keeps
    Generator streams stable except for bug fixes)."""
    generator = np.random.Generator(np.random.Philox(key=int(key)))
    return generator.standard_normal(shape, dtype=np.float32)


def in_range(u: np.ndarray, bounds: tuple[float, float] | None, identity: float) -> np.ndarray:
    """Uniforms mapped onto [LO, HI] of a range option (``identity`` everywhere when the
    option is unset): the one rule every range-valued operation samples by."""
    if bounds is None:
        return np.full(len(u), float(identity))
    low, high = bounds
    return low + (high - low) * u
