"""Class balance per split, size and brightness outliers, and --expect-min-per-class."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imgprep.balance import (
    ASPECT_EDGES,
    ASPECT_LABELS,
    SplitClasses,
    all_splits,
    class_counts,
    find_outliers,
    min_per_class_failures,
)
from imgprep.cli import main
from tests.conftest import write_image


def test_counts_imbalance_and_missing_classes():
    counts = class_counts([0, 0, 1, 0, None, 0], ["cat", "dog"], ["cat", "dog", "emu"])
    assert counts.counts == {"cat": 4, "dog": 1, "emu": 0}
    assert counts.imbalance == 4.0 and counts.missing == ["emu"]
    splits = all_splits({"train": {"cat": 3, "dog": 1}, "val": {"cat": 2}, "test": None})
    assert splits == {"train": SplitClasses({"cat": 3, "dog": 1}),
                      "val": SplitClasses({"cat": 2, "dog": 0})}  # fmt: skip
    assert min_per_class_failures(splits, 2) == [
        "train: class 'dog' has 1 images, expected at least 2",
        "val: class 'dog' has 0 images, expected at least 2",
    ]


def test_outliers_against_their_definitions(rng):
    heights = np.array([10, 12, 10, 11, 40, 3, 10, 10])
    widths = np.array([10, 10, 12, 11, 40, 3, 30, 5])
    means = rng.uniform(50, 200, len(heights))
    constant = np.zeros(len(heights), dtype=bool)
    constant[3] = True
    found = find_outliers(heights, widths, means, constant)
    area = heights * widths
    median = np.percentile(area, 50, method="inverted_cdf")
    assert found.large == np.flatnonzero(area > 4 * median).tolist() == [4]
    assert found.small == np.flatnonzero(area < median / 4).tolist() == [5]
    assert found.constant == [3]
    low, high = np.percentile(means, [0.1, 99.9], method="inverted_cdf")
    assert found.mean_bounds == (low, high)
    assert found.dark == np.flatnonzero(means < low).tolist()
    assert found.height == (3, 10, 40) and found.width == (3, 10, 40)
    aspect = widths / heights
    assert (
        found.aspect_histogram
        == np.bincount(
            np.searchsorted(ASPECT_EDGES, aspect, side="right"), minlength=len(ASPECT_LABELS)
        ).tolist()
    )
    assert found.aspect_histogram[ASPECT_LABELS.index("1 (square)")] == 4


def _labelled(root: Path, rng, counts: dict[str, int], size: tuple[int, int] = (8, 9)) -> None:
    for name, count in counts.items():
        for index in range(count):
            write_image(root / name / f"{index}.png", rng.integers(0, 256, (*size, 3), np.uint8))


def test_inspect_shows_classes_per_split_and_gates_on_them(runner, tmp_path, rng):
    _labelled(tmp_path / "train", rng, {"cat": 4, "dog": 2})
    _labelled(tmp_path / "val", rng, {"cat": 2})
    args = ["inspect", f"--input=train={tmp_path / 'train'}", f"--input=val={tmp_path / 'val'}",
            "-q", "--expect-min-per-class", "2"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        "check failed: val: class 'dog' has 0 images, expected at least 2"
    ]
    lines = result.stdout.splitlines()
    assert "classes  2, imbalance 2 (largest / smallest)" in lines
    assert "missing  dog" in lines
    document = json.loads(runner.invoke(main, [*args, "--json"]).stdout)
    assert document["splits"]["train"]["classes"] == {
        "counts": {"cat": 4, "dog": 2},
        "imbalance": 2.0,
        "missing": [],
    }
    assert document["splits"]["val"]["classes"]["missing"] == ["dog"]


def test_outliers_on_the_command_line(runner, tmp_path, rng):
    for index in range(6):
        write_image(tmp_path / "d" / f"{index}.png", rng.integers(0, 256, (10, 10), np.uint8))
    write_image(tmp_path / "d" / "big.png", rng.integers(0, 256, (40, 40), np.uint8))
    write_image(tmp_path / "d" / "blank.png", np.full((10, 10), 7, np.uint8))
    result = runner.invoke(main, ["inspect", str(tmp_path / "d"), "--outliers", "--json", "-q"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)["outliers"]
    assert found["large"] == [str(tmp_path / "d" / "big.png")]
    assert found["constant"] == [str(tmp_path / "d" / "blank.png")]
    assert found["height"] == [10, 10, 40] and found["images"] == 8
    table = runner.invoke(main, ["inspect", str(tmp_path / "d"), "--outliers", "-q"]).stdout
    assert "large    1 images (more than 4x the median area)" in table.splitlines()


def test_hdf5_splits_have_their_class_counts(runner, tmp_path, rng):
    _labelled(tmp_path / "data", rng, {"a": 6, "b": 4})
    out = tmp_path / "o.h5"
    args = ["transform", str(tmp_path / "data"), "-o", str(out), "-q",
            "--split", "train=0.5,val=0.5", "--seed", "1"]  # fmt: skip
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, ["inspect", str(out), "--dataset", "val/images", "--json"])
    assert json.loads(result.stdout)["classes"]["counts"] == {"a": 3, "b": 2}


def test_min_per_class_without_labels_is_one_error(runner, tmp_path, rng):
    write_image(tmp_path / "x.png", rng.integers(0, 256, (4, 4), np.uint8))
    result = runner.invoke(main, ["inspect", str(tmp_path), "--expect-min-per-class", "1"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: --expect-min-per-class needs labelled images: class folders, or an HDF5 split "
        "with labels and class_names"
    )


@pytest.mark.parametrize("value", ["0", "x"])
def test_bad_minimum_is_a_usage_error(runner, tmp_path, value):
    result = runner.invoke(main, ["inspect", str(tmp_path), "--expect-min-per-class", value])
    assert result.exit_code == 2
