"""``imgprep inspect --against``: the drift table, its JSON, the gates and the refusals."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest

from imgprep.cli import main
from tests.conftest import write_image


def _folder(root: Path, images: np.ndarray) -> Path:
    for index, image in enumerate(images):
        write_image(root / f"{index:02d}.png", image)
    return root


@pytest.fixture
def drifted(tmp_path: Path, rng, runner) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    """Training statistics of 6 grey images, and a folder of brighter, flatter ones."""
    train = rng.integers(0, 256, (6, 10, 9, 1), dtype=np.uint8)
    val = (train.astype(np.int64) // 2 + 100).astype(np.uint8)
    _folder(tmp_path / "train", train[..., 0])
    _folder(tmp_path / "val", val[..., 0])
    stats = tmp_path / "train.json"
    result = runner.invoke(main, ["fit-stats", str(tmp_path / "train"), "-q", "-o", str(stats)])
    assert result.exit_code == 0, result.output
    return stats, tmp_path / "val", train.reshape(-1), val.reshape(-1)


def _expected_shift(data: np.ndarray, reference: np.ndarray) -> float:
    data, reference = data.astype(np.float64), reference.astype(np.float64)
    return (data.mean() - reference.mean()) / reference.std()


def test_json_has_the_drift_of_each_channel(runner, drifted):
    stats, val, train, data = drifted
    result = runner.invoke(main, ["inspect", str(val), "--against", str(stats), "--json", "-q"])
    assert result.exit_code == 0, result.output
    drift = json.loads(result.stdout)["drift"]
    assert drift["against"] == str(stats)
    rows = {row["name"]: row for row in drift["channels"]}
    assert set(rows) == {"L", "global"}
    assert rows["L"]["mean_shift"] == pytest.approx(_expected_shift(data, train), rel=1e-12)
    assert rows["L"]["std_ratio"] == pytest.approx(data.std() / train.std(), rel=1e-12)
    assert rows["L"]["reference_mean"] == pytest.approx(train.mean(), rel=1e-15)
    assert 0 < rows["L"]["ks"] <= 1 and rows["L"]["psi"] > 0.25


def test_table_has_one_row_per_channel(runner, drifted):
    stats, val, train, data = drifted
    result = runner.invoke(main, ["inspect", str(val), "--against", str(stats), "-q"])
    lines = result.stdout.splitlines()
    start = lines.index(f"drift against {stats}")
    assert lines[start + 1].split()[:4] == ["channel", "mean", "train", "mean"]
    row = lines[start + 2].split()
    assert row[0] == "L" and float(row[3]) == pytest.approx(_expected_shift(data, train), abs=1e-4)


def test_gates_print_one_line_per_failure_and_exit_1(runner, drifted):
    stats, val, train, data = drifted
    args = ["inspect", str(val), "--against", str(stats), "-q", "--max-mean-shift", "0.1",
            "--max-std-ratio", "1.5", "--max-ks", "0.2", "--max-psi", "0.25"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 1
    failures = [line for line in result.stderr.splitlines() if line.startswith("check failed")]
    shift = _expected_shift(data, train)
    ratio = data.std() / train.std()
    assert f"check failed: drift L: mean shift {shift:+.4g} training stds, limit ±0.1" in failures
    assert f"check failed: drift L: std ratio {ratio:.4g}, limit 0.6667 to 1.5" in failures
    assert any(line.startswith("check failed: drift L: KS distance ") for line in failures)
    assert any(line.startswith("check failed: drift global: PSI ") for line in failures)
    assert len(failures) == 8  # four measures, L and global


def test_the_training_data_against_itself_passes_every_gate(runner, drifted, tmp_path: Path):
    stats = drifted[0]
    args = ["inspect", str(tmp_path / "train"), "--against", str(stats), "-q", "--max-mean-shift",
            "0", "--max-std-ratio", "1", "--max-ks", "0", "--max-psi", "0"]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "check failed" not in result.stderr


@pytest.mark.parametrize(
    "args, message",
    [
        (["--max-ks", "0.1"], "Error: --max-ks need --against STATS (the training statistics)"),
        (["--against", "{stats}", "--max-std-ratio", "0.5"],
         "Error: std ratio limit must be a finite number >= 1, not 0.5"),
        (["--against", "{stats}", "--max-ks", "2"],
         "Error: ks limit must be at most 1 (a distance between CDFs), not 2.0"),
    ],
)  # fmt: skip
def test_bad_limits_are_usage_errors(runner, drifted, args, message):
    stats, val, _, _ = drifted
    args = [a.replace("{stats}", str(stats)) for a in args]
    result = runner.invoke(main, ["inspect", str(val), *args])
    assert result.exit_code == 2 and result.stderr.splitlines()[-1] == message


def test_data_decoded_otherwise_is_refused(runner, drifted):
    stats, val, _, _ = drifted
    result = runner.invoke(main, ["inspect", str(val), "--against", str(stats), "--size", "5x5"])
    assert result.exit_code == 2
    assert result.stderr.startswith(f"Error: {val} and {stats} were prepared differently: ")


def test_another_bit_depth_is_refused(runner, drifted, tmp_path: Path, rng):
    stats = drifted[0]
    deep = rng.integers(0, 65536, (4, 5), dtype=np.uint16)
    write_image(tmp_path / "deep" / "a.png", deep)
    result = runner.invoke(main, ["inspect", str(tmp_path / "deep"), "--against", str(stats)])
    assert result.exit_code == 2
    assert "holds uint16 pixels" in result.stderr and "describes uint8 pixels" in result.stderr


def test_a_stats_file_against_a_stats_file(runner, drifted, tmp_path: Path):
    stats, val, train, data = drifted
    val_stats = tmp_path / "val.json"
    runner.invoke(main, ["fit-stats", str(val), "-q", "-o", str(val_stats)])
    result = runner.invoke(main, ["inspect", str(val_stats), "--against", str(stats), "--json"])
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert document["kind"] == "stats" and document["images"] == 6
    row = document["drift"]["channels"][0]
    assert row["mean_shift"] == pytest.approx(_expected_shift(data, train), rel=1e-12)
    decode = runner.invoke(main, ["inspect", str(val_stats), "--color", "rgb"])
    assert decode.exit_code == 2
    assert "--color cannot be used with a stats file" in decode.stderr


def test_an_hdf5_output_of_pixels_compares_and_a_normalized_one_is_refused(
    runner, drifted, tmp_path: Path
):
    stats, val, train, data = drifted
    raw, normalized = tmp_path / "val.h5", tmp_path / "val-std.h5"
    assert runner.invoke(main, ["transform", str(val), "-o", str(raw), "-q"]).exit_code == 0
    result = runner.invoke(main, ["inspect", str(raw), "--against", str(stats), "--json", "-q"])
    row = json.loads(result.stdout)["drift"]["channels"][0]
    assert row["mean_shift"] == pytest.approx(_expected_shift(data, train), rel=1e-12)
    args = ["transform", str(val), "-o", str(normalized), "-q", "--stats", str(stats),
            "--standardize", "featurewise"]  # fmt: skip
    assert runner.invoke(main, args).exit_code == 0
    refused = runner.invoke(main, ["inspect", str(normalized), "--against", str(stats)])
    assert refused.exit_code == 2
    assert "its images are stored after featurewise_standardize" in refused.stderr


def test_an_hdf5_file_without_a_pipeline_is_compared_as_stored_with_a_note(
    runner, drifted, tmp_path: Path
):
    stats, _, train, _ = drifted
    with h5py.File(tmp_path / "plain.h5", "w") as handle:
        handle.create_dataset("images", data=train.reshape(6, 10, 9, 1))
    result = runner.invoke(main, ["inspect", str(tmp_path / "plain.h5"), "--against", str(stats),
                                  "--max-ks", "0"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "records no pre-processing; compared as stored" in result.stderr


def test_ks_limit_against_a_version_1_file_is_one_line(runner, drifted, tmp_path: Path):
    stats, val, _, _ = drifted
    old = json.loads(stats.read_text())
    old["format_version"] = 1
    del old["percentiles"], old["accumulators"]["histogram"]
    (tmp_path / "v1.json").write_text(json.dumps(old))
    args = ["inspect", str(val), "--against", str(tmp_path / "v1.json"), "-q"]
    table = runner.invoke(main, args)
    assert table.exit_code == 0 and "KS and PSI need the histograms of both" in table.stdout
    result = runner.invoke(main, [*args, "--max-ks", "0.5"])
    assert result.exit_code == 1
    assert result.stderr.splitlines()[-1] == (
        "Error: the ks limit needs the exact histograms of both sides (8- or 16-bit pixels; "
        "stats files of format version 2): at least one has none"
    )
