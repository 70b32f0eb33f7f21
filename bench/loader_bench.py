"""One epoch through a 2-worker PyTorch DataLoader (batch 64): ``imgprep.data.torch_loader``
against the hand-written h5py ``Dataset`` users write (the file opened once per worker, one
row per ``__getitem__``, ``shuffle=True`` in the DataLoader), side by side in one run, with
images per second and the peak memory of the largest worker.

The file is ``data_bench.make_file``'s: the bundled digits written by ``imgprep transform``,
tiled to ``--rows`` rows (28x28 uint8, 1,024 rows per chunk). Every case standardizes on
the fly with the digits' mean and std (``fit-stats``): the per-row Dataset by hand,
``torch_loader`` with ``normalize=`` the featurewise pipeline. Cases, each one epoch with a
per-epoch shuffle: the per-row Dataset; ``torch_loader(shuffle=True)``;
``torch_loader(block_shuffle=1024)``; ``torch_loader(shuffle=True, augment=...)`` (rotation,
zoom and flips on the fly). Speed: ``--repeat`` rounds of every case, round-robin (the
loaders' persistent workers kept between rounds), median. Memory, after the rounds, one
case at a time (only its workers alive): ``WorkerMemory``, RSS and private memory (USS) of
each worker sampled from ``/proc`` during one more epoch.

Needs torch (``pip install torch==2.13.0``, the CPU build). Usage:
``python bench/loader_bench.py [--rows 60000 600000] [--repeat 3] [--work DIR]``. The
torchvision ImageFolder and tf.data columns of issue 17 are ``loader_peers_bench.py``'s.
"""

from __future__ import annotations

import argparse
import gc
import multiprocessing
import os
import sys
import tempfile
import threading
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


class WorkerMemory:
    """Peak RSS and peak private memory (USS: Private_Clean + Private_Dirty of
    ``/proc/PID/smaps_rollup``) of this process's children, sampled every 20 ms in a thread
    while an epoch runs. RSS counts the pages a forked worker shares with its parent
    (PyTorch's libraries, the parent's heap); USS is what the worker itself holds."""

    def __init__(self) -> None:
        self.rss = self.uss = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        me = os.getpid()
        while not self._stop.wait(0.02):
            try:
                children = Path(f"/proc/{me}/task/{me}/children").read_text().split()
            except OSError:
                continue
            for child in children:
                try:
                    fields = dict(
                        line.split(":", 1)
                        for line in Path(f"/proc/{child}/smaps_rollup").read_text().splitlines()[1:]
                    )
                except (OSError, ValueError):
                    continue  # the worker exited between the two reads
                kb = {k: int(v.split()[0]) for k, v in fields.items() if v.strip().endswith("kB")}
                self.rss = max(self.rss, kb.get("Rss", 0) / 1024)
                private = kb.get("Private_Clean", 0) + kb.get("Private_Dirty", 0)
                self.uss = max(self.uss, private / 1024)


def epoch(loader) -> tuple[int, float, WorkerMemory]:
    with WorkerMemory() as memory:
        started = time.perf_counter()
        seen = sum(len(labels) for _, labels in loader)
        seconds = time.perf_counter() - started
    return seen, seconds, memory


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
    parser.add_argument("--repeat", type=int, default=3, help="rounds of every case")
    args = parser.parse_args()
    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory(dir=args.work) as work:
        for rows in args.rows:
            with multiprocessing.get_context("spawn").Pool(1) as pool:  # the tiled array
                path = pool.apply(make_file, (Path(work), rows))  # stays out of this heap
            print(f"{rows:,} rows, {WORKERS} workers, batch {BATCH}, one shuffled epoch, "
                  f"median of {args.repeat} rounds (ratio: to the per-row Dataset's):")  # fmt: skip
            loaders = dict(cases(path, Path(work)))
            rates: dict[str, list[float]] = {name: [] for name in loaders}
            for _ in range(args.repeat):  # round-robin: slow spells of the machine hit all
                for name, loader in loaders.items():
                    seen, seconds, _ = epoch(loader)
                    assert seen == rows, (name, seen)
                    rates[name].append(seen / seconds)
            loaders.clear()  # their persistent workers exit before memory is sampled
            gc.collect()
            memory = {}
            for name, loader in cases(path, Path(work)):  # one loader's workers at a time
                memory[name] = epoch(loader)[2]
                del loader
                gc.collect()
            base = float(np.median(next(iter(rates.values()))))
            for name, values in rates.items():
                rate = float(np.median(values))
                print(f"  {name:38s} {rate:10,.0f} images/s  {rate / base:6.1f}x  "
                      f"(rounds {min(values):,.0f}-{max(values):,.0f})  peak per worker: "
                      f"RSS {memory[name].rss:4.0f} MB, private {memory[name].uss:4.0f} MB",
                      flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
