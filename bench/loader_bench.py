"""One epoch through a 2-worker PyTorch DataLoader (batch 64): ``imgprep.data.torch_loader``
against the hand-written h5py ``Dataset`` users write (the file opened once per worker, one
row per ``__getitem__``, ``shuffle=True`` in the DataLoader), side by side in one run, with
images per second and the peak RSS of the largest worker.

The file is ``data_bench.make_file``'s: the bundled digits written by ``imgprep transform``,
tiled to ``--rows`` rows (28x28 uint8, 1,024 rows per chunk). Cases, each one epoch with a
full per-epoch shuffle: the per-row Dataset; ``torch_loader(shuffle=True)``;
``torch_loader(block_shuffle=1024)``; ``torch_loader(shuffle=True, augment=...)`` (rotation,
zoom and flips on the fly). Peak RSS: ``getrusage(RUSAGE_CHILDREN).ru_maxrss`` read after
each case's workers have exited (the largest child so far; cases run in increasing order of
the memory they are expected to take, so each figure is that case's or a smaller one's).

Needs torch (``pip install torch==2.13.0``, the CPU build). Usage:
``python bench/loader_bench.py [--rows 60000 600000] [--work DIR]``. The torchvision
ImageFolder and tf.data columns of issue 17 are not measured here.
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
import time
from pathlib import Path

import h5py
import numpy as np
import torch
from click.testing import CliRunner

sys.path.insert(0, str(Path(__file__).resolve().parent))
from data_bench import AUGMENT, make_file  # the bench folder is not a package

import imgprep
from imgprep.cli import main as main_cli
from imgprep.data import torch_loader

BATCH, WORKERS = 64, 2


class PerRow(torch.utils.data.Dataset):
    """The hand-written Dataset: open the file in the worker, read one row per item,
    standardize it with the training mean and std."""

    def __init__(self, path: Path, mean: float, std: float) -> None:
        self.path, self.file, self.mean, self.std = path, None, mean, std
        with h5py.File(path, "r") as f:
            self.rows = len(f["images"])

    def __len__(self) -> int:
        return self.rows

    def __getitem__(self, i: int):
        if self.file is None:
            self.file = h5py.File(self.path, "r")
        image = (self.file["images"][i].astype(np.float32) - self.mean) / self.std
        image = torch.from_numpy(image).permute(2, 0, 1)
        return image, int(self.file["labels"][i])


def epoch(loader) -> tuple[int, float]:
    started = time.perf_counter()
    seen = sum(len(labels) for _, labels in loader)
    return seen, time.perf_counter() - started


def peak_child_mb() -> float:
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def standardization(work: Path) -> tuple[float, float, imgprep.Pipeline]:
    """The bundled digits' mean and std (``imgprep fit-stats``) and the featurewise
    standardization pipeline that applies them on the fly."""
    stats = work / "stats.json"
    result = CliRunner().invoke(main_cli, ["fit-stats", "--example", "mnist", "-o", str(stats)])
    assert result.exit_code == 0, result.output
    pipeline = imgprep.pipeline_from_stats(str(stats))
    loaded = imgprep.read_stats(str(stats))
    return float(loaded.mean[0]), float(loaded.std[0]), pipeline


def cases(path: Path, work: Path):
    mean, std, pipeline = standardization(work)
    per_row = torch.utils.data.DataLoader(
        PerRow(path, mean, std), batch_size=BATCH, shuffle=True, num_workers=WORKERS
    )
    yield "hand-written h5py Dataset, per row", per_row
    common = {"seed": 1, "normalize": pipeline}
    yield "torch_loader shuffle=True", torch_loader(path, BATCH, WORKERS, shuffle=True, **common)
    yield (
        "torch_loader block_shuffle=1024",
        torch_loader(path, BATCH, WORKERS, block_shuffle=1024, **common),
    )
    yield (
        "torch_loader shuffle=True + augment",
        torch_loader(path, BATCH, WORKERS, shuffle=True, augment=AUGMENT, **common),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[60_000, 600_000])
    parser.add_argument("--work", type=Path)
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for rows in args.rows:
            path = make_file(Path(work), rows)
            base = None
            print(f"{rows:,} rows, {WORKERS} workers, batch {BATCH}, one shuffled epoch:")
            for name, loader in cases(path, Path(work)):
                seen, seconds = epoch(loader)
                assert seen == rows, (name, seen)
                rate = seen / seconds
                base = base or rate
                print(f"  {name:38s} {rate:10,.0f} images/s  {rate / base:6.1f}x  "
                      f"peak worker RSS {peak_child_mb():5.0f} MB", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
