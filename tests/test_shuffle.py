"""``transform --shuffle --seed S``: rows in a seeded permuted order, recorded per row.

Each test compares against the unshuffled run of the same input: row ``r`` of the shuffled
file is row ``permutation[r]`` of the unshuffled one (pixels, label and path), and the
permutation is ``numpy.random.default_rng([S, tag, split]).permutation(n)``.
"""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from imgprep.data import H5Images
from imgprep.splits import shuffle_order
from tests.conftest import make_dataset


def transform(*args: str) -> None:
    result = CliRunner().invoke(main, ["transform", *args, "-q"])
    assert result.exit_code == 0, result.output


def columns(path: Path, group: str = "") -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        node = f[group] if group else f
        return {name: node[name][:] for name in node if isinstance(node[name], h5py.Dataset)}


@pytest.fixture
def digits(tmp_path: Path) -> Path:
    """Three classes of 9 grayscale 8x6 PNGs (rows sorted by class when not shuffled)."""
    root = tmp_path / "digits"
    make_dataset(root, np.random.default_rng(3), classes=("a", "b", "c"), per_class=9,
                 shape=(8, 6))  # fmt: skip
    return root


def test_rows_are_the_unshuffled_rows_in_the_recorded_permutation(digits, tmp_path):
    plain, shuffled = tmp_path / "plain.h5", tmp_path / "shuffled.h5"
    transform(str(digits), "-o", str(plain))
    transform(str(digits), "-o", str(shuffled), "--shuffle", "--seed", "11")
    before, after = columns(plain), columns(shuffled)
    permutation = after.pop("permutation")
    assert sorted(after) == ["images", "labels", "paths"]
    np.testing.assert_array_equal(
        permutation, np.random.default_rng([11, 0x53485546, 0]).permutation(27)
    )
    np.testing.assert_array_equal(permutation, shuffle_order(27, 11, 0))
    for name in ("images", "labels", "paths"):
        np.testing.assert_array_equal(after[name], before[name][permutation], err_msg=name)
    assert before["labels"].tolist() == sorted(before["labels"].tolist())
    assert after["labels"][-9:].tolist() != [2] * 9  # the last rows are not one class
    with h5py.File(shuffled) as f:
        assert json.loads(f.attrs["shuffle"]) == {"seed": 11, "column": "permutation"}


def test_same_seed_same_bytes_for_any_workers_and_another_seed_another_order(digits, tmp_path):
    outputs = []
    for name, seed, workers in (("a", "4", "1"), ("b", "4", "2"), ("c", "5", "1")):
        out = tmp_path / f"{name}.h5"
        transform(str(digits), "-o", str(out), "--shuffle", "--seed", seed, "-j", workers,
                  "--batch-size", "4")  # fmt: skip
        outputs.append(columns(out))
    for name, value in outputs[0].items():
        np.testing.assert_array_equal(outputs[1][name], value, err_msg=name)
    assert not np.array_equal(outputs[0]["permutation"], outputs[2]["permutation"])


def test_splits_keep_their_members_each_shuffled_by_its_own_key(digits, tmp_path):
    plain, shuffled = tmp_path / "plain.h5", tmp_path / "shuffled.h5"
    split = ["--split", "train=0.6,val=0.4", "--seed", "2"]
    transform(str(digits), "-o", str(plain), *split)
    transform(str(digits), "-o", str(shuffled), *split, "--shuffle")
    for ordinal, group in enumerate(("train", "val")):
        before, after = columns(plain, group), columns(shuffled, group)
        count = len(before["paths"])
        np.testing.assert_array_equal(after["permutation"], shuffle_order(count, 2, ordinal))
        np.testing.assert_array_equal(after["paths"], before["paths"][after["permutation"]])
        np.testing.assert_array_equal(after["images"], before["images"][after["permutation"]])


def test_featurewise_statistics_are_unchanged_by_the_order(digits, tmp_path):
    plain, shuffled = tmp_path / "plain.h5", tmp_path / "shuffled.h5"
    norm = ["--rescale", "1/255", "--center", "featurewise", "--standardize", "featurewise"]
    transform(str(digits), "-o", str(plain), *norm)
    transform(str(digits), "-o", str(shuffled), *norm, "--shuffle", "--seed", "8")
    with h5py.File(plain) as a, h5py.File(shuffled) as b:
        stats = [json.loads(node.attrs["stats"]) for node in (a, b)]
        hashes = [s["provenance"].pop("files_sha256") for s in stats]
        assert stats[0] == stats[1]  # exact integer sums: the numbers do not depend on order
        assert hashes[0] != hashes[1]  # the files in the order written (documented)
        permutation = b["permutation"][:]
        np.testing.assert_array_equal(b["images"][:], a["images"][:][permutation])
        pixels = a["images"][:].astype(np.float64)
    assert abs(pixels.mean()) < 1e-6 and pixels.std() == pytest.approx(1, abs=1e-5)


def test_copies_stay_together_and_the_loader_augments_the_shuffled_rows(digits, tmp_path):
    out = tmp_path / "copies.h5"
    augment = ["--rotation-range", "20", "--horizontal-flip", "--seed", "6"]
    transform(str(digits), "-o", str(out), *augment, "--copies", "2", "--keep-original",
              "--shuffle")  # fmt: skip
    written = columns(out)
    assert written["source_index"].tolist() == [i for i in range(27) for _ in range(3)]
    assert written["copy"].tolist() == [0, 1, 2] * 27
    np.testing.assert_array_equal(written["permutation"], np.repeat(shuffle_order(27, 6, 0), 3))
    # on the fly, epoch e is copy e + 1 of the shuffled rows (keyed by the row's image index)
    ds = H5Images(out, augment="stored")
    for epoch in (0, 1):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            image, label = ds[i]
            row = 3 * i + epoch + 1
            np.testing.assert_array_equal(image, written["images"][row])
            assert label == written["labels"][row]


def test_a_skipped_file_leaves_a_gap_in_the_permutation(digits, tmp_path):
    (digits / "b" / "004.png").write_bytes(b"not a png")
    out = tmp_path / "out.h5"
    result = CliRunner().invoke(main, ["transform", str(digits), "-o", str(out), "--shuffle",
                                       "--seed", "1", "--on-error", "skip"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "1 skipped (of 27 found)" in result.output
    order = shuffle_order(27, 1, 0)
    broken = 9 + 4  # b/004.png in input order
    written = columns(out)
    np.testing.assert_array_equal(written["permutation"], order[order != broken])
    assert len(written["paths"]) == 26


def test_config_key(digits, tmp_path):
    config = tmp_path / "run.toml"
    config.write_text("shuffle = true\nseed = 9\n")
    out = tmp_path / "out.h5"
    transform(str(digits), "-o", str(out), "--config", str(config))
    np.testing.assert_array_equal(columns(out)["permutation"], shuffle_order(27, 9, 0))


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ([], "Error: --shuffle needs --seed (an integer >= 0) so that the order can be reproduced"),
        (["--seed", "1", "--format", "png"],
         "Error: --shuffle orders the rows of an HDF5 file; a PNG tree has no row order"),
    ],
)  # fmt: skip
def test_refusals_leave_nothing(digits, tmp_path, extra, message):
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["transform", str(digits), "-o", str(out), "--shuffle",
                                       *extra])  # fmt: skip
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [message]
    assert not out.exists()
