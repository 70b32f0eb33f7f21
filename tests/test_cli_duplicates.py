"""``imgprep inspect --duplicates``: exact and near duplicates, leakage across splits, the gate."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from imgprep.cli import main


def _scene(rng: np.random.Generator) -> Image.Image:
    canvas = Image.new("RGB", (96, 72), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(6):
        x, y = rng.integers(0, 80, 2)
        w, h = rng.integers(10, 40, 2)
        draw.ellipse((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    return canvas.filter(ImageFilter.GaussianBlur(1.5))


@pytest.fixture
def splits(tmp_path: Path, rng) -> dict[str, Path]:
    """train: 5 scenes; val: a PNG copy of train/0 (as WebP lossless: same pixels), a JPEG of
    train/1 (near), 2 new scenes; test: 2 new scenes, one of them twice."""
    scenes = [_scene(rng) for _ in range(9)]
    folders = {name: tmp_path / name for name in ("train", "val", "test")}
    for folder in folders.values():
        folder.mkdir()
    for index in range(5):
        scenes[index].save(folders["train"] / f"{index}.png")
    scenes[0].save(folders["val"] / "copy.webp", lossless=True)
    scenes[1].save(folders["val"] / "near.jpg", quality=85)
    scenes[5].save(folders["val"] / "a.png")
    scenes[6].save(folders["val"] / "b.png")
    scenes[7].save(folders["test"] / "c.png")
    scenes[7].save(folders["test"] / "c-again.png")
    scenes[8].save(folders["test"] / "d.png")
    return folders


def _args(splits: dict[str, Path]) -> list[str]:
    return [f"--input={name}={path}" for name, path in splits.items()]


def test_json_lists_exact_groups_near_pairs_and_leaks(runner, splits):
    result = runner.invoke(main, ["inspect", *_args(splits), "--duplicates", "--json", "-q"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document["splits"]) == {"train", "val", "test"}
    assert document["splits"]["val"]["images"] == 4
    found = document["duplicates"]
    assert found["images"] == 12 and found["near"] == 4
    train, val, test = (str(p) for p in splits.values())
    assert sorted(map(sorted, found["exact_groups"])) == [
        sorted([f"{test}/c-again.png", f"{test}/c.png"]),
        sorted([f"{train}/0.png", f"{val}/copy.webp"]),
    ]
    leaks = {(tuple(leak["paths"]), leak["exact"]) for leak in found["leaks"]}
    assert leaks == {((f"{val}/copy.webp", f"{train}/0.png"), True),
                     ((f"{val}/near.jpg", f"{train}/1.png"), False)}  # fmt: skip
    near = [pair for pair in found["near_pairs"] if not pair["exact"]]
    assert [sorted(p["paths"]) for p in near] == [sorted([f"{train}/1.png", f"{val}/near.jpg"])]
    assert near[0]["distance"] <= 4 and near[0]["splits"] == ["train", "val"]


def test_table_and_the_leakage_gate(runner, splits):
    args = ["inspect", *_args(splits), "--fail-on-leakage", "-q"]
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    train, val = str(splits["train"]), str(splits["val"])
    failures = [line for line in result.stderr.splitlines() if line.startswith("check failed")]
    assert failures[0] == (
        f"check failed: leakage: val: {val}/copy.webp duplicates train: {train}/0.png (identical)"
    )
    assert failures[1].startswith(
        f"check failed: leakage: val: {val}/near.jpg duplicates train: {train}/1.png ("
    ) and failures[1].endswith(" bits)")
    assert len(failures) == 2
    lines = result.stdout.splitlines()
    assert "split    train" in lines and "split    test" in lines
    assert "exact    2 groups, 4 images (identical decoded pixels)" in lines
    assert any(line.startswith("across splits  2 images duplicate an image of an earlier split;"
                               " 2 of them a 'train' image") for line in lines)  # fmt: skip


def test_no_leakage_passes_the_gate(runner, splits):
    clean = {"train": splits["train"], "test": splits["test"]}
    result = runner.invoke(main, ["inspect", *_args(clean), "--fail-on-leakage", "-q"])
    assert result.exit_code == 0, result.output
    assert "check failed" not in result.stderr


def test_one_folder_with_workers_gives_the_same_report(runner, splits):
    base = ["inspect", str(splits["test"]), "--duplicates", "--json", "-q"]
    one = json.loads(runner.invoke(main, [*base, "-j", "1"]).stdout)["duplicates"]
    two = json.loads(runner.invoke(main, [*base, "-j", "2", "--batch-size", "1"]).stdout)
    assert one == two["duplicates"]
    assert one["exact_groups"] == [[f"{splits['test']}/c-again.png", f"{splits['test']}/c.png"]]
    assert one["cross_split"] == [] and one["leaks"] == []


def test_an_hdf5_file_with_splits_is_checked_split_by_split(runner, splits, tmp_path):
    out = tmp_path / "all.h5"
    args = ["transform", *_args(splits), "-o", str(out), "-q", "--size", "48x36"]
    assert runner.invoke(main, args).exit_code == 0
    result = runner.invoke(main, ["inspect", str(out), "--duplicates", "--json", "-q"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document["splits"]) == {"train", "val", "test"}
    leaks = document["duplicates"]["leaks"]
    assert [leak["splits"] for leak in leaks] == [["val", "train"], ["val", "train"]]
    assert all(path.startswith(("val/images[", "train/images[")) for leak in leaks
               for path in leak["paths"])  # fmt: skip


@pytest.mark.parametrize(
    "args, message",
    [
        (["{train}", "--input", "val={val}"], "Error: give either INPUTS or --input NAME=PATH, "
                                              "not both"),
        (["--input", "a={train}", "--input", "a={val}"],
         "Error: --input names must be unique, got a, a"),
        (["--input", "a={train}", "--input", "b={train}/cat"],
         "Error: inputs overlap: b={train}/cat is inside a={train}; its images would be in two "
         "splits"),
        (["--input", "a={train}", "--split", "x=0.5,y=0.5", "--seed", "1"],
         "Error: --split divides one input; it cannot be combined with --input"),
        (["--input", "a={train}", "--input", "b=x.h5"],
         "Error: --input and --split take folders and image files, not x.h5: inspect an HDF5 "
         "file alone, its splits are read from it"),
        (["--input", "bad"], "Error: invalid --input 'bad': expected NAME=PATH, e.g. "
                             "train=data/train"),
    ],
)  # fmt: skip
def test_bad_split_options(runner, splits, args, message):
    args = [a.format(train=splits["train"], val=splits["val"]) for a in args]
    result = runner.invoke(main, ["inspect", *args, "--duplicates"])
    expected = message.format(train=splits["train"])
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == expected


def test_max_listed_bounds_the_table(runner, tmp_path, rng):
    image = np.asarray(_scene(rng))
    for index in range(5):
        Image.fromarray(image).save(tmp_path / f"{index}.png")
    result = runner.invoke(main, ["inspect", str(tmp_path), "--duplicates", "--max-listed", "0"])
    assert "exact    1 groups, 5 images (identical decoded pixels)" in result.stdout
    assert "  ... and 1 more (--max-listed, --json)" in result.stdout
