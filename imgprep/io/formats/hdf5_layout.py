"""What every imgprep HDF5 output holds, one file or shards joined by a virtual main file.

The root attributes (``write_dataset_attrs``), fixed-length UTF-8 ``paths`` and growable
one-value columns, and one shape and dtype per ``images`` dataset (``check_like_first``):
shared by ``Hdf5Writer`` and the Dask engine's main file (``imgprep.run.shards``).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import numpy as np

from imgprep.errors import InputError
from imgprep.io.formats.base import FORMAT_NAME, FORMAT_VERSION
from imgprep.pixels import mixed_depth_reason
from imgprep.version import __version__

# The one list of HDF5 suffixes: what transform writes as HDF5 and inspect reads as HDF5.
SUFFIXES = (".h5", ".hdf5", ".he5")


def utf8(length: int) -> Any:
    """h5py's fixed-length UTF-8 string dtype (NumPy arrays must carry it to be written)."""
    import h5py

    return h5py.string_dtype("utf-8", length)


def column(group: Any, name: str, dtype: Any) -> None:
    """An empty, growable one-dimensional dataset."""
    group.create_dataset(name, shape=(0,), maxshape=(None,), dtype=dtype, chunks=(4096,))


def write_dataset_attrs(attrs: Any, metadata: dict[str, Any]) -> None:
    """The root attributes of an imgprep HDF5 output: format, versions, and each metadata
    value as JSON text (shared by the writer and the sharded main file)."""
    attrs["format"] = FORMAT_NAME
    attrs["format_version"] = FORMAT_VERSION
    attrs["imgprep_version"] = __version__
    for key, value in metadata.items():
        attrs[key] = json.dumps(value)


def check_like_first(
    first: str,
    shape: tuple[int, ...],
    dtype: np.dtype,
    rel: str,
    other_shape: tuple[int, ...],
    other_dtype: np.dtype,
) -> None:
    """One dataset holds one shape and one dtype: name the two files that differ."""
    if other_shape != shape:
        if other_shape[:2] == shape[:2]:
            advice = "choose one channel count with --color grayscale, rgb or rgba"
        else:
            advice = "pass --size WxH to resize them to one size"
        raise InputError(
            f"images differ in shape: {first} is {_shape(shape)} but {rel} is "
            f"{_shape(other_shape)}; {advice}"
        )
    if other_dtype != dtype:
        raise InputError(f"{rel}: {mixed_depth_reason(other_dtype.name, dtype.name)}")


def _shape(shape: Sequence[int]) -> str:
    return "x".join(str(v) for v in shape) + " (HxWxC)"
