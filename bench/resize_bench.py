"""Photos to 224 x 224 uint8 HDF5: the hand-written Pillow + h5py script against ``imgprep
transform`` with each ``--resize-backend``, and the backends' pixels against Pillow's.

Data: the 400 JPEG photos of ``transform_bench.py`` (10 crops of each of the 40 real photos
in ``../shared/data/photos-sample``, built once under ``--cache``).

Speed, each case a whole process (interpreter start-up and imports included), in
``--repeat`` interleaved rounds; the median wall time and the largest peak RSS
(``os.wait4``) per case:

- ``script``: ``Image.open(p).convert('RGB').resize((224, 224), Image.BILINEAR)`` per file,
  written in batches of 32 into a preallocated uint8 h5py dataset: what a user writes.
- ``imgprep pillow`` / ``imgprep opencv``: ``imgprep transform ROOT -o OUT.h5 --size
  224x224 -q -j 1 --resize-backend B`` (JPEG draft on, the default).

Pixels: every pixel of every photo, each way's rows against Pillow's bilinear resize of the
full decode (no draft): mean and 99th percentile of the absolute difference in grey levels,
and the largest; for scale, Pillow's bicubic against its bilinear on the same photos.

Run it (about 40 s)::

    python bench/resize_bench.py
    python bench/resize_bench.py --repeat 9 --cache DIR
"""

from __future__ import annotations

import argparse
import glob
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SIZE = (224, 224)
PHOTO_COUNT = 400  # transform_bench.PHOTO_COUNT
SCRIPT = """
import sys, glob, numpy as np, h5py
from PIL import Image
paths = sorted(glob.glob(sys.argv[1] + '/*/*.jpg'))
with h5py.File(sys.argv[2], 'w') as f:
    d = f.create_dataset('images', (len(paths), 224, 224, 3), np.uint8)
    batch = []
    for i, p in enumerate(paths):
        batch.append(np.asarray(Image.open(p).convert('RGB').resize((224, 224), Image.BILINEAR)))
        if len(batch) == 32 or i == len(paths) - 1:
            d[i + 1 - len(batch): i + 1] = np.stack(batch)
            batch = []
"""


def timed(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one whole process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024


def cases(root: Path, out: Path) -> dict[str, list[str]]:
    imgprep = [sys.executable, "-m", "imgprep", "transform", str(root), "--size", "224x224"]
    flags = ["-q", "-j", "1", "--overwrite"]
    return {
        "script": [sys.executable, "-c", SCRIPT, str(root), str(out / "script.h5")],
        "imgprep pillow": [*imgprep, "-o", str(out / "pillow.h5"), *flags],
        "imgprep opencv": [
            *imgprep, "-o", str(out / "opencv.h5"), *flags, "--resize-backend", "opencv",
        ],
    }  # fmt: skip


def pixel_errors(root: Path, out: Path) -> dict[str, tuple[float, float, int]]:
    """Each output's rows (and Pillow's bicubic) against Pillow's full-decode bilinear."""
    import h5py
    import numpy as np
    from PIL import Image

    paths = sorted(glob.glob(f"{root}/*/*.jpg"))
    histograms: dict[str, np.ndarray] = {}

    def add(name: str, rows: np.ndarray, reference: np.ndarray) -> None:
        difference = np.abs(rows.astype(np.int16) - reference).ravel()
        counts = np.bincount(difference, minlength=256)
        histograms[name] = histograms.get(name, 0) + counts

    files = {name: h5py.File(out / f"{name}.h5") for name in ("script", "pillow", "opencv")}
    try:
        order = {
            name: [p.decode() for p in f["paths"][:]] for name, f in files.items() if "paths" in f
        }
        for index, path in enumerate(paths):
            with Image.open(path) as image:
                full = image.convert("RGB")
            reference = np.asarray(full.resize(SIZE, Image.Resampling.BILINEAR), np.int16)
            add("script", files["script"]["images"][index], reference)
            rel = os.path.relpath(path, root)
            for name in ("pillow", "opencv"):
                add(f"imgprep {name}", files[name]["images"][order[name].index(rel)], reference)
            add(
                "Pillow bicubic (for scale)",
                np.asarray(full.resize(SIZE, Image.Resampling.BICUBIC)),
                reference,
            )
    finally:
        for f in files.values():
            f.close()
    results = {}
    for name, counts in histograms.items():
        cumulative = np.cumsum(counts)
        total = int(cumulative[-1])
        mean = float(np.arange(256) @ counts) / total
        p99 = int(np.searchsorted(cumulative, 0.99 * total))
        results[name] = (mean, p99, int(np.nonzero(counts)[0].max()))
    return results


def prepare(root: Path) -> None:
    """imgprep byte-compiled, the photo tree built if missing, every file read once (a
    warm page cache)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from fit_stats_bench import compile_imgprep
    from transform_bench import DEFAULT_PHOTOS, ensure_photo_tree

    compile_imgprep()  # as pip install does (see fit_stats_bench)
    ensure_photo_tree(root, DEFAULT_PHOTOS, PHOTO_COUNT)
    for path in glob.glob(f"{root}/*/*.jpg"):
        Path(path).read_bytes()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path("/tmp/imgprep-bench-cache"))
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--prepare", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.prepare is not None:
        prepare(args.prepare)
        return
    root = args.cache / f"photos-{PHOTO_COUNT}"
    # built in a child: a child's peak RSS counts the process it was forked from, so this
    # one imports neither NumPy nor Pillow before timing
    subprocess.run([sys.executable, __file__, "--prepare", str(root)], check=True)
    with tempfile.TemporaryDirectory() as scratch:
        out = Path(scratch)
        commands = cases(root, out)
        runs: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
        for command in commands.values():  # warm-up round
            timed(command)
        for _ in range(args.repeat):
            for name, command in commands.items():
                runs[name].append(timed(command))
        script = statistics.median(seconds for seconds, _ in runs["script"])
        print(f"{PHOTO_COUNT} photos to 224x224 uint8 HDF5, median of {args.repeat} rounds")
        print("| case | seconds | ms/photo | peak RSS | speed vs script |")
        print("|---|---:|---:|---:|---:|")
        for name, values in runs.items():
            seconds = statistics.median(s for s, _ in values)
            peak = max(rss for _, rss in values)
            print(
                f"| {name} | {seconds:.2f} | {seconds / PHOTO_COUNT * 1e3:.2f} | "
                f"{peak:.0f} MB | {script / seconds:.2f}x |"
            )
        print("\n| pixels against Pillow's full-decode bilinear | mean | p99 | max |")
        print("|---|---:|---:|---:|")
        for name, (mean, p99, largest) in pixel_errors(root, out).items():
            print(f"| {name} | {mean:.3f} | {p99} | {largest} |")


if __name__ == "__main__":
    main()
