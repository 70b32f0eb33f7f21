"""Benchmark ``imgprep fit-stats`` on the real MNIST training set (60,000 PNG files).

What it measures. Each case runs in its own subprocess, so its figures are its own: the wall
time is taken by this script from the start of the subprocess to its exit (interpreter start-up
and imports included, as a user would see them), and the peak RSS comes from ``os.wait4`` on
that subprocess, i.e. the largest resident set of any single process of the case (for
``-j 2``: the largest of the main process and its two workers, not their sum).
``ru_maxrss`` also counts the memory of the process a case was started from (the kernel keeps
the pre-``exec`` high-water mark), so this harness keeps itself small: it imports neither
NumPy nor Pillow and builds the dataset in a subprocess. Its own peak, printed last, is a
floor under every RSS figure in the table.

- ``read bytes``: read every file's bytes, in sorted order (the I/O floor).
- ``decode ceiling``: ``np.asarray(Image.open(path))`` for every file, and nothing else.
- ``decode ceiling, 2 processes``: the same loop in two forked processes, over chunks of
  1,000 files handed out as they finish: what the two cores give at that moment, so the
  ceiling of the ``-j 2`` / ``-j 1`` ratio (on this VM often well under 2).
- ``imgprep fit-stats -j 1`` and ``-j 2``: the CLI, ``-q -o <tmp>/s1.json`` / ``s2.json``;
  the two stats files must be byte-identical.
- ``numpy load-all``: what a user would otherwise write: ``np.stack`` every image into one
  uint8 array, then ``x.mean(dtype=np.float64)`` and ``x.std(dtype=np.float64)``.
- ``imgprep fit-stats -j 1`` on the first 6,000 images, to compare its peak RSS with the
  60,000-image run (requirement: within 20%).

The table gives seconds, images/s, microseconds per image, peak RSS and the speed relative to
the decode ceiling (per image: ceiling time / case time, so above 1 is faster than the
ceiling). Then: the global mean and std from imgprep and from NumPy against the known MNIST
training figures, whether the ``-j 1`` and ``-j 2`` outputs are byte-identical, the 2-worker
speedup and the 60,000 / 6,000 peak-RSS ratio.

The dataset is built once from the IDX files, as Pillow-written PNGs in class folders
``<cache>/mnist-train/<label>/<index:05d>.png`` and ``<cache>/mnist-train-6000/`` (the first
6,000 images), and reused when a tree already holds the right number of files. Every file is
read once before timing, so that all cases see a warm page cache, and the imgprep package is
byte-compiled first, as ``pip install`` does (an editable install under
``PYTHONDONTWRITEBYTECODE`` would otherwise compile its sources in every case).

Run it (about 75 s on 2 cores with the default 3 rounds; add about 10 s the first time, which
writes the PNG files)::

    /tmp/venv/bin/python bench/fit_stats_bench.py
    /tmp/venv/bin/python bench/fit_stats_bench.py --limit 5000        # quick smoke run
    /tmp/venv/bin/python bench/fit_stats_bench.py --idx DIR --cache DIR

With ``--limit N`` only the first N images are used (trees ``<cache>/mnist-train-<N>`` and
``<cache>/mnist-train-<N/10>``); the expected mean and std are then those of all 60,000, so
their relative differences are no longer meaningful.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # NumPy and Pillow are imported only in subprocesses, see the docstring.
    import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_IDX = REPO.parent / "shared" / "data" / "mnist-idx"
DEFAULT_CACHE = Path("/tmp/imgprep-bench-cache")
IMAGES_FILE = "train-images.idx3-ubyte.gz"
LABELS_FILE = "train-labels.idx1-ubyte.gz"
MNIST_TRAIN_SIZE = 60_000
SUBSET_SIZE = 6_000
EXPECTED_MEAN = 33.318421449829934
EXPECTED_STD = 78.56748998339798
RSS_TOLERANCE = 0.20
CHILD_CASES = ("prepare", "read", "decode", "decode2", "numpy")


# --------------------------------------------------------------------------- dataset


def load_idx(idx_dir: Path, limit: int) -> tuple[np.ndarray, np.ndarray]:
    """The first ``limit`` MNIST training images (N x 28 x 28 uint8) and labels."""
    import numpy as np

    raw_images = gzip.decompress((idx_dir / IMAGES_FILE).read_bytes())
    raw_labels = gzip.decompress((idx_dir / LABELS_FILE).read_bytes())
    magic, count, rows, cols = (int.from_bytes(raw_images[i : i + 4], "big") for i in (0, 4, 8, 12))
    if magic != 2051 or int.from_bytes(raw_labels[:4], "big") != 2049:
        raise SystemExit(f"{idx_dir}: not MNIST IDX files (bad magic numbers)")
    images = np.frombuffer(raw_images, dtype=np.uint8, offset=16).reshape(count, rows, cols)
    labels = np.frombuffer(raw_labels, dtype=np.uint8, offset=8)
    if len(labels) != count:
        raise SystemExit(f"{idx_dir}: {count} images but {len(labels)} labels")
    return images[:limit], labels[:limit]


def tree_name(images: int) -> str:
    """``mnist-train`` for the whole training set, ``mnist-train-<N>`` for its first N."""
    return "mnist-train" if images == MNIST_TRAIN_SIZE else f"mnist-train-{images}"


def list_pngs(root: Path) -> list[str]:
    """Every PNG under ``root``, as sorted path strings."""
    found = [
        os.path.join(folder, name)
        for folder, _, names in os.walk(root)
        for name in names
        if name.endswith(".png")
    ]
    return sorted(found)


def ensure_tree(root: Path, images: np.ndarray, labels: np.ndarray) -> bool:
    """Write ``root/<label>/<index:05d>.png`` unless it already holds exactly these files.

    The tree is written beside ``root`` and renamed into place, so an interrupted run never
    leaves a tree that looks complete. Returns True when it was (re)written.
    """
    import numpy as np
    from PIL import Image

    if root.is_dir() and len(list_pngs(root)) == len(images):
        return False
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for label in np.unique(labels):
        (staging / str(label)).mkdir(parents=True)
    for index, (pixels, label) in enumerate(zip(images, labels, strict=True)):
        Image.fromarray(pixels, "L").save(staging / str(label) / f"{index:05d}.png")
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return True


def warm_page_cache(roots: Sequence[Path]) -> int:
    """Read every file once (untimed) so that no case pays for a cold cache; total bytes."""
    total = 0
    for root in roots:
        for path in list_pngs(root):
            with open(path, "rb") as handle:
                total += len(handle.read())
    return total


# --------------------------------------------------------------------------- child cases


def child_read(root: Path) -> dict[str, float]:
    """Case ``read bytes``: every file's bytes, in sorted order."""
    total = 0
    for path in list_pngs(root):
        with open(path, "rb") as handle:
            total += len(handle.read())
    return {"bytes": total}


def child_decode(root: Path) -> dict[str, float]:
    """Case ``decode ceiling``: Pillow open + decode into an array, nothing else."""
    import numpy as np
    from PIL import Image

    pixels = 0
    for path in list_pngs(root):
        pixels += np.asarray(Image.open(path)).size
    return {"pixels": pixels}


def _decode_all(paths: list[str]) -> int:
    import numpy as np
    from PIL import Image

    return sum(np.asarray(Image.open(path)).size for path in paths)


def child_decode2(root: Path) -> dict[str, float]:
    """Case ``decode ceiling, 2 processes``: the same loop in two forked processes, over
    chunks of 1,000 files handed out as the processes finish (so a slower core does fewer).
    What two cores of this machine give to the bare loop at that moment: the ceiling for
    imgprep's ``-j 2`` / ``-j 1`` ratio (this VM's second core is often worth less than a
    whole one)."""
    import multiprocessing

    paths = list_pngs(root)
    chunks = [paths[start : start + 1000] for start in range(0, len(paths), 1000)]
    with multiprocessing.get_context("fork").Pool(2) as pool:
        pixels = sum(pool.imap_unordered(_decode_all, chunks))
    return {"pixels": pixels}


def child_numpy(root: Path) -> dict[str, float]:
    """Case ``numpy load-all``: one uint8 array of every image, then its mean and std."""
    import numpy as np
    from PIL import Image

    arrays = [np.asarray(Image.open(path)) for path in list_pngs(root)]
    x = np.stack(arrays)
    mean = x.mean(dtype=np.float64)
    std = x.std(dtype=np.float64)
    return {"mean": float(mean), "std": float(std)}


def run_child(case: str, root: Path) -> None:
    """Entry point of a case subprocess: run it and print its result as one JSON line."""
    functions = {
        "read": child_read,
        "decode": child_decode,
        "decode2": child_decode2,
        "numpy": child_numpy,
    }
    print(json.dumps(functions[case](root)))


# --------------------------------------------------------------------------- measuring


@dataclass
class CaseResult:
    """One measured case."""

    name: str
    images: int
    seconds: float
    peak_rss_mb: float
    stdout: str


def measure(name: str, images: int, command: Sequence[str]) -> CaseResult:
    """Run ``command`` in its own process: wall time, peak RSS (via ``os.wait4``), stdout."""
    print(f"  running {name} ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    stdout = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"case {name!r} failed with exit code {process.returncode}: {command}")
    return CaseResult(name, images, seconds, usage.ru_maxrss / 1024, stdout)


Case = tuple[str, int, list[str]]  # table label, images processed, command line


def run_rounds(cases: dict[str, Case], repeat: int) -> dict[str, CaseResult]:
    """Every case, ``repeat`` rounds in round-robin order; fastest time, largest peak RSS."""
    best: dict[str, CaseResult] = {}
    for round_number in range(repeat):
        print(f"round {round_number + 1} of {repeat}", file=sys.stderr, flush=True)
        for key, (name, images, command) in cases.items():
            result = measure(name, images, command)
            previous = best.get(key)
            if previous is not None:
                result = CaseResult(
                    name,
                    images,
                    min(result.seconds, previous.seconds),
                    max(result.peak_rss_mb, previous.peak_rss_mb),
                    result.stdout,
                )
            best[key] = result
    return best


def compile_imgprep() -> None:
    """Byte-compile the imgprep package once, untimed, as ``pip install`` does.

    An editable install has no ``.pyc`` files until a run writes them, and never does under
    ``PYTHONDONTWRITEBYTECODE`` (set on this machine): every case would then compile the
    sources again, about 0.1 s that no installed copy pays.
    """
    find = "import imgprep, os; print(os.path.dirname(imgprep.__file__))"
    package = subprocess.run(
        [sys.executable, "-c", find], capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run([sys.executable, "-m", "compileall", "-q", package], check=True)


def child_command(case: str, root: Path) -> list[str]:
    return [sys.executable, str(Path(__file__).resolve()), "--child", case, "--root", str(root)]


def imgprep_command(root: Path, workers: int, output: Path) -> list[str]:
    """``imgprep fit-stats ROOT -j N -q -o OUTPUT``, with the venv's console script if any."""
    script = Path(sys.executable).parent / "imgprep"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "imgprep"]
    return [*prefix, "fit-stats", str(root), "-j", str(workers), "-q", "-o", str(output)]


# --------------------------------------------------------------------------- reporting


def format_table(results: Sequence[CaseResult], ceiling: CaseResult) -> str:
    """One row per case; 'vs ceiling' is per image, ceiling time / case time."""
    ceiling_us = ceiling.seconds / ceiling.images * 1e6
    header = (
        f"{'case':<38} {'images':>7} {'seconds':>8} {'images/s':>9} {'us/image':>9} "
        f"{'peak RSS MB':>11} {'vs ceiling':>10}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        us_per_image = result.seconds / result.images * 1e6
        lines.append(
            f"{result.name:<38} {result.images:>7} {result.seconds:>8.2f} "
            f"{result.images / result.seconds:>9.0f} {us_per_image:>9.1f} "
            f"{result.peak_rss_mb:>11.1f} {ceiling_us / us_per_image:>9.2f}x"
        )
    return "\n".join(lines)


def compare(label: str, mean: float, std: float) -> str:
    """Mean and std against the expected MNIST training figures, as relative differences."""
    rel_mean = abs(mean - EXPECTED_MEAN) / EXPECTED_MEAN
    rel_std = abs(std - EXPECTED_STD) / EXPECTED_STD
    return (
        f"{label:<24} mean {mean!r} (rel. diff {rel_mean:.1e}), "
        f"std {std!r} (rel. diff {rel_std:.1e})"
    )


def summary_lines(
    results: dict[str, CaseResult], s1: Path, s2: Path, subset_images: int
) -> list[str]:
    """Accuracy, determinism, speedup and memory lines printed under the table."""
    stats = json.loads(s1.read_text())["global"]
    numpy_stats = json.loads(results["numpy"].stdout)
    identical = s1.read_bytes() == s2.read_bytes()
    speedup = results["j1"].seconds / results["j2"].seconds
    machine = results["decode"].seconds / results["decode2"].seconds
    rss_ratio = results["j1"].peak_rss_mb / results["j1_subset"].peak_rss_mb
    met = "met" if abs(rss_ratio - 1) <= RSS_TOLERANCE else "NOT met"
    return [
        f"expected (MNIST train)   mean {EXPECTED_MEAN!r}, std {EXPECTED_STD!r}",
        compare("imgprep s1.json global", stats["mean"], stats["std"]),
        compare("numpy load-all", numpy_stats["mean"], numpy_stats["std"]),
        f"s1.json (-j 1) and s2.json (-j 2) byte-identical: {'yes' if identical else 'NO'}",
        f"2-worker speedup (time j1 / time j2): {speedup:.2f}x; the same for the bare decode "
        f"loop (decode ceiling / 2 processes), what this machine gave: {machine:.2f}x",
        f"peak RSS imgprep -j 1, {results['j1'].images:,} / {subset_images:,} images: "
        f"{rss_ratio:.3f} (requirement: within {RSS_TOLERANCE:.0%}: {met})",
    ]


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idx", type=Path, default=DEFAULT_IDX, help="MNIST IDX folder")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="PNG tree folder")
    parser.add_argument(
        "--limit", type=int, default=MNIST_TRAIN_SIZE, help="use only the first N images"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds; each case keeps its fastest (default 3)"
    )
    parser.add_argument("--child", choices=CHILD_CASES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 10 <= args.limit <= MNIST_TRAIN_SIZE:
        parser.error(f"--limit must be between 10 and {MNIST_TRAIN_SIZE}")
    return args


def subset_size(limit: int) -> int:
    """6,000 for the whole set, else a tenth of ``--limit``: the RSS comparison is 10 : 1."""
    return SUBSET_SIZE if limit == MNIST_TRAIN_SIZE else max(1, limit // 10)


def prepare(idx: Path, cache: Path, limit: int) -> None:
    """Subprocess ``prepare``: build (or reuse) the full and subset trees, warm the cache."""
    images, labels = load_idx(idx, limit)
    roots = []
    for count in (limit, subset_size(limit)):
        root = cache / tree_name(count)
        print(f"dataset {root} ({count:,} images) ...", file=sys.stderr, flush=True)
        written = ensure_tree(root, images[:count], labels[:count])
        print(f"  {'written' if written else 'reused'}", file=sys.stderr, flush=True)
        roots.append(root)
    warmed = warm_page_cache(roots)
    print(f"page cache warmed ({warmed / 1e6:.1f} MB read)", file=sys.stderr, flush=True)


def run_cases(
    root: Path, subset_root: Path, limit: int, subset: int, out: Path, repeat: int
) -> dict[str, CaseResult]:
    """Every case, each in its own subprocess, ``repeat`` rounds in round-robin order.

    This VM's speed drifts by tens of percent over minutes, so the cases are interleaved
    and each keeps its fastest round (and its largest peak RSS): ratios then compare
    measurements taken under the same conditions.
    """
    cases = {
        "read": ("read bytes", limit, child_command("read", root)),
        "decode": ("decode ceiling", limit, child_command("decode", root)),
        "decode2": ("decode ceiling, 2 processes", limit, child_command("decode2", root)),
        "j1": ("imgprep fit-stats -j 1", limit, imgprep_command(root, 1, out / "s1.json")),
        "j2": ("imgprep fit-stats -j 2", limit, imgprep_command(root, 2, out / "s2.json")),
        "numpy": ("numpy load-all", limit, child_command("numpy", root)),
        "j1_subset": (
            f"imgprep fit-stats -j 1 ({subset:,} subset)",
            subset,
            imgprep_command(subset_root, 1, out / "s_subset.json"),
        ),
    }
    return run_rounds(cases, repeat)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child == "prepare":
        prepare(args.idx, args.cache, args.limit)
        return
    if args.child:
        run_child(args.child, args.root)
        return
    script = str(Path(__file__).resolve())
    preparation = [script, "--child", "prepare", "--limit", str(args.limit)]
    preparation += ["--idx", str(args.idx), "--cache", str(args.cache)]
    subprocess.run([sys.executable, *preparation], check=True)
    compile_imgprep()
    subset = subset_size(args.limit)
    root, subset_root = args.cache / tree_name(args.limit), args.cache / tree_name(subset)
    with tempfile.TemporaryDirectory(prefix="imgprep-bench-") as tmp:
        out = Path(tmp)
        results = run_cases(root, subset_root, args.limit, subset, out, args.repeat)
        harness_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"imgprep fit-stats on {root} ({os.cpu_count()} CPUs, best of {args.repeat} "
            "interleaved rounds)"
        )
        print(format_table(list(results.values()), results["decode"]))
        print()
        print("\n".join(summary_lines(results, out / "s1.json", out / "s2.json", subset)))
        print(f"harness peak RSS (a floor under every RSS figure above): {harness_mb:.1f} MB")


if __name__ == "__main__":
    main()
