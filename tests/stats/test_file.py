"""The stats file: format, Python API, merging, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import imgprep
from imgprep.config import DecodeSettings
from imgprep.errors import InputError, StatsFileError
from imgprep.io.stats_io import read_stats
from imgprep.run.stats_pass import compute_stats
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from tests.conftest import make_dataset, reference_stats


def test_file_has_the_documented_keys_and_loads_as_numpy(dataset, tmp_path: Path):
    root, arrays = dataset
    path = tmp_path / "stats.json"
    imgprep.write_stats(compute_stats([str(root)]), str(path))
    data = json.loads(path.read_text())
    assert list(data) == [
        "format", "format_version", "imgprep_version", "inputs", "preprocessing",
        "channel_names", "dtype", "image_shape", "images", "pixels", "mean", "std", "min",
        "max", "global", "percentiles", "accumulators", "provenance", "skipped",
    ]  # fmt: skip
    assert data["format"] == "imgprep-stats" and data["format_version"] == 2
    assert data["imgprep_version"] == imgprep.__version__
    assert data["preprocessing"]["color"] == "keep"
    assert data["channel_names"] == ["R", "G", "B"]
    assert data["pixels"] == 10 * 12 * 10
    assert set(data["global"]) == {"count", "mean", "std", "min", "max"}
    loaded = imgprep.read_stats(str(path))
    ref = reference_stats(list(arrays.values()))
    assert isinstance(loaded.mean, np.ndarray) and loaded.mean.dtype == np.float64
    np.testing.assert_allclose(loaded.mean, ref["mean"], rtol=1e-12)
    np.testing.assert_allclose(loaded.std, ref["std"], rtol=1e-12)
    assert loaded.to_json() == path.read_text()


def test_merge_of_disjoint_parts_is_bit_identical_to_one_pass(tmp_path: Path, rng):
    a = make_dataset(tmp_path / "a", rng, classes=("x",), per_class=4)
    b = make_dataset(tmp_path / "b", rng, classes=("x",), per_class=3)
    assert a and b
    whole = compute_stats([str(tmp_path / "a"), str(tmp_path / "b")])
    merged = compute_stats([str(tmp_path / "a")]).merge(compute_stats([str(tmp_path / "b")]))
    assert merged.to_dict()["accumulators"] == whole.to_dict()["accumulators"]
    assert merged.mean.tolist() == whole.mean.tolist()
    assert merged.std.tolist() == whole.std.tolist()
    assert merged.provenance["files"] == 7
    assert len(merged.provenance["merged_from"]) == 2


def test_float_merge_is_within_1e_12_of_one_pass(rng):
    parts = [[rng.normal(5, 2, (6, 6, 3)).astype(np.float32) for _ in range(n)] for n in (3, 5)]
    stats = []
    for part in parts:
        acc = MomentAccumulator()
        acc.update(part)
        stats.append(Stats(acc, dtype="float32", provenance={"files_sha256": str(len(part))}))
    merged = stats[0].merge(stats[1])
    whole = reference_stats(parts[0] + parts[1])
    np.testing.assert_allclose(merged.mean, whole["mean"], rtol=1e-12)
    np.testing.assert_allclose(merged.std, whole["std"], rtol=1e-12)


def test_merge_refuses_different_preprocessing(dataset):
    root, _ = dataset
    gray = compute_stats([str(root)], settings=DecodeSettings(color="grayscale"))
    rgb = compute_stats([str(root)], settings=DecodeSettings(color="rgb"))
    with pytest.raises(InputError, match="different pre-processing: color=grayscale"):
        gray.merge(rgb)


def test_merge_refuses_the_same_files_twice(dataset):
    root, _ = dataset
    stats = compute_stats([str(root)])
    with pytest.raises(InputError, match="same data twice"):
        stats.merge(compute_stats([str(root)]))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "not valid JSON"),
        ('{"format": "something-else"}', "not an imgprep stats file"),
        ('{"format": "imgprep-stats", "format_version": 99}', "newer than this imgprep"),
        ('{"format": "imgprep-stats", "format_version": 1}', "missing key"),
    ],
)
def test_bad_stats_files_are_named(tmp_path: Path, content: str, message: str):
    path = tmp_path / "s.json"
    path.write_text(content)
    with pytest.raises(StatsFileError, match=message) as info:
        read_stats(str(path))
    assert str(path) in str(info.value)


def test_missing_stats_file_is_an_input_error(tmp_path: Path):
    with pytest.raises(InputError, match="stats file not found"):
        read_stats(str(tmp_path / "none.json"))


def test_decode_settings_round_trip_and_validation():
    settings = DecodeSettings(color="rgb", size=(32, 16), resize_mode="fit", pad_value=3.5)
    assert DecodeSettings.from_dict(json.loads(json.dumps(settings.to_dict()))) == settings
    with pytest.raises(InputError, match="invalid color 'purple'"):
        DecodeSettings(color="purple")
    with pytest.raises(InputError, match="unknown decode setting"):
        DecodeSettings.from_dict({"colour": "rgb"})


def test_same_names_sizes_and_times_but_other_pixels_merge(tmp_path: Path, rng):
    from tests.conftest import write_image

    for name in ("a", "b"):
        path = write_image(
            tmp_path / name / "x.bmp", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8)
        )
        import os

        os.utime(path, ns=(10**18, 10**18))
    a, b = compute_stats([str(tmp_path / "a")]), compute_stats([str(tmp_path / "b")])
    assert a.provenance["files_sha256"] == b.provenance["files_sha256"]
    assert a.merge(b).images == 2


CORRUPTIONS = [
    (("accumulators", "count"), 0, "must be positive"),
    (("accumulators", "sum"), [1, 2], "has 2 values for 3 channels"),
    (("accumulators", "channels"), "3", "positive integer"),
    (("accumulators", "exact"), "yes", "true or false"),
    (("preprocessing", "size"), "ab", "invalid size"),
    (("preprocessing",), 5, "must be an object"),
    (("preprocessing", "pad_value"), "x", "invalid pad_value"),
    (("provenance",), [], "must be an object"),
    (("provenance", "merged_from"), [1, 2], "list of objects"),
    (("inputs",), 7, "must be a list"),
    (("format_version",), "1", "invalid format_version"),
    (("format_version",), 0, "invalid format_version"),
]


@pytest.mark.parametrize(("keys", "value", "message"), CORRUPTIONS)
def test_damaged_stats_files_are_one_clear_error(dataset, tmp_path: Path, keys, value, message):
    root, _ = dataset
    data = compute_stats([str(root)]).to_dict()
    target = data
    for key in keys[:-1]:
        target = target[key]
    target[keys[-1]] = value
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(data))
    with pytest.raises(StatsFileError, match=message) as info:
        read_stats(str(path))
    assert str(info.value).startswith(str(path))
