"""Fixtures: small synthetic images of every kind, generated per test (no shared data)."""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats


def write_image(path: Path, array: np.ndarray, mode: str | None = None, **save: object) -> Path:
    """Save ``array`` with Pillow (format from the extension), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[:, :, 0]
    Image.fromarray(array, mode).save(path, **save)
    return path


def png_bytes(width: int, height: int, bit_depth: int, color_type: int, raw_rows: bytes) -> bytes:
    """A PNG built by hand (for 16-bit colour and header-only files Pillow cannot write)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw_rows))
        + chunk(b"IEND", b"")
    )


def png16_rgb(array: np.ndarray) -> bytes:
    """A 16-bit RGB PNG of an H x W x 3 uint16 array."""
    height, width, _ = array.shape
    rows = b"".join(b"\x00" + array[y].astype(">u2").tobytes() for y in range(height))
    return png_bytes(width, height, 16, 2, rows)


@pytest.fixture
def runner() -> CliRunner:
    """Drives the CLI in this process (exit codes and output are asserted exactly)."""
    return CliRunner()


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def make_dataset(
    root: Path,
    rng: np.random.Generator,
    *,
    classes: tuple[str, ...] = ("cat", "dog"),
    per_class: int = 5,
    shape: tuple[int, ...] = (12, 10, 3),
    ext: str = ".png",
) -> dict[str, np.ndarray]:
    """Class folders of random uint8 images; returns {relative path: array}."""
    arrays: dict[str, np.ndarray] = {}
    for name in classes:
        for index in range(per_class):
            array = rng.integers(0, 256, shape, dtype=np.uint8)
            rel = f"{name}/{index:03d}{ext}"
            write_image(root / rel, array)
            arrays[rel] = array
    return arrays


@pytest.fixture
def dataset(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, dict[str, np.ndarray]]:
    """A labelled RGB dataset: 2 classes x 5 images of 12x10 (H x W)."""
    root = tmp_path / "data"
    return root, make_dataset(root, rng)


def reference_stats(arrays: list[np.ndarray]) -> dict[str, np.ndarray | float]:
    """Independent float64 two-pass statistics: per channel (last axis) and global."""
    channels = arrays[0].shape[-1]
    flat = np.concatenate([a.reshape(-1, channels).astype(np.float64) for a in arrays])
    mean = flat.mean(axis=0)
    std = np.sqrt(((flat - mean) ** 2).mean(axis=0))
    gmean = flat.mean()
    gstd = float(np.sqrt(((flat - gmean) ** 2).mean()))
    return {
        "mean": mean,
        "std": std,
        "min": flat.min(axis=0),
        "max": flat.max(axis=0),
        "global_mean": float(gmean),
        "global_std": gstd,
    }


def listing(directory: Path) -> list[str]:
    """Every file name under ``directory`` (to check that no temporary file is left)."""
    return sorted(
        os.path.relpath(os.path.join(d, f), directory)
        for d, _, fs in os.walk(directory)
        for f in fs
    )


@pytest.fixture(autouse=True)
def _no_exit_now_in_the_test_process(monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI ends the process at once after abandoning an HDF5 file (see OutputError):
    under CliRunner that would end pytest itself, silently. Such cases run in a subprocess."""

    def refuse(code: int) -> None:
        raise AssertionError(f"exit_now({code}) in the test process: run this in a subprocess")

    monkeypatch.setattr("imgprep.cli.exit_now", refuse)


def stats_of(images: np.ndarray) -> Stats:
    """The ``Stats`` of a stack of images, folded by the library's own accumulator."""
    acc = MomentAccumulator()
    acc.update(list(images))
    return Stats(acc, dtype=images.dtype.name)


@pytest.fixture
def images(rng) -> np.ndarray:
    """Six 9 x 7 RGB uint8 images (a small batch for pipeline and API tests)."""
    return rng.integers(0, 256, (6, 9, 7, 3), dtype=np.uint8)
