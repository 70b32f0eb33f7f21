"""Issue 12, section 5, item 1: a stats file of another bit depth or channel count is refused
(exit 2, before anything is written), and so is a later image that differs from it."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import write_image


def cli(runner: CliRunner, *args: str) -> object:
    return runner.invoke(main, [*args, "-q"])


def gray8(root: Path, rng: np.random.Generator, count: int = 3) -> list[np.ndarray]:
    arrays = [rng.integers(0, 256, (5, 4), dtype=np.uint8) for _ in range(count)]
    for index, array in enumerate(arrays):
        write_image(root / f"{index}.png", array)
    return arrays


def test_stats_of_16_bit_pixels_are_refused_on_8_bit_images(runner, tmp_path: Path, rng):
    write_image(tmp_path / "gray16.png", rng.integers(0, 65536, (5, 4), dtype=np.uint16))
    stats = tmp_path / "g16.json"
    assert cli(runner, "fit-stats", str(tmp_path / "gray16.png"), "-o", str(stats)).exit_code == 0
    gray8(tmp_path / "digits", rng)
    out = tmp_path / "out.h5"
    for extra in ([], ["--allow-stats-mismatch"]):  # never meaningful: not allowed by it
        args = ["--stats", str(stats), "--center", "featurewise", *extra]
        result = cli(runner, "transform", str(tmp_path / "digits"), "-o", str(out), *args)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == (
            f"Error: {tmp_path / 'digits' / '0.png'}: pixels are uint8 but the statistics were "
            "computed on uint16 pixels, another scale (--allow-stats-mismatch does not change "
            "that); compute them with fit-stats on images of this depth, or pass the same "
            "--bit-depth to both commands"
        )
        assert not out.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == ["digits", "g16.json", "gray16.png"]


def test_stats_of_another_channel_count_are_refused_before_the_run(runner, tmp_path: Path, rng):
    write_image(tmp_path / "rgb/a.png", rng.integers(0, 256, (5, 4, 3), dtype=np.uint8))
    stats = tmp_path / "rgb.json"
    assert cli(runner, "fit-stats", str(tmp_path / "rgb"), "-o", str(stats)).exit_code == 0
    images = gray8(tmp_path / "digits", rng)
    out = tmp_path / "out.h5"
    line = (
        f"Error: {tmp_path / 'digits' / '0.png'}: pixels have 1 channel(s) but the statistics "
        "were computed on 3; compute them with the same --color, or apply one global value "
        "(--stats-scope global --allow-stats-mismatch)"
    )
    base = ["transform", str(tmp_path / "digits"), "-o", str(out), "--stats", str(stats)]
    for extra in ([], ["--allow-stats-mismatch"]):  # exit 1 at decode time before
        result = cli(runner, *base, "--center", "featurewise", *extra)
        assert result.exit_code == 2, result.output
        assert result.stderr.strip() == line
        assert not out.exists()
    # One global value is defined for any channel count: that is what the option allows.
    forced = [*base, "--center", "featurewise", "--stats-scope", "global", "--allow-stats-mismatch"]
    assert cli(runner, *forced).exit_code == 0
    mean = json.loads(stats.read_text())["global"]["mean"]
    with h5py.File(out) as f:
        expected = np.stack([image[:, :, None] - np.float64(mean) for image in images])
        np.testing.assert_array_equal(f["images"][:], expected.astype(np.float32))


def test_a_later_image_of_another_depth_is_refused_during_the_run(runner, tmp_path: Path, rng):
    images = gray8(tmp_path / "digits", rng)
    stats = tmp_path / "s.json"
    assert cli(runner, "fit-stats", str(tmp_path / "digits"), "-o", str(stats)).exit_code == 0
    odd = tmp_path / "digits" / "1.png"
    write_image(odd, rng.integers(300, 65536, (5, 4), dtype=np.uint16))
    out = tmp_path / "out.h5"
    base = ["transform", str(tmp_path / "digits"), "-o", str(out), "--stats", str(stats)]
    base += ["--center", "featurewise", "--allow-stats-mismatch"]
    reason = (
        "pixels are uint16 but the statistics were computed on uint8 pixels, another scale "
        "(--allow-stats-mismatch does not change that); compute them with fit-stats on images "
        "of this depth, or pass the same --bit-depth to both commands"
    )
    stopped = cli(runner, *base)
    assert stopped.exit_code == 1
    assert stopped.stderr.strip() == f"Error: {odd}: {reason}"
    assert not out.exists()
    skipped = cli(runner, *base, "--on-error", "skip")
    assert skipped.exit_code == 0
    assert skipped.stderr.strip() == f"skipped: {odd}: {reason}"
    mean = json.loads(stats.read_text())["mean"][0]
    with h5py.File(out) as f:
        assert [p.decode() for p in f["paths"][:]] == ["0.png", "2.png"]
        expected = np.stack([images[i][:, :, None] - np.float64(mean) for i in (0, 2)])
        np.testing.assert_array_equal(f["images"][:], expected.astype(np.float32))
