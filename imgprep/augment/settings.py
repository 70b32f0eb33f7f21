"""``AugmentSettings`` and ``AugmentParams``: one field per registered option and column.

Both classes are frozen dataclasses built from the registry when this module is imported, so
an operation's module declares its options and columns once and every user of the settings
(the command line, TOML configs, the stats and HDF5 attributes, the workers) sees them.
Settings are validated when built, never halfway through a run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import field, make_dataclass
from itertools import accumulate
from typing import Any

import numpy as np

from imgprep.augment.keyed import copy_keys, slot_uniforms
from imgprep.augment.registry import (
    COLUMNS,
    CROP_OPERATIONS,
    OPERATIONS,
    OPTIONS,
    PARAMETER_NAMES,
    chain,
)
from imgprep.errors import InputError
from imgprep.errors import option as option_name

_ANNOTATIONS = {
    "number": float,
    "flag": bool,
    "range": tuple[float, float] | None,
    "choice": str,
    "size": tuple[int, int] | None,
    "value": float | str,
    "names": tuple[str, ...] | None,
}
_CHECK_ORDER = tuple(sorted(OPTIONS, key=lambda option: option.check_rank))  # stable
_SLOTS = np.array([slot for op in OPERATIONS for slot in op.draw_slots], dtype=np.uint64)
_ENDS = tuple(accumulate(len(op.draw_slots) for op in OPERATIONS))
_SPANS = tuple(zip((0, *_ENDS[:-1]), _ENDS, strict=True))  # each operation's draw columns


class _SettingsMethods:
    """Validation, activity, (de)serialization and sampling of ``AugmentSettings``."""

    def __post_init__(self) -> None:
        for option in _CHECK_ORDER:
            object.__setattr__(self, option.name, option.check(getattr(self, option.name)))
        if self.order is not None:
            missing = [
                op.name for op in OPERATIONS if op.active(self) and op.name not in self.order
            ]
            if missing:
                raise InputError(
                    f"{option_name('order')} must name every operation the run uses: "
                    f"{', '.join(missing)} missing"
                )

    @property
    def active(self) -> bool:
        """Whether any transform can change an image."""
        return any(op.active(self) for op in OPERATIONS)

    def check_channels(self, channels: int) -> None:
        """Refuse (``InputError``, naming the option) settings that cannot apply to images
        of ``channels`` channels (saturation on grayscale, ...): each operation's check."""
        for op in OPERATIONS:
            op.check_channels(self, channels)

    def check_plan(self, size: tuple[int, int] | None) -> None:
        """Refuse (``InputError``) settings that cannot apply with the pipeline's ``size``
        (``--size`` (width, height), or None): a crop larger than it, a resized crop
        without it, two crops."""
        for op in OPERATIONS:
            op.check_plan(self, size)

    def shape_problem(self, shape: tuple[int, ...]) -> str | None:
        """Why an image of ``shape`` (as decoded at the pipeline's size) cannot be augmented
        (a crop larger than it), None when it can: a reason about that one file."""
        for op in OPERATIONS:
            reason = op.shape_problem(self, shape)
            if reason is not None:
                return reason
        return None

    @property
    def full_source(self) -> bool:
        """Whether copies are cut from the decoded image before the pipeline resizes it
        (``--random-resized-crop``): the augmented split is then decoded at full scale."""
        return any(op.active(self) and op.full_source(self) for op in CROP_OPERATIONS)

    def row_shape(self, shape: tuple[int, ...]) -> tuple[int, ...]:
        """The shape of every row (copies and views) made from an image of ``shape`` at the
        pipeline's size."""
        for op in CROP_OPERATIONS:
            size = op.size_after(self, shape)
            if size is not None:
                shape = (*size, *shape[2:])
        return shape

    @property
    def changes_view(self) -> bool:
        """Whether rows that are not augmented are changed too (centre-cropped)."""
        return any(op.changes_view(self) for op in CROP_OPERATIONS)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (ranges as lists), in the options' listed order."""
        data: dict[str, Any] = {}
        for option in OPTIONS:
            value = getattr(self, option.name)
            if option.always_written or value != option.default:
                data[option.name] = list(value) if isinstance(value, tuple) else value
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Any:
        """Inverse of ``to_dict``; unknown keys are an error that names them."""
        known = {option.name for option in OPTIONS}
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown augmentation setting(s) {', '.join(unknown)}")
        values = dict(data)
        for option in OPTIONS:
            if option.kind in ("range", "size", "names") and values.get(option.name) is not None:
                values[option.name] = tuple(values[option.name])
        return cls(**values)

    def sample(
        self,
        *,
        seed: int,
        split: int,
        indices: np.ndarray,
        copies: np.ndarray,
        shape: tuple[int, ...],
        row_shape: tuple[int, ...] | None = None,
    ) -> list[Any]:
        """Parameters of copy ``copies[j]`` of image ``indices[j]`` (all H x W = ``shape``),
        as ``AugmentParams``: each operation samples its columns from its own draw slots.

        Each operation is sampled for the shape it takes in the chain: ``shape`` before the
        crops, ``row_shape`` after them (default ``row_shape(shape)``; a resized crop's is
        the pipeline's size, which the caller gives), so erasing's box lies in the copy."""
        after_crops = row_shape if row_shape is not None else self.row_shape(shape)
        shapes, current = {}, shape  # the shape each operation takes, along the chain
        for op in chain(self):
            shapes[op.name] = current
            if op.stage == "crop" and op.active(self):
                current = after_crops
        draws = slot_uniforms(copy_keys(seed, split, indices, copies), _SLOTS)
        columns: list[np.ndarray] = []
        for op, (start, stop) in zip(OPERATIONS, _SPANS, strict=True):
            columns.extend(op.sample(self, draws[:, start:stop], shapes.get(op.name, current)))
        rows = zip(*(column.tolist() for column in columns), strict=True)
        return [AugmentParams(*values) for values in rows]


class _ParamsMethods:
    def as_row(self, names: Sequence[str] | None = None) -> list[float | str]:
        """The columns ``names`` (default: ``PARAMETER_NAMES``, all of them) as floats
        (flags 0.0 / 1.0; text columns as their text), in that order: a row for the columns
        ``recorded_columns`` gives."""
        chosen = PARAMETER_NAMES if names is None else names
        return [_plain(getattr(self, name)) for name in chosen]


def _plain(value: Any) -> float | str:
    return value if isinstance(value, str) else float(value)


def _field_type(column: Any) -> type:
    """A column's ``AugmentParams`` field type: bool, str (text columns, dtype ``S...``) or
    float."""
    if column.dtype == "bool":
        return bool
    return str if column.dtype.startswith("S") else float


AugmentSettings = make_dataclass(
    "AugmentSettings",
    [(option.name, _ANNOTATIONS[option.kind], field(default=option.default)) for option in OPTIONS],
    bases=(_SettingsMethods,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "Validated augmentation options: one field per registered option "
        "(``imgprep.augment.registry.OPTIONS``), defaults leave images alone.",
    },
)
AugmentParams = make_dataclass(
    "AugmentParams",
    [(column.name, _field_type(column), field(default=column.identity)) for column in COLUMNS],
    bases=(_ParamsMethods,),
    frozen=True,
    namespace={
        "__module__": __name__,
        "__doc__": "The sampled parameters of one copy: one field per registered column "
        "(plain numbers; the identity by default).",
    },
)
