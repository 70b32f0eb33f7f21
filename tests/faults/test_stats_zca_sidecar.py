"""A ZCA sidecar is named by a stats file someone may have sent: it is looked up only beside
that file, its arrays' headers are checked before any matrix is read, a tampered one is one
line naming the sidecar and the key, and a failed write leaves the old pair untouched."""

from __future__ import annotations

import errno
import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import listing, write_image

SHAPE = (4, 4, 1)
D = 16


@pytest.fixture
def fitted(tmp_path: Path, rng) -> tuple[Path, Path]:
    """Eight 4x4 grey images and their stats file with a ZCA sidecar (D = 16)."""
    root = tmp_path / "d"
    for index in range(8):
        write_image(root / f"{index}.png", rng.integers(0, 256, SHAPE, dtype=np.uint8))
    stats = tmp_path / "s.json"
    result = CliRunner().invoke(main, ["fit-stats", str(root), "-q", "--zca", "-o", str(stats)])
    assert result.exit_code == 0, result.output
    return root, stats


def transform(root: Path, stats: Path, out: Path):
    args = ["transform", str(root), "-q", "--zca", "--stats", str(stats), "-o", str(out)]
    return CliRunner().invoke(main, args)


def retarget(stats: Path, **zca: object) -> Path:
    """A copy of the stats file whose zca object has the given keys replaced."""
    data = json.loads(stats.read_text())
    data["zca"].update(zca)
    path = stats.with_name("edited.json")
    path.write_text(json.dumps(data))
    return path


@pytest.mark.parametrize("name", ["../s.zca.npz", "ABSOLUTE", "sub/s.zca.npz", ".."])
def test_a_sidecar_is_only_looked_up_beside_the_stats_file(fitted, tmp_path: Path, name: str):
    root, stats = fitted
    elsewhere = tmp_path / "sub"
    elsewhere.mkdir()
    (elsewhere / "s.zca.npz").write_bytes((tmp_path / "s.zca.npz").read_bytes())
    if name == "ABSOLUTE":
        name = str(elsewhere / "s.zca.npz")
    nested = tmp_path / "nested"
    nested.mkdir()
    edited = retarget(stats, file=name)
    edited = edited.rename(nested / edited.name) if name.startswith("..") else edited
    out = tmp_path / "o.h5"
    result = transform(root, edited, out)
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {edited}: key zca.file: must be a file name beside the stats file, not {name!r}\n"
    )
    assert not out.exists()


def npz(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


def good_arrays() -> dict[str, np.ndarray]:
    return {
        "mean": np.zeros(D),
        "whitening": np.eye(D),
        "eigenvalues": np.ones(D),
        "shape": np.array(SHAPE),
    }


def npy_header_only(shape: tuple[int, ...]) -> bytes:
    """A float64 .npy whose header claims ``shape`` but which holds 8 bytes of data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        buffer, {"descr": "<f8", "fortran_order": False, "shape": shape}
    )
    return buffer.getvalue() + b"\0" * 8


def bomb() -> bytes:
    """A tiny .npz whose whitening says 200,000 x 200,000 float64 (320 GB)."""
    arrays = good_arrays()
    del arrays["whitening"]
    buffer = io.BytesIO(npz(**arrays))
    with zipfile.ZipFile(buffer, "a", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("whitening.npy", npy_header_only((200_000, 200_000)))
    return buffer.getvalue()


def tampered(change: str) -> bytes:
    arrays = good_arrays()
    if change == "missing":
        del arrays["eigenvalues"]
    elif change == "object":
        arrays["whitening"] = np.array([None] * D, dtype=object)
    elif change == "shape":
        arrays["whitening"] = np.eye(D - 1)
    elif change == "string-shape":
        arrays["shape"] = np.array(["4", "4", "1"])
    elif change == "nan":
        arrays["whitening"][3, 5] = np.nan
    elif change == "bomb":
        return bomb()
    return npz(**arrays)


SIDECAR_ERRORS = {
    "missing": "key 'eigenvalues': missing (a ZCA sidecar holds shape, mean, whitening, "
    "eigenvalues)",
    "object": "key 'whitening': must be float64, not object",
    "shape": "key 'whitening': shape (15, 15), expected (16, 16)",
    "string-shape": "key 'shape': must be integers, not <U1",
    "nan": "key 'whitening': not finite (NaN or infinite values)",
    "bomb": "key 'whitening': shape (200000, 200000), expected (16, 16)",
}


@pytest.mark.parametrize("change", sorted(SIDECAR_ERRORS))
def test_a_tampered_sidecar_is_one_line(fitted, tmp_path: Path, change: str):
    root, stats = fitted
    sidecar = tmp_path / "s.zca.npz"
    content = tampered(change)
    sidecar.write_bytes(content)
    edited = retarget(stats, sha256=hashlib.sha256(content).hexdigest())
    out = tmp_path / "o.h5"
    result = transform(root, edited, out)
    assert result.exit_code == 1
    assert result.stderr == f"Error: {sidecar}: {SIDECAR_ERRORS[change]}\n"
    assert not out.exists()


def test_the_sidecar_shape_is_checked_against_the_stats_before_loading(fitted, tmp_path: Path):
    """A sidecar consistent in itself but fitted on other images is refused by its header."""
    from imgprep.errors import ImgprepError
    from imgprep.io.zca_sidecar import read_zca

    _, stats = fitted
    sidecar = tmp_path / "s.zca.npz"
    arrays = {
        "mean": np.zeros(64),
        "whitening": np.eye(64),
        "eigenvalues": np.ones(64),
        "shape": np.array((8, 8, 1)),
    }
    content = npz(**arrays)
    sidecar.write_bytes(content)
    description = json.loads(stats.read_text())["zca"]
    description["sha256"] = hashlib.sha256(content).hexdigest()
    with pytest.raises(ImgprepError) as info:
        read_zca(str(stats), description)
    assert str(info.value) == (
        f"{sidecar}: key 'shape': (8, 8, 1) differs from the statistics' image shape (4, 4, 1)"
    )


def test_a_failed_json_write_leaves_the_old_pair(fitted, tmp_path: Path, monkeypatch):
    root, stats = fitted
    sidecar = tmp_path / "s.zca.npz"
    before = (stats.read_bytes(), sidecar.read_bytes())
    files = listing(tmp_path)

    def full(self: object) -> str:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("imgprep.stats.file.Stats.to_json", full)
    args = ["fit-stats", str(root), "-q", "--zca", "--zca-epsilon", "0.1", "-o", str(stats)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1
    assert result.stderr == f"Error: cannot write {stats}: No space left on device\n"
    assert (stats.read_bytes(), sidecar.read_bytes()) == before
    assert listing(tmp_path) == files  # no temporary left
