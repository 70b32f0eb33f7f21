"""``imgprep fit-stats`` through the CLI: outputs, inputs, exit codes, errors, atomic writes."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imgprep.cli import main
from tests.conftest import listing, reference_stats


def test_json_goes_to_stdout_and_logs_to_stderr(runner, dataset):
    root, arrays = dataset
    result = runner.invoke(main, ["fit-stats", str(root)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    ref = reference_stats(list(arrays.values()))
    np.testing.assert_allclose(data["mean"], ref["mean"], rtol=1e-12)
    assert data["global"]["std"] == pytest.approx(ref["global_std"], rel=1e-12)
    assert "10 images found" in result.stderr and "10 processed, 0 skipped" in result.stderr


def test_quiet_prints_nothing_on_stderr(runner, dataset):
    root, _ = dataset
    result = runner.invoke(main, ["fit-stats", str(root), "-q"])
    assert result.exit_code == 0 and result.stderr == ""


def test_output_file_is_byte_identical_for_any_workers(runner, dataset, tmp_path: Path):
    root, _ = dataset
    outputs = []
    for index, args in enumerate([["-j", "1"], ["-j", "2", "--batch-size", "3"], ["-j", "0"]]):
        out = tmp_path / f"s{index}.json"
        result = runner.invoke(main, ["fit-stats", str(root), "-o", str(out), *args])
        assert result.exit_code == 0, result.output
        assert result.stdout == ""
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1] == outputs[2]


def test_paths_from_stdin_and_files_from(runner, dataset, tmp_path: Path):
    root, _ = dataset
    files = sorted(str(p) for p in root.rglob("*.png"))
    from_stdin = runner.invoke(main, ["fit-stats", "-"], input="\n".join(files) + "\n")
    assert from_stdin.exit_code == 0, from_stdin.output
    list_file = tmp_path / "list.txt"
    list_file.write_text("\n".join(files))
    from_file = runner.invoke(main, ["fit-stats", "--files-from", str(list_file)])
    assert json.loads(from_stdin.stdout)["mean"] == json.loads(from_file.stdout)["mean"]
    assert json.loads(from_file.stdout)["images"] == 10


def test_decode_options_are_recorded(runner, dataset):
    root, _ = dataset
    args = ["--color", "grayscale", "--size", "8x6", "--resize-mode", "fit", "--pad-value", "3"]
    result = runner.invoke(main, ["fit-stats", str(root), *args, "--resample", "box"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["preprocessing"] == {
        "color": "grayscale",
        "size": [8, 6],
        "resize_mode": "fit",
        "resample": "box",
        "pad_value": 3,
        "exif": "apply",
        "jpeg_draft": True,
    }
    assert data["image_shape"] == [6, 8, 1]


def test_example_dataset(runner):
    result = runner.invoke(main, ["fit-stats", "--example", "mnist", "-q"])
    assert result.exit_code == 0
    data = json.loads(result.stdout)
    assert data["images"] == 300 and data["image_shape"] == [28, 28, 1]


def test_corrupt_file_stops_with_one_line_and_no_output(runner, dataset, tmp_path: Path):
    root, _ = dataset
    bad = root / "cat" / "000a.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\x00" * 20)
    out = tmp_path / "out" / "stats.json"
    out.parent.mkdir()
    result = runner.invoke(main, ["fit-stats", str(root), "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1].startswith(f"Error: {bad}: ")
    assert len(result.stderr.splitlines()) == 1
    assert "Traceback" not in result.output
    assert listing(out.parent) == []


def test_skip_lists_every_skipped_file_and_records_them(runner, dataset, tmp_path: Path):
    root, _ = dataset
    (root / "cat" / "zero.png").write_bytes(b"")
    (root / "dog" / "text.jpg").write_text("not an image")
    out = tmp_path / "stats.json"
    result = runner.invoke(
        main, ["fit-stats", str(root), "--on-error", "skip", "-q", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.stderr.splitlines() == [
        f"skipped: {root / 'cat' / 'zero.png'}: empty file (0 bytes)",
        f"skipped: {root / 'dog' / 'text.jpg'}: not an image imgprep reads "
        "(it reads PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM/PBM)",
    ]
    data = json.loads(out.read_text())
    assert data["images"] + len(data["skipped"]) == data["provenance"]["files"] == 12


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["/no/such/dir"], "Error: input not found: /no/such/dir"),
        ([], "Error: no input given"),
        (["--size", "big"], "Invalid value for '--size'"),
        (["--zca", "--rescale", "1/0"], "Invalid value for '--rescale'"),
        (["--color", "purple"], "Invalid value for '--color'"),
        (["--workers", "-1"], "Invalid value for '--workers'"),
    ],
)
def test_usage_errors_exit_2(runner, args, message):
    result = runner.invoke(main, ["fit-stats", *args])
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output


def test_empty_directory_is_a_usage_error(runner, tmp_path: Path):
    (tmp_path / "readme.txt").write_text("x")
    result = runner.invoke(main, ["fit-stats", str(tmp_path)])
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: no images found in {tmp_path} (1 non-image or hidden files ignored)"
    )


def test_output_in_missing_directory_is_a_usage_error(runner, dataset, tmp_path: Path):
    root, _ = dataset
    result = runner.invoke(main, ["fit-stats", str(root), "-o", str(tmp_path / "no" / "s.json")])
    assert result.exit_code == 2
    assert "does not exist" in result.stderr


def test_interrupt_leaves_no_file(runner, dataset, tmp_path: Path, monkeypatch):
    root, _ = dataset

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("imgprep.io.atomic.os.fsync", interrupted)
    result = runner.invoke(main, ["fit-stats", str(root), "-q", "-o", str(tmp_path / "s.json")])
    assert result.exit_code == 130
    assert "Interrupted" in result.stderr
    assert not (tmp_path / "s.json").exists()
    assert not any(name.endswith((".json", ".tmp")) for name in listing(tmp_path))


def test_merge_files(runner, tmp_path: Path, rng):
    from tests.conftest import make_dataset

    make_dataset(tmp_path / "a", rng, classes=("k",), per_class=3)
    make_dataset(tmp_path / "b", rng, classes=("k",), per_class=4)
    paths = []
    for name in ("a", "b"):
        out = tmp_path / f"{name}.json"
        runner.invoke(main, ["fit-stats", str(tmp_path / name), "-q", "-o", str(out)])
        paths.append(str(out))
    merged = runner.invoke(main, ["fit-stats", "--merge", *paths, "-q"])
    whole = runner.invoke(main, ["fit-stats", str(tmp_path / "a"), str(tmp_path / "b"), "-q"])
    assert merged.exit_code == 0, merged.output
    m, w = json.loads(merged.stdout), json.loads(whole.stdout)
    assert m["accumulators"] == w["accumulators"]
    assert m["mean"] == w["mean"] and m["std"] == w["std"] and m["images"] == 7


def test_merge_usage_errors(runner, tmp_path: Path):
    result = runner.invoke(main, ["fit-stats", "--merge", "a.json"])
    assert result.exit_code == 2 and "at least two stats files" in result.stderr
    result = runner.invoke(main, ["fit-stats", "--merge", "a.json", "b.json", "--color", "rgb"])
    assert result.exit_code == 2 and "--color cannot be used with --merge" in result.stderr
    result = runner.invoke(main, ["fit-stats", "--merge", "a.json", str(tmp_path / "b.json")])
    assert result.exit_code == 2 and "Error: stats file not found: a.json" in result.stderr
    bad = tmp_path / "bad.json"
    bad.write_text("{")
    result = runner.invoke(main, ["fit-stats", "--merge", str(bad), "a.json"])
    assert result.exit_code == 1 and "not valid JSON" in result.stderr


def test_merge_refuses_options_without_effect(runner):
    result = runner.invoke(main, ["fit-stats", "--merge", "a.json", "b.json", "-j", "2"])
    assert result.exit_code == 2 and "--workers cannot be used with --merge" in result.stderr


def test_settings_without_effect_do_not_block_a_merge(runner, tmp_path: Path, rng):
    from tests.conftest import make_dataset

    make_dataset(tmp_path / "a", rng, classes=("k",), per_class=2)
    make_dataset(tmp_path / "b", rng, classes=("k",), per_class=2)
    one = tmp_path / "1.json"
    two = tmp_path / "2.json"
    runner.invoke(main, ["fit-stats", str(tmp_path / "a"), "-q", "-o", str(one)])
    runner.invoke(
        main, ["fit-stats", str(tmp_path / "b"), "-q", "-o", str(two), "--pad-value", "9"]
    )
    merged = runner.invoke(main, ["fit-stats", "--merge", str(one), str(two), "-q"])
    assert merged.exit_code == 0, merged.output
    assert json.loads(merged.stdout)["images"] == 4


def test_no_jpeg_draft_is_recorded(runner, dataset):
    root, _ = dataset
    result = runner.invoke(main, ["fit-stats", str(root), "-q", "--no-jpeg-draft", "--size", "5x5"])
    assert result.exit_code == 0
    assert json.loads(result.stdout)["preprocessing"]["jpeg_draft"] is False
