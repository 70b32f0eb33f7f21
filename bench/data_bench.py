"""Rows per second of ``imgprep.data.H5Images`` against the hand-written per-row h5py read.

One process, side by side in one run, on an imgprep HDF5 file of ``--rows`` 28x28 uint8
digits: the bundled MNIST sample written by ``imgprep transform`` (its attributes and its
chunking: 1,024 rows per chunk), tiled to ``--rows`` rows. Each case reads every row once
(one epoch) and is timed separately:

- ``h5py per row, in order`` / ``shuffled``: ``f["images"][i]`` and ``f["labels"][i]`` for
  each i, the ``Dataset.__getitem__`` users write (file opened once, as per worker).
- ``H5Images in order`` / ``shuffle=True`` / ``block_shuffle=1024``: ``ds[i]`` for each i.
- the same with a 4 MB cache (5 chunks), as for a file much larger than the cache.
- ``H5Images shuffle=True + augment``: rotation, zoom and flips on the fly.

Usage: ``python bench/data_bench.py [--rows 60000] [--work DIR]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
from click.testing import CliRunner

import imgprep
from imgprep.cli import main
from imgprep.data import H5Images

SMALL = 4 << 20  # a cache much smaller than the file: a file larger than memory, in small
AUGMENT = {"rotation_range": 10, "zoom_range": [0.9, 1.1], "horizontal_flip": True}


def make_file(work: Path, rows: int) -> Path:
    """The bundled digits through ``imgprep transform``, tiled to ``rows`` rows."""
    small = work / "sample.h5"
    result = CliRunner().invoke(
        main, ["transform", str(imgprep.example_path("mnist")), "-o", str(small), "-q"]
    )
    assert result.exit_code == 0, result.output
    target = work / f"digits-{rows}.h5"
    with h5py.File(small, "r") as old, h5py.File(target, "w") as new:
        for key, value in old.attrs.items():
            new.attrs[key] = value
        images, labels = old["images"], old["labels"]
        repeat = -(-rows // len(images))
        tiled = np.concatenate([images[:]] * repeat)[:rows]
        new.create_dataset("images", data=tiled, chunks=(min(1024, rows), *images.shape[1:]))
        new.create_dataset(
            "labels", data=np.tile(labels[:], repeat)[:rows], chunks=(min(4096, rows),)
        )
    return target


def per_row(path: Path, order: np.ndarray) -> Callable[[], None]:
    def run() -> None:
        with h5py.File(path, "r") as f:
            images, labels = f["images"], f["labels"]
            for i in order:
                images[int(i)], labels[int(i)]

    return run


def through(ds: H5Images) -> Callable[[], None]:
    def run() -> None:
        for i in range(len(ds)):
            ds[i]

    return run


def timed(run: Callable[[], None], rows: int) -> float:
    start = time.perf_counter()
    run()
    return rows / (time.perf_counter() - start)


def main_bench(rows: int, work: Path) -> list[tuple[str, float]]:
    path = make_file(work, rows)
    shuffled = np.random.default_rng(0).permutation(rows)
    cases = [
        ("h5py per row, in order", per_row(path, np.arange(rows))),
        ("h5py per row, shuffled", per_row(path, shuffled)),
        ("H5Images in order", through(H5Images(path))),
        ("H5Images shuffle=True", through(H5Images(path, shuffle=True, seed=0))),
        ("H5Images block_shuffle=1024", through(H5Images(path, block_shuffle=1024, seed=0))),
        (
            "H5Images shuffle=True, 4 MB cache",
            through(H5Images(path, shuffle=True, seed=0, cache_bytes=SMALL)),
        ),
        (
            "H5Images block_shuffle=1024, 4 MB cache",
            through(H5Images(path, block_shuffle=1024, seed=0, cache_bytes=SMALL)),
        ),
        (
            "H5Images shuffle=True + augment",
            through(H5Images(path, shuffle=True, seed=0, augment=AUGMENT)),
        ),
    ]
    return [(name, timed(run, rows)) for name, run in cases]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60_000)
    parser.add_argument("--work", type=Path, default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        for name, rate in main_bench(args.rows, args.work or Path(tmp)):
            print(f"{name:36s} {rate:>10,.0f} rows/s")
