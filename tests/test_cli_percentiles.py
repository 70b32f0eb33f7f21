"""Exact percentiles on the command line: ``inspect`` (table, JSON, HDF5) and ``fit-stats``."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

from imgprep.cli import main
from tests.conftest import write_image

DEFAULT = [0.1, 1, 5, 25, 50, 75, 95, 99, 99.9]


def _numpy(values: np.ndarray, q) -> list[int]:
    return [int(v) for v in np.percentile(values, q, method="inverted_cdf")]


def _folder(tmp_path: Path, rng) -> tuple[Path, np.ndarray]:
    images = rng.integers(0, 256, (4, 9, 8, 3), dtype=np.uint8)
    images[0, 0, 0] = 0  # a value present in every channel at both ends
    images[1, 0, 0] = 255
    for index, image in enumerate(images):
        write_image(tmp_path / "data" / f"{index}.png", image)
    return tmp_path / "data", images.reshape(-1, 3)


def test_inspect_table_has_the_exact_percentiles_of_each_channel_and_of_all(
    runner, tmp_path: Path, rng
):
    folder, flat = _folder(tmp_path, rng)
    result = runner.invoke(main, ["inspect", str(folder), "-q", "--percentiles", "2,98"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    q = sorted({*DEFAULT, 2, 98})
    header = lines.index(next(line for line in lines if line.startswith("channel   p0.1")))
    assert lines[header].split() == ["channel", "p0.1", "p1", "p2", "p5", "p25", "p50", "p75",
                                     "p95", "p98", "p99", "p99.9"]  # fmt: skip
    for offset, name in enumerate(["R", "G", "B"]):
        row = lines[header + 1 + offset].split()
        assert row[0] == name and [int(v) for v in row[1:]] == _numpy(flat[:, offset], q)
    assert [int(v) for v in lines[header + 4].split()[1:]] == _numpy(flat.ravel(), q)


def test_inspect_json_percentiles_and_a_bad_list(runner, tmp_path: Path, rng):
    folder, flat = _folder(tmp_path, rng)
    result = runner.invoke(main, ["inspect", str(folder), "-q", "--json"])
    data = json.loads(result.stdout)["percentiles"]
    assert data["q"] == DEFAULT
    assert data["channels"][1] == _numpy(flat[:, 1], DEFAULT)
    assert data["global"] == _numpy(flat.ravel(), DEFAULT)
    bad = runner.invoke(main, ["inspect", str(folder), "--percentiles", "5,101"])
    assert bad.exit_code == 2
    assert bad.stderr.splitlines()[-1] == (
        "Error: Invalid value for '--percentiles': 101 is not a percentile in [0, 100]"
    )


def test_inspect_hdf5_of_16_bit_rows_and_of_floats(runner, tmp_path: Path, rng):
    images = rng.integers(0, 4096, (5, 6, 7, 1), dtype=np.uint16)
    with h5py.File(tmp_path / "u16.h5", "w") as handle:
        handle.create_dataset("images", data=images, chunks=(2, 6, 7, 1))
    result = runner.invoke(main, ["inspect", str(tmp_path / "u16.h5"), "--json", "-q"])
    assert json.loads(result.stdout)["percentiles"]["global"] == _numpy(images.ravel(), DEFAULT)
    with h5py.File(tmp_path / "f.h5", "w") as handle:
        handle.create_dataset("images", data=images.astype(np.float32))
    table = runner.invoke(main, ["inspect", str(tmp_path / "f.h5"), "-q"])
    assert "percentiles: not available (they are counted for 8- and 16-bit pixels)" in (
        table.stdout.splitlines()
    )
    assert "percentiles" not in json.loads(
        runner.invoke(main, ["inspect", str(tmp_path / "f.h5"), "--json", "-q"]).stdout
    )


def test_fit_stats_writes_the_percentiles_asked_for_and_a_merge_keeps_them(
    runner, tmp_path: Path, rng
):
    folder, _ = _folder(tmp_path, rng)
    images = rng.integers(0, 256, (3, 9, 8, 3), dtype=np.uint8)
    for index, image in enumerate(images):
        write_image(tmp_path / "more" / f"{index}.png", image)
    first, second, union = (str(tmp_path / name) for name in ("a.json", "b.json", "u.json"))
    args = ["fit-stats", "-q", "--percentiles"]
    assert runner.invoke(main, [*args, "2,98", str(folder), "-o", first]).exit_code == 0
    assert (
        runner.invoke(main, ["fit-stats", "-q", str(tmp_path / "more"), "-o", second]).exit_code
        == 0
    )
    assert runner.invoke(main, [*args, "10", "--merge", first, second, "-o", union]).exit_code == 0
    data = json.loads(Path(union).read_text())["percentiles"]
    q = sorted({*DEFAULT, 2, 10, 98})
    assert data["q"] == q
    everything = np.concatenate([_folder_pixels(tmp_path / "data"), images.reshape(-1, 3)])
    assert data["global"] == _numpy(everything.ravel(), q)


def _folder_pixels(folder: Path) -> np.ndarray:
    from PIL import Image

    arrays = [np.asarray(Image.open(path)) for path in sorted(folder.iterdir())]
    return np.concatenate([a.reshape(-1, 3) for a in arrays])
