"""The registry (``registry.py``): what every operation declares, collected and checked."""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest

from imgprep.augment import AugmentParams, AugmentSettings, params_columns, recorded_columns
from imgprep.augment.registry import (
    COLUMNS,
    OPERATIONS,
    OPTIONS,
    PARAMETER_NAMES,
    _check,
    discover,
    option_keys,
)
from imgprep.augment.spec import CropOperation, Operation, PixelOperation, WarpOperation

FIRST_COLUMNS = [column.name for column in COLUMNS if column.always_recorded]
FIRST_OPERATIONS = tuple(op for op in OPERATIONS if op.columns[0].always_recorded)


def test_chain_order_is_the_documented_default():
    """Geometric (one warp), the crops, Keras' intensity, colour, RandAugment, blur, noise,
    JPEG, erasing."""
    assert [op.name for op in OPERATIONS] == [
        "affine", "crop", "channel-shift", "brightness", "brightness-delta", "contrast",
        "saturation", "hue", "grayscale", "randaugment", "blur", "noise", "jpeg", "erasing",
    ]  # fmt: skip
    assert [op.stage for op in OPERATIONS] == ["warp", "crop"] + ["pixel"] * 12
    assert [op.name for op in FIRST_OPERATIONS] == ["affine", "channel-shift", "brightness"]
    orders = [op.order for op in OPERATIONS[2:]]
    assert orders == sorted(orders)  # later operations join the chain by their order


def test_recorded_columns_are_the_augmentation_datasets_as_first_released():
    assert recorded_columns(AugmentSettings(rotation_range=5)) == [
        ("theta", np.dtype(np.float64)), ("tx", np.dtype(np.float64)),
        ("ty", np.dtype(np.float64)), ("shear", np.dtype(np.float64)),
        ("zx", np.dtype(np.float64)), ("zy", np.dtype(np.float64)),
        ("flip_horizontal", np.dtype(np.bool_)), ("flip_vertical", np.dtype(np.bool_)),
        ("channel_shift", np.dtype(np.float64)), ("brightness", np.dtype(np.float64)),
    ]  # fmt: skip
    assert tuple(name for name, _ in recorded_columns()) == PARAMETER_NAMES


def test_params_columns_turn_rows_into_typed_arrays():
    rows = [AugmentParams(theta=1.5, flip_vertical=True), AugmentParams(), AugmentParams(zx=0.5)]
    columns = params_columns(rows)
    assert list(columns) == list(PARAMETER_NAMES)
    np.testing.assert_array_equal(columns["theta"], [1.5, 0.0, 0.0])
    np.testing.assert_array_equal(columns["zx"], [1.0, 1.0, 0.5])
    assert columns["flip_vertical"].dtype == np.bool_ and columns["flip_vertical"].tolist() == [
        True, False, False,
    ]  # fmt: skip
    assert columns["brightness"].dtype == np.float64
    numbers = [name for name in PARAMETER_NAMES if columns[name].dtype.kind != "S"]
    assert np.array([row.as_row(numbers) for row in rows]).T.tolist() == [
        columns[name].astype(np.float64).tolist() for name in numbers
    ]
    assert columns["randaugment_ops"].dtype == np.dtype("S160")  # text: the names chosen
    assert [row.as_row(["randaugment_ops"]) for row in rows] == [[""]] * 3


def test_params_fields_are_the_columns_with_identity_defaults():
    default = AugmentParams()
    assert [getattr(default, c.name) for c in COLUMNS] == [c.identity for c in COLUMNS]
    assert default.as_row(FIRST_COLUMNS) == [0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0]


def test_options_are_listed_as_first_released():
    assert option_keys()[:12] == (
        "rotation-range", "width-shift-range", "height-shift-range", "shear-range",
        "zoom-range", "zoom-keep-aspect", "horizontal-flip", "vertical-flip",
        "brightness-range", "channel-shift-range", "fill-mode", "cval",
    )  # fmt: skip
    assert option_keys("flag") == (
        "zoom-keep-aspect", "horizontal-flip", "vertical-flip", "random-resized-crop",
    )  # fmt: skip
    assert [f for f in AugmentSettings.__dataclass_fields__] == [o.name for o in OPTIONS]


def test_every_operation_declares_what_the_registry_needs():
    for op in OPERATIONS:
        assert isinstance(op, WarpOperation | CropOperation | PixelOperation)
        assert op.name and op.options and op.columns and op.draw_slots
        assert all(option.help.startswith("Augment: ") for option in op.options)


def test_the_first_releases_draw_slots_are_pinned():
    slots = {op.name: op.draw_slots for op in FIRST_OPERATIONS}
    assert slots == {
        "affine": (1, 2, 3, 4, 5, 6, 7, 8, 11, 12),
        "channel-shift": (9,),
        "brightness": (10,),
    }


class _Clash(PixelOperation):
    name = "clash"
    order = 99
    draw_slots = (10,)


def test_a_registry_with_shared_slots_or_names_is_refused():
    with pytest.raises(ValueError, match="share a draw slot: 10"):
        _check([*OPERATIONS, _Clash()])
    twin = type("Twin", (Operation,), {"name": "brightness", "stage": "pixel", "order": 5})
    with pytest.raises(ValueError, match="share a name: brightness"):
        _check([*OPERATIONS, twin()])


def test_a_new_operation_is_one_module(tmp_path, monkeypatch):
    """A module dropped into the operations package joins the chain, after the first
    release's operations, with slots of its own: their draws and columns do not move."""
    package = tmp_path / "more_ops"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "hue.py").write_text(
        "from imgprep.augment.keyed import named_slots\n"
        "from imgprep.augment.spec import Column, Option, PixelOperation\n"
        "class Hue(PixelOperation):\n"
        "    name = 'hue'\n"
        "    order = 30\n"
        "    options = (Option('hue_range', 'range', None, 'Augment: hue.'),)\n"
        "    columns = (Column('hue', 'float64', 0.0),)\n"
        "    draw_slots = named_slots('hue', 1)\n"
        "OPERATIONS = (Hue(),)\n"
    )
    for name in ("geometric", "intensity"):
        (package / f"{name}.py").write_text(f"from imgprep.augment.ops.{name} import OPERATIONS\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        chain = discover(importlib.import_module("more_ops"))
    finally:
        for name in [name for name in sys.modules if name.split(".")[0] == "more_ops"]:
            del sys.modules[name]
    assert [op.name for op in chain] == ["affine", "channel-shift", "brightness", "hue"]
    assert [op.draw_slots for op in chain[:3]] == [op.draw_slots for op in FIRST_OPERATIONS]
    assert [c.name for op in chain for c in op.columns][:10] == FIRST_COLUMNS


def test_a_later_operation_is_recorded_only_when_its_settings_are_active(monkeypatch):
    """The first release's columns are written for every augmented split (their bytes are
    fixed); a column added later only when its operation is active, so that runs which do
    not use it keep the outputs they had."""
    from types import SimpleNamespace

    from imgprep.augment import AugmentParams, registry
    from imgprep.augment.spec import Column, PixelOperation

    class Later(PixelOperation):
        name = "later"
        order = 99
        columns = (Column("later_amount", "float64", 0.0),)

        def active(self, settings):
            return bool(settings.later)

    monkeypatch.setattr(registry, "OPERATIONS", (*FIRST_OPERATIONS, Later()))
    first = FIRST_COLUMNS  # every first-release column, in order
    assert [name for name, _ in registry.recorded_columns()] == [*first, "later_amount"]
    off, on = SimpleNamespace(later=0), SimpleNamespace(later=1)
    assert [name for name, _ in registry.recorded_columns(off)] == first
    assert [name for name, _ in registry.recorded_columns(on)] == [*first, "later_amount"]
    params = AugmentParams(theta=3.0, flip_vertical=True)
    assert params.as_row(["flip_vertical", "theta"]) == [1.0, 3.0]
    everything = dict(zip(PARAMETER_NAMES, params.as_row(), strict=True))
    assert [everything[name] for name in first] == params.as_row(first)
