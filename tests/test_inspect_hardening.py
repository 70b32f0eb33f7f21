"""Hostile and unusual inputs of the dataset checks: one line (or the old behaviour), never a
traceback, never an input overwritten."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.cli import main
from imgprep.errors import InputError
from imgprep.groups import GroupRule, read_group_table
from imgprep.stats.file import Stats
from imgprep.transforms.steps import ClipPercentiles
from tests.conftest import stats_of, write_image


@pytest.fixture
def folder(tmp_path: Path, rng) -> Path:
    for label in ("a", "b"):
        for index in range(3):
            write_image(tmp_path / "d" / label / f"{index}.png",
                        rng.integers(0, 256, (6, 7), np.uint8))  # fmt: skip
    return tmp_path / "d"


@pytest.mark.parametrize("which", ["against", "files-from", "groups"])
def test_the_html_report_never_replaces_a_file_the_run_reads(runner, folder, tmp_path, which):
    target = tmp_path / f"{which}.txt"
    if which == "against":
        assert (
            runner.invoke(main, ["fit-stats", str(folder), "-q", "-o", str(target)]).exit_code == 0
        )
        args = [str(folder), "--against", str(target)]
    elif which == "files-from":
        target.write_text(f"{folder / 'a' / '0.png'}\n")
        args = ["--files-from", str(target)]
    else:
        target.write_text("path,group\n" + "".join(
            f"{p.parent.name}/{p.name},{p.stem}\n" for p in folder.rglob("*.png")))  # fmt: skip
        args = [str(folder), "--split", "x=0.5,y=0.5", "--seed", "1", "--groups", str(target)]
    before = target.read_bytes()
    result = runner.invoke(main, ["inspect", *args, "--html", str(target), "-q"])
    assert result.exit_code == 2, result.output
    assert target.read_bytes() == before


def test_hdf5_labels_that_are_not_imgprep_s_are_inspected_as_before(runner, tmp_path, rng):
    for name, labels, attrs in [
        ("onehot.h5", np.eye(2)[[0, 1, 0]], {"class_names": '["a", "b"]'}),
        ("names.h5", np.array([0, 1, 0]), {"class_names": np.array([b"a", b"b"])}),
        ("outside.h5", np.array([0, 7, 0]), {"class_names": '["a", "b"]'}),
    ]:
        with h5py.File(tmp_path / name, "w") as handle:
            handle.create_dataset("images", data=rng.integers(0, 256, (3, 4, 4, 1), np.uint8))
            handle.create_dataset("labels", data=labels)
            for key, value in attrs.items():
                handle.attrs[key] = value
        result = runner.invoke(main, ["inspect", str(tmp_path / name), "--json"])
        assert result.exit_code == 0, (name, result.output)
        assert "classes" not in json.loads(result.stdout)


def test_group_rules_that_give_no_group_are_one_line():
    with pytest.raises(InputError, match="its first group takes no part in the match"):
        GroupRule(pattern="^(cat)?").groups(["dog/1.png"])
    with pytest.raises(InputError, match=r"^g.csv: line 1: not CSV \(field larger"):
        read_group_table(b"a," + b"x" * 200_000 + b"\n", "g.csv")


def test_uniform_images_are_never_near_duplicates(runner, tmp_path):
    write_image(tmp_path / "train" / "black.png", np.full((8, 8), 50, np.uint8))
    write_image(tmp_path / "val" / "grey.png", np.full((8, 8), 100, np.uint8))
    write_image(tmp_path / "val" / "black-copy.png", np.full((8, 8), 50, np.uint8))
    args = ["inspect", f"--input=train={tmp_path / 'train'}", f"--input=val={tmp_path / 'val'}",
            "--fail-on-leakage", "--json", "-q"]  # fmt: skip
    result = runner.invoke(main, args)
    found = json.loads(result.stdout)["duplicates"]
    assert found["near_pairs"] == []
    assert [leak["paths"][0] for leak in found["leaks"]] == [
        str(tmp_path / "val" / "black-copy.png")
    ]
    assert found["leaks"][0]["exact"] is True


def test_hostile_histograms_and_percentile_lists_are_refused_cheaply(rng):
    data = stats_of(rng.integers(0, 65536, (1, 2, 2, 1), dtype=np.uint16)).to_dict()
    acc = data["accumulators"]
    many = 200
    for key in ("min", "max", "sum", "sum_sq", "mean", "m2"):
        acc[key] = acc[key] * many
    acc["channels"] = many
    acc["histogram"]["bins"] = acc["histogram"]["bins"] * many
    for key in ("mean", "std", "min", "max"):
        data[key] = data[key] * many
    data.pop("percentiles")
    data.pop("global")
    with pytest.raises(Exception, match="more than the 4194304 counts a histogram may hold"):
        Stats.from_dict(data, source="s.json")
    data = stats_of(rng.integers(0, 256, (1, 2, 2, 1), dtype=np.uint8)).to_dict()
    data["percentiles"] = {"q": [i / 100 for i in range(2000)]}
    with pytest.raises(Exception, match="2000 percentiles: at most 1000"):
        Stats.from_dict(data, source="s.json")


def test_inspect_of_a_stats_file_shows_the_percentiles_it_lists(runner, folder, tmp_path):
    stats = tmp_path / "p.json"
    runner.invoke(main, ["fit-stats", str(folder), "-q", "-o", str(stats), "--percentiles", "2,98"])
    shown = json.loads(runner.invoke(main, ["inspect", str(stats), "--json"]).stdout)
    assert 2 in shown["percentiles"]["q"] and 98 in shown["percentiles"]["q"]


def test_a_merge_that_would_overflow_64_bits_is_refused(rng):
    first, second = (stats_of(rng.integers(0, 256, (1, 2, 2, 1), np.uint8)) for _ in range(2))
    first.accumulator.count = second.accumulator.count = (1 << 62) + (1 << 61)
    with pytest.raises(InputError, match="more pixels per channel than 64 bits hold"):
        first.merge(second)


def test_clip_bounds_beyond_the_dtype_do_not_wrap():
    step = ClipPercentiles((1.0, 99.0), (-5.0,), (300.0,))
    image = np.array([[[0], [100], [255]]], dtype=np.uint8)
    np.testing.assert_array_equal(step(image), image)


def test_clip_with_zca_is_refused(runner, folder, tmp_path):
    result = runner.invoke(main, ["transform", str(folder), "-o", str(tmp_path / "o.h5"),
                                  "--zca", "--clip-percentiles", "2,98"])  # fmt: skip
    assert result.exit_code == 2
    assert "--clip-percentiles cannot be combined with --zca" in result.stderr


def test_int16_percentile_columns_stay_apart(runner, tmp_path, rng):
    with h5py.File(tmp_path / "i16.h5", "w") as handle:
        handle.create_dataset("images", data=rng.integers(-32768, -30000, (3, 5, 5, 1), np.int16))
    lines = runner.invoke(main, ["inspect", str(tmp_path / "i16.h5")]).stdout.splitlines()
    row = next(line for line in lines if line.startswith("global") and "-3" in line.split()[1])
    assert len(row.split()) == 10  # global + nine percentiles, each its own column


def test_rows_larger_than_the_read_block_are_counted_as_not_profiled(tmp_path, rng):
    from imgprep.summary import summarize_hdf5

    with h5py.File(tmp_path / "big.h5", "w") as handle:
        handle.create_dataset("images", data=rng.integers(0, 256, (4, 9, 9, 1), np.uint8))
    got: list[np.ndarray] = []
    summary = summarize_hdf5(str(tmp_path / "big.h5"), chunk_bytes=40, on_profiles=got.append)
    assert got == [] and summary.unprofiled == 4
    whole = summarize_hdf5(str(tmp_path / "big.h5"), on_profiles=got.append)
    assert whole.unprofiled == 0 and sum(len(rows) for rows in got) == 4
