"""Every number and key of a stats file is checked on load; hostile JSON and TOML end in one
line naming the key (never NaN output, invalid JSON passed on, or a traceback)."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import pytest
from click.testing import CliRunner

from imgprep.api import pipeline_from_config
from imgprep.cli import main
from imgprep.errors import StatsFileError
from imgprep.io.stats_io import read_stats
from tests.conftest import make_dataset


@pytest.fixture(scope="module")
def good(tmp_path_factory) -> tuple[Path, Path, dict]:
    """A dataset of 4 RGB 4x4 images and its stats file (exact integer sums)."""
    import numpy as np

    tmp = tmp_path_factory.mktemp("numbers")
    root = tmp / "data"
    make_dataset(root, np.random.default_rng(3), per_class=2, shape=(4, 4, 3))
    stats = tmp / "s.json"
    result = CliRunner().invoke(main, ["fit-stats", str(root), "-q", "-o", str(stats)])
    assert result.exit_code == 0, result.output
    return root, stats, json.loads(stats.read_text())


def damaged(tmp_path: Path, data: dict, keys: tuple, value: object) -> Path:
    copy = json.loads(json.dumps(data))
    target = copy
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(copy))  # NaN and Infinity written as JSON's extensions
    return path


NAN = float("nan")
# (keys, value, the message after "PATH: ")
BAD_NUMBERS = [
    (("accumulators", "m2", 1), -3.0, "key accumulators.m2[1]: negative (-3.0)"),
    (("accumulators", "mean", 0), NAN, "key accumulators.mean[0]: not a finite number (nan)"),
    (
        ("accumulators", "min", 2),
        float("inf"),
        "key accumulators.min[2]: not a finite number (inf)",
    ),
    (("accumulators", "max", 0), -1, "key accumulators.min[0]: 0 is above max -1"),
    (("accumulators", "count"), -5, "key accumulators.count: negative (-5)"),
    (("accumulators", "images"), 0, "key accumulators.images: must be positive (0)"),
    (("image_shape",), [2, 4, 3], "key accumulators.count: 64 pixels is not 4 images of 2x4"),
    (("accumulators", "count"), 3, "key accumulators.count: 3 pixels for 4 images"),
    (("accumulators", "min"), [0, 0], "key accumulators.min: has 2 values for 3 channels"),
    (
        ("accumulators", "sum", 0),
        10**9,
        "key accumulators.sum[0]: 1000000000 is not 64 values in [min, max]",
    ),
    (("accumulators", "sum_sq", 1), -1, "key accumulators.sum_sq[1]: negative (-1)"),
    (
        ("accumulators", "mean", 1),
        200.0,
        "key accumulators.mean[1]: 200.0 differs from sum / count",
    ),
    (("images",), 5, "key images: 5 differs from accumulators' 4"),
    (("image_shape",), [4, 4, 2], "key image_shape[2]: 2 channels, but the accumulators have 3"),
    (("provenance", "files"), "many", "key provenance.files: must be an integer, not 'many'"),
    (("provenance", "files"), 2, "key accumulators.images: 4 images from 2 files"),
    (
        ("provenance", "files_sha256"),
        7,
        "key provenance.files_sha256: must be 64 hexadecimal digits, not 7",
    ),
    (("provenance", "extra"), [NAN], "key provenance.extra[0]: not a finite number (nan)"),
    (("inputs",), "data", "key inputs: must be a list of paths or {count, examples}, not 'data'"),
    (("inputs",), [3], "key inputs[0]: must be a string, not 3"),
    (("skipped",), "none", "key skipped: must be a list of {path, reason}, not 'none'"),
    (("skipped",), [{"path": 1}], "key skipped[0].path: must be a string, not 1"),
    (("dtype",), "object", "key dtype: not a NumPy integer or float type ('object')"),
    (
        ("preprocessing", "jpeg_draft"),
        "no",
        "key preprocessing.jpeg_draft: must be true or false, not 'no'",
    ),
]


@pytest.mark.parametrize(("keys", "value", "message"), BAD_NUMBERS, ids=lambda v: str(v)[:30])
def test_bad_numbers_are_refused_with_their_key(good, tmp_path: Path, keys, value, message):
    _, _, data = good
    path = damaged(tmp_path, data, keys, value)
    with pytest.raises(StatsFileError) as info:
        read_stats(str(path))
    text = str(info.value)
    assert text.startswith(f"{path}: {message}"), text


def test_float_statistics_are_checked_too(good, tmp_path: Path):
    """Without exact sums, mean and M2 are the numbers applied: mean within [min, max]."""
    _, _, data = good
    copy = json.loads(json.dumps(data))
    acc = copy["accumulators"]
    acc["exact"] = False
    del acc["sum"], acc["sum_sq"]
    acc["mean"][2] = acc["max"][2] + 1
    path = tmp_path / "float.json"
    path.write_text(json.dumps(copy))
    with pytest.raises(StatsFileError) as info:
        read_stats(str(path))
    assert str(info.value) == (
        f"{path}: key accumulators.mean[2]: {acc['mean'][2]} is outside [min, max]"
    )


def test_transform_refuses_nan_statistics(good, tmp_path: Path):
    root, _, data = good
    path = damaged(tmp_path, data, ("accumulators", "m2", 0), NAN)
    out = tmp_path / "o.h5"
    result = CliRunner().invoke(main, ["transform", str(root), "-o", str(out), "-q",
                                       "--center", "featurewise", "--standardize", "featurewise",
                                       "--stats", str(path)])  # fmt: skip
    assert result.exit_code == 1
    assert result.stderr == f"Error: {path}: key accumulators.m2[0]: not a finite number (nan)\n"
    assert not out.exists()


def test_merge_and_export_do_not_pass_bad_numbers_on(good, tmp_path: Path):
    _, stats, data = good
    path = damaged(tmp_path, data, ("accumulators", "max", 1), float("inf"))
    line = f"Error: {path}: key accumulators.max[1]: not a finite number (inf)\n"
    merged = tmp_path / "m.json"
    result = CliRunner().invoke(main, ["fit-stats", "--merge", str(stats), str(path),
                                       "-o", str(merged)])  # fmt: skip
    assert (result.exit_code, result.stderr) == (1, line)
    assert not merged.exists()
    result = CliRunner().invoke(main, ["export-stats", str(path), "--json"])
    assert (result.exit_code, result.stderr, result.stdout) == (1, line, "")


def test_json_nested_200000_deep(tmp_path: Path):
    path = tmp_path / "deep.json"
    path.write_text("[" * 200_000 + "]" * 200_000)
    result = CliRunner().invoke(main, ["export-stats", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (f"Error: {path}: not an imgprep stats file (JSON nested too deeply)\n")


def test_a_5000_digit_integer_is_named_by_its_key(good, tmp_path: Path):
    _, stats, _ = good
    text = stats.read_text()
    path = tmp_path / "digits.json"
    path.write_text(text.replace('"images": 4,', '"images": ' + "9" * 5000 + ",", 1))
    result = CliRunner().invoke(main, ["export-stats", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: key images: an integer of 5,000 digits, more than Python converts to "
        "a number\n"
    )


def test_non_utf8_stats_file(tmp_path: Path):
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"format": "imgprep-stats", "x": "\xe9"}')
    result = CliRunner().invoke(main, ["export-stats", str(path)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {path}: not an imgprep stats file (not UTF-8 text: byte 0xe9 at offset 34)\n"
    )


def test_export_stats_of_an_hdf5_file(good, tmp_path: Path):
    root, _, _ = good
    out = tmp_path / "t.h5"
    assert CliRunner().invoke(main, ["transform", str(root), "-o", str(out), "-q"]).exit_code == 0
    assert h5py.is_hdf5(out)
    result = CliRunner().invoke(main, ["export-stats", str(out)])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {out}: an HDF5 file, not an imgprep stats file (the JSON that fit-stats -o "
        "writes)\n"
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'color = "gr\xffy"\n', "not a TOML config (not UTF-8 text: byte 0xff at offset 11)"),
        (b"zca = 1\n", "key 'zca' must be true or false, got 1"),
        (b"size = [4]\n", "key 'size' must be a string \"WxH\" or [width, height], got [4]"),
        (b'epsilon = "small"\n', "key 'epsilon' must be a number, got 'small'"),
        (b"color = 3\n", "key 'color' must be a string, got 3"),
        (b"a = " + b"[" * 5000 + b"]" * 5000 + b"\n", "invalid TOML (nested too deeply)"),
    ],
    ids=["non-utf8", "zca", "size", "epsilon", "color", "deep"],
)
def test_bad_toml_configs(good, tmp_path: Path, content: bytes, message: str):
    root, _, _ = good
    config = tmp_path / "c.toml"
    config.write_bytes(content)
    args = ["transform", str(root), "-o", str(tmp_path / "o.h5"), "--config", str(config)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr == f"Error: {config}: {message}\n"


def test_pipeline_from_config_refuses_a_stats_that_is_no_path(tmp_path: Path):
    from imgprep.errors import InputError

    config = tmp_path / "c.toml"
    config.write_text('center = "featurewise"\n')
    with pytest.raises(InputError) as info:
        pipeline_from_config(str(config), stats=5)  # type: ignore[arg-type]
    assert str(info.value) == "stats must be a Stats object or a file path, not 5"
