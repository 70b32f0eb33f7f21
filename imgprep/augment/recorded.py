"""A written row again, from its recorded parameters: ``apply_recorded``.

Every augmented split stores, per row, the parameters its copy was made with (the
``augmentation/<column>`` datasets of an HDF5 output, in ``imgprep.json`` of a PNG tree), and
the run's settings (the ``augmentation`` attribute). ``apply_recorded`` turns a decoded image
and one row of those into the row as it was written before normalization, bit for bit: the
way to check a stored row, to find which parameters made an odd one, or to make the same copy
of a new image. Normalized outputs are that row through the file's pipeline
(``imgprep.pipeline_from_hdf5(path).apply_block(row[None])``)::

    with h5py.File("train.h5") as f:
        settings = json.loads(f.attrs["augmentation"])
        row = {name: f["augmentation"][name][i] for name in f["augmentation"]}
    image = imgprep.decode_image(source_path, pipeline.decode)
    again = imgprep.augment.apply_recorded(image, row, settings)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from imgprep.augment.chain import Resize, augment
from imgprep.augment.registry import PARAMETER_NAMES
from imgprep.augment.settings import AugmentParams, AugmentSettings
from imgprep.errors import InputError

RUN_KEYS = ("copies", "keep_original", "seed", "augmented_splits")  # in the attribute too


def params_from_row(row: Mapping[str, Any]) -> Any:
    """``AugmentParams`` from one row of recorded columns (numbers or NumPy scalars); a column
    the row lacks (an operation the run did not use) is at its identity."""
    unknown = sorted(set(row) - set(PARAMETER_NAMES))
    if unknown:
        raise InputError(f"unknown augmentation column(s) {', '.join(unknown)}")
    return AugmentParams(**{name: _plain(value, name) for name, value in row.items()})


def _plain(value: Any, name: str) -> bool | float | str:
    """A recorded value as the field's type (flags are stored as booleans)."""
    plain = np.asarray(value).item()
    default = AugmentParams.__dataclass_fields__[name].default
    if isinstance(default, str):  # text, stored as bytes
        return plain.decode("ascii") if isinstance(plain, bytes) else str(plain)
    return bool(plain) if isinstance(default, bool) else float(plain)


def settings_from(settings: Any) -> Any:
    """``AugmentSettings`` itself, or from the ``augmentation`` attribute's dict (its run
    keys, ``copies`` and ``seed``..., set aside)."""
    if isinstance(settings, AugmentSettings):
        return settings
    return AugmentSettings.from_dict({k: v for k, v in settings.items() if k not in RUN_KEYS})


def apply_recorded(
    image: np.ndarray,
    row: Mapping[str, Any] | Any,
    settings: Any,
    *,
    keep_dtype: bool = True,
    resize: Resize | None = None,
) -> np.ndarray:
    """The row made from ``image`` with the recorded parameters ``row`` (a mapping of column
    names to values, or ``AugmentParams``) and the run's ``settings`` (``AugmentSettings`` or
    the stored ``augmentation`` dict), before normalization.

    ``image`` is the source decoded as the run decoded it (``decode_image(path,
    pipeline.decode)``; at full scale, ``size=None``, for ``--random-resized-crop``, whose
    ``resize`` is ``imgprep.run.worker.crop_resize(pipeline.decode)``). ``keep_dtype``: the
    run wrote integers (True for 8/16-bit outputs without a float step; False gives the
    float32 rows of a normalized run, as its workers made them).
    """
    params = row if isinstance(row, AugmentParams) else params_from_row(row)
    return augment(image, params, settings_from(settings), keep_dtype=keep_dtype, resize=resize)
