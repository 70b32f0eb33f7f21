"""``AugmentSettings`` (``settings.py``, ``spec.Option``): validation, dicts, pickling."""

from __future__ import annotations

import json
import pickle

import pytest

from imgprep.augment import AugmentParams, AugmentSettings
from imgprep.augment.spec import Option
from imgprep.errors import InputError


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"rotation_range": -1}, "--rotation-range must be >= 0, got -1"),
        ({"width_shift_range": -0.1}, "--width-shift-range must be >= 0, got -0.1"),
        ({"channel_shift_range": float("nan")}, "--channel-shift-range must be >= 0, got nan"),
        (
            {"zoom_range": (1.2, 0.8)},
            "--zoom-range must be 0 < LO <= HI, got 1.2,0.8 (a single value z means 1-z,1+z "
            "with z < 1)",
        ),
        ({"zoom_range": (0.0, 1.5)}, "--zoom-range must be 0 < LO <= HI, got 0.0,1.5"),
        ({"brightness_range": (1.5, 0.5)}, "--brightness-range must be 0 <= LO <= HI, got 1.5,0.5"),
        (
            {"fill_mode": "mirror"},
            "invalid fill mode 'mirror': choose constant, nearest, reflect, wrap",
        ),
        ({"cval": float("inf")}, "--cval must be a finite number, got inf"),
    ],
)
def test_bad_parameters_are_named(kwargs, message):
    with pytest.raises(InputError) as caught:
        AugmentSettings(**kwargs)
    assert caught.value.for_command_line().startswith(message)


def test_two_bad_values_report_the_first_releases_first():
    with pytest.raises(InputError, match=r"^'channel_shift_range'"):
        AugmentSettings(zoom_range=(2.0, 1.0), channel_shift_range=-1)
    with pytest.raises(InputError, match=r"^'brightness_range'"):
        AugmentSettings(brightness_range=(2.0, 1.0), fill_mode="mirror")


def test_ranges_become_float_pairs_and_numbers_stay_as_given():
    settings = AugmentSettings(zoom_range=[1, 2], brightness_range=(1, 1), rotation_range=30)
    assert settings.zoom_range == (1.0, 2.0) and isinstance(settings.zoom_range[0], float)
    assert settings.brightness_range == (1.0, 1.0) and settings.rotation_range == 30


def test_to_dict_is_json_in_the_listed_order_and_round_trips():
    settings = AugmentSettings(
        rotation_range=15, zoom_range=(0.9, 1.1), brightness_range=(0.8, 1.2)
    )
    data = settings.to_dict()
    assert json.dumps(data) == (
        '{"rotation_range": 15, "width_shift_range": 0.0, "height_shift_range": 0.0, '
        '"shear_range": 0.0, "zoom_range": [0.9, 1.1], "zoom_keep_aspect": false, '
        '"horizontal_flip": false, "vertical_flip": false, "brightness_range": [0.8, 1.2], '
        '"channel_shift_range": 0.0, "fill_mode": "nearest", "cval": 0.0}'
    )
    assert AugmentSettings.from_dict(json.loads(json.dumps(data))) == settings
    assert AugmentSettings().to_dict()["brightness_range"] is None


def test_from_dict_names_unknown_settings():
    with pytest.raises(InputError, match="unknown augmentation setting\\(s\\) hue, spin"):
        AugmentSettings.from_dict({"spin": 1, "hue": 2, "cval": 0})


def test_settings_and_params_pickle_for_the_workers():
    settings = AugmentSettings(rotation_range=5, fill_mode="wrap")
    params = AugmentParams(theta=2.0, flip_horizontal=True)
    assert pickle.loads(pickle.dumps(settings)) == settings
    assert pickle.loads(pickle.dumps(params)) == params
    assert type(settings).__module__ == "imgprep.augment.settings"


class TestOption:
    def test_bounds_of_a_later_operation(self):
        probability = Option("p", "number", 0.0, "Augment: p.", minimum=0, maximum=1)
        assert probability.check(0.5) == 0.5
        with pytest.raises(InputError, match=r"^'p' must be between 0 and 1, got 1\.5$"):
            probability.check(1.5)
        hue = Option("hue_range", "range", None, "Augment: h.", minimum=-0.5, maximum=0.5)
        assert hue.check(None) is None and hue.check((-0.1, 0.2)) == (-0.1, 0.2)
        with pytest.raises(InputError, match=r"^'hue_range' must be -0.5 <= LO <= HI <= 0.5"):
            hue.check((-0.1, 0.7))

    def test_an_unknown_kind_is_refused(self):
        with pytest.raises(ValueError, match="option x: unknown kind 'int'"):
            Option("x", "int", 0, "Augment: x.")
