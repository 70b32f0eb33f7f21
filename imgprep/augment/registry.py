"""The registry: every operation of ``imgprep.augment.ops``, in chain order, and what they declare.

The command line, the TOML parser, ``AugmentSettings``, ``AugmentParams``, the writers and the
preview read options, columns and draw slots from here instead of knowing each operation.
The registry is built once at import from the modules of ``imgprep.augment.ops`` (each lists
its ``OPERATIONS``) and checked: names, option names and column names unique, draw slots
disjoint, one place in the chain per operation.
"""

from __future__ import annotations

import importlib
import math
import pkgutil
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

from imgprep.augment import ops
from imgprep.augment.spec import (
    STAGES,
    Column,
    CropOperation,
    Operation,
    Option,
    PixelOperation,
    WarpOperation,
)


def discover(package: ModuleType = ops) -> tuple[Operation, ...]:
    """The ``OPERATIONS`` of every module of ``package``, in chain order, checked."""
    found: list[Operation] = []
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        found.extend(getattr(module, "OPERATIONS", ()))
    chain = tuple(sorted(found, key=lambda op: (STAGES.index(op.stage), op.order)))
    _check(chain)
    return chain


def _check(chain: Sequence[Operation]) -> None:
    """Refuse a registry that would make two operations collide (a programming error)."""
    places = [(op.stage, op.order) for op in chain]
    names = [op.name for op in chain]
    options = [option.name for op in chain for option in op.options]
    columns = [column.name for op in chain for column in op.columns]
    slots = [slot for op in chain for slot in op.draw_slots]
    for what, values in (
        ("place (stage, order)", places),
        ("name", names),
        ("option", options),
        ("column", columns),
        ("draw slot", slots),
    ):
        repeated = sorted({str(value) for value in values if values.count(value) > 1})
        if repeated:
            raise ValueError(f"augmentation operations share a {what}: {', '.join(repeated)}")


OPERATIONS: tuple[Operation, ...] = discover()
BY_NAME: dict[str, Operation] = {op.name: op for op in OPERATIONS}
WARP_OPERATIONS: tuple[WarpOperation, ...] = tuple(
    op for op in OPERATIONS if isinstance(op, WarpOperation)
)
CROP_OPERATIONS: tuple[CropOperation, ...] = tuple(
    op for op in OPERATIONS if isinstance(op, CropOperation)
)
PIXEL_OPERATIONS: tuple[PixelOperation, ...] = tuple(
    op for op in OPERATIONS if isinstance(op, PixelOperation)
)
ORDER = Option(
    "order", "names", None,
    "Augment: the chain's order, operation names separated by commas (default: "
    + ",".join(op.name for op in OPERATIONS) + "); it must name every operation the run uses.",
    metavar="NAMES", choices=tuple(op.name for op in OPERATIONS),
)  # fmt: skip
OPTIONS: tuple[Option, ...] = tuple(
    sorted(
        (*(option for op in OPERATIONS for option in op.options), ORDER),
        key=lambda option: math.inf if option.listed is None else option.listed,
    )
)  # a stable sort: unlisted options keep their chain order, after the listed ones
COLUMNS: tuple[Column, ...] = tuple(column for op in OPERATIONS for column in op.columns)
PARAMETER_NAMES: tuple[str, ...] = tuple(column.name for column in COLUMNS)


def chain(settings: Any) -> tuple[Operation, ...]:
    """The operations in the order they run for ``settings``: its ``order``, or the
    registry's (the warp, the crops, the pixel operations)."""
    if settings.order is None:
        return OPERATIONS
    return tuple(BY_NAME[name] for name in settings.order)


def option_keys(kind: str | None = None) -> tuple[str, ...]:
    """The TOML keys of every option (of one ``kind``: number, flag, range, choice)."""
    return tuple(option.key for option in OPTIONS if kind is None or option.kind == kind)


def recorded_columns(settings: Any = None) -> list[tuple[str, np.dtype]]:
    """The ``augmentation/<name>`` datasets of a run with ``settings``, in order, with their
    dtypes: every ``always_recorded`` column, and the columns of the other operations that
    the settings make active (all of them when ``settings`` is None)."""
    return [
        (column.name, column.numpy_dtype)
        for op in OPERATIONS
        for column in op.columns
        if settings is None or column.always_recorded or op.active(settings)
    ]


def params_columns(params: Sequence[Any]) -> dict[str, np.ndarray]:
    """Sampled parameters (``AugmentParams``, one per written row) as one array per column,
    in ``recorded_columns`` order and dtypes."""
    return {
        column.name: np.array(
            [getattr(row, column.name) for row in params], dtype=column.numpy_dtype
        )
        for column in COLUMNS
    }
