"""Pixel kinds: the one rule for a run whose images decode to several depths or channel counts.

Statistics, normalization and an HDF5 ``images`` array are only meaningful for pixels on one
scale: 8-bit values run 0..255, 16-bit ones 0..65535, float ones whatever the file holds.
imgprep never mixes them silently. Without ``bit_depth`` every image of a run must decode to
the dtype of the first one (a later image of another dtype stops the run, or is skipped
under ``--on-error skip``, in ``fit-stats``, ``inspect`` and ``transform`` alike); with it,
decoding converts integer images to one depth first (``imgprep.io.bitdepth``).

Why a module of its own, outside ``imgprep.io``: these rules are plain dtype arithmetic that
the decoder, the passes in ``imgprep.run``, the writers and ``imgprep.transforms`` (which
touches no file) all apply, so it depends on NumPy only.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

DTYPE_OF_DEPTH = {8: np.dtype(np.uint8), 16: np.dtype(np.uint16)}  # bit depth -> dtype


def dtype_of_depth(bit_depth: int) -> str:
    """The dtype name images converted to ``bit_depth`` have (``uint8`` or ``uint16``)."""
    return DTYPE_OF_DEPTH[bit_depth].name


def mixed_depth_reason(dtype: str, before: str) -> str:
    """Why an image of ``dtype`` cannot join images of ``before``: one message for every
    command (fit-stats, inspect, transform), naming the option that resolves it."""
    if np.dtype(dtype).kind == "f" or np.dtype(before).kind == "f":
        return (
            f"pixels are {dtype} but the images before it are {before}; imgprep does not "
            "rescale float images implicitly: convert them to one integer depth (or all to "
            "float) first"
        )
    return (
        f"pixels are {dtype} but the images before it are {before}; pass --bit-depth 8 or "
        "--bit-depth 16 to convert them to one depth"
    )


def stats_mismatch_reason(dtype: str, channels: int, stats_dtype: str, stats_channels: int) -> str:
    """Why statistics of ``stats_dtype`` pixels with ``stats_channels`` channels cannot be
    applied to an image of ``dtype`` with ``channels``: a mean of another depth is on another
    scale (a 16-bit mean subtracted from 8-bit pixels), per-channel values of another channel
    count do not match the channels."""
    if dtype != stats_dtype:
        return (
            f"pixels are {dtype} but the statistics were computed on {stats_dtype} pixels, "
            "another scale (--allow-stats-mismatch does not change that); compute them with "
            "fit-stats on images of this depth, or pass the same --bit-depth to both commands"
        )
    return (
        f"pixels have {channels} channel(s) but the statistics were computed on "
        f"{stats_channels}; compute them with the same --color, or apply one global value "
        "(--stats-scope global --allow-stats-mismatch)"
    )


@dataclass(frozen=True)
class PixelKind:
    """What every image of a run must decode to: a dtype and, when set, a channel count.

    ``from_stats`` kinds come from a stats file the run applies; the others from the first
    image of the run ("the images before it").
    """

    dtype: str
    channels: int | None = None
    from_stats: bool = False

    def mismatch(self, array: np.ndarray) -> str | None:
        """The reason ``array`` (H x W x C) does not fit, or None when it does."""
        channels = int(array.shape[-1]) if array.ndim == 3 else 1
        same_channels = self.channels is None or channels == self.channels
        # ``dtype == "uint8"`` costs 0.1 us; ``dtype.name`` 3 us, per image of every run
        if array.dtype == self.dtype and same_channels:
            return None
        if self.from_stats:
            return stats_mismatch_reason(
                array.dtype.name, channels, self.dtype, self.channels or channels
            )
        return mixed_depth_reason(array.dtype.name, self.dtype)
