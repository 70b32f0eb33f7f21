"""The one config parser: keys, TOML types, values, and the CLI and the API agreeing on it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from imgprep.api import pipeline_from_config
from imgprep.cli import main
from imgprep.config import DecodeSettings, PipelineOptions, parse_rescale
from imgprep.config_file import load_config, pipeline_options
from imgprep.errors import InputError
from tests.conftest import make_dataset


def test_config_keys_and_suggestions(tmp_path: Path):
    config = tmp_path / "p.toml"
    config.write_text(
        'color = "grayscale"\nrescale = "1/255"\ncenter = "samplewise"\nsize = "8x6"\n'
    )
    options = pipeline_options(load_config(str(config)))
    assert options.decode.color == "grayscale" and options.decode.size == (8, 6)
    assert options.rescale == pytest.approx(1 / 255)
    config.write_text('colour = "grayscale"\n')
    with pytest.raises(InputError, match="unknown key 'colour'; did you mean 'color'"):
        load_config(str(config))
    config.write_text("standardise = 1\n")
    with pytest.raises(InputError, match="did you mean 'standardize'"):
        load_config(str(config))


def test_parse_rescale():
    assert parse_rescale("1/255") == 1 / 255
    assert parse_rescale(0.5) == 0.5
    assert parse_rescale("2") == 2.0
    for bad in ("x", "1/0", True):
        with pytest.raises(InputError):
            parse_rescale(bad)


def test_values_are_parsed_as_the_command_line_parses_them():
    options = pipeline_options(
        {"size": [8, 6], "bit-depth": "16", "pad-value": 3.0, "jpeg-draft": False, "seed": 4}
    )
    assert options.decode == DecodeSettings(
        size=(8, 6), bit_depth=16, pad_value=3, jpeg_draft=False
    )
    assert pipeline_options({}) == PipelineOptions()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"color": "purple"}, "invalid color 'purple': choose one of keep, grayscale, rgb, rgba"),
        ({"resize-mode": "crop"}, "invalid resize_mode 'crop': choose one of stretch, fit, fill"),
        ({"size": "0x5"}, "invalid size '0x5': width and height must be at least 1"),
        ({"rescale": "x"}, "invalid rescale 'x': expected a number such as 1/255"),
        ({"pad-value": float("nan")}, "invalid pad-value nan: must be a finite number"),
        ({"bit-depth": "eight"}, "invalid bit_depth 'eight': choose 8 or 16"),
        ({"bit-depth": 12}, "invalid bit_depth 12: choose 8 or 16"),
        ({"size": [0, 5]}, "invalid size 0x5: width and height must be at least 1"),
        ({"zca": 1}, "invalid zca 1: expected true or false"),
    ],
)
def test_a_bad_value_names_the_file_and_the_key(data, message):
    with pytest.raises(InputError) as info:
        pipeline_options(data, source="c.toml")
    key = next(iter(data))
    assert info.value.for_command_line() == f"c.toml: key {key!r}: {message}"


def test_options_that_do_not_go_together_are_refused():
    with pytest.raises(InputError, match="'zca' cannot be combined with 'center'"):
        pipeline_options({"zca": True, "center": "samplewise"})


def test_the_command_line_and_the_api_build_the_same_options(tmp_path: Path, rng):
    """One parser: transform --config writes the options pipeline_from_config builds, and a
    command-line option overrides its key only."""
    make_dataset(tmp_path / "d", rng, per_class=2, shape=(10, 12, 3))
    config = tmp_path / "c.toml"
    config.write_text(
        'color = "grayscale"\nsize = [6, 5]\nrescale = "1/255"\nbit-depth = "8"\n'
        'resample = "nearest"\nstandardize = "samplewise"\nepsilon = 0.001\n'
    )
    out = tmp_path / "o.h5"
    args = ["transform", str(tmp_path / "d"), "-q", "-o", str(out), "--config", str(config)]
    result = CliRunner().invoke(main, [*args, "--resample", "box"])
    assert result.exit_code == 0, result.output
    with h5py.File(out) as handle:
        written = PipelineOptions.from_dict(json.loads(handle.attrs["pipeline"])["options"])
    from_api = pipeline_from_config(str(config)).options
    assert written.decode.resample == "box" and from_api.decode.resample == "nearest"
    assert written == PipelineOptions(
        decode=DecodeSettings(**{**from_api.decode.to_dict(), "resample": "box", "size": (6, 5)}),
        rescale=from_api.rescale,
        standardize="samplewise",
        epsilon=0.001,
    )


def test_a_bad_config_value_is_one_line_on_the_command_line(tmp_path: Path, rng):
    make_dataset(tmp_path / "d", rng, per_class=2, shape=(4, 4, 3))
    config = tmp_path / "c.toml"
    config.write_text('size = "0x5"\n')
    args = ["transform", str(tmp_path / "d"), "-o", str(tmp_path / "o.h5"), "--config"]
    result = CliRunner().invoke(main, [*args, str(config)])
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {config}: key 'size': invalid size '0x5': width and height must be at least 1\n"
    )


def test_a_config_read_from_python_names_its_file_and_key(tmp_path):
    """pipeline_from_config reports a bad value as the command line does: file, key, value."""
    from imgprep.api import pipeline_from_config

    path = tmp_path / "c.toml"
    path.write_text('color = "purple"\n')
    with pytest.raises(InputError) as info:
        pipeline_from_config(str(path))
    assert str(info.value) == (
        f"{path}: key 'color': invalid color 'purple': choose one of keep, grayscale, rgb, rgba"
    )
