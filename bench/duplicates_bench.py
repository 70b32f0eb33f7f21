"""Benchmark and calibrate ``imgprep inspect --duplicates`` (perceptual hash, exact digest).

Three parts, one run:

1. Quality of the perceptual hash (``imgprep.profile``), which sets ``--near``'s default:
   - false positives: Hamming distances between all pairs of *different* images, the 40 real
     photos of ``../shared/data/photos-sample`` (780 pairs) and the first 1,000 real MNIST
     training digits (499,500 pairs); the table gives how many pairs fall within T bits.
   - recall: each photo against edited copies of itself (JPEG re-encoded at quality 50 and
     90, scaled to half size, 4 % cropped off every side, 10 % brighter, blurred with a
     radius-1 Gaussian, and, for contrast, mirrored, which is a different image to pHash).
   - with ``imagehash`` installed: the bits imgprep's hash differs from ``imagehash.phash``
     on the same photos (both are DCT pHash; imgprep reduces by area averaging, imagehash
     with Lanczos).
2. The search (``imgprep.duplicates.find_duplicates``) on 100,000 hashes: the 70,000 real
   MNIST digits (train and test) and 30,000 of them shifted right by one pixel (real near
   duplicates), without and with splits (the 60,000 training digits as ``train``).
3. ``imgprep inspect`` with and without ``--duplicates`` (``-j 1``, the table), each in its
   own process, round-robin over ``--repeat`` rounds (median), peak RSS from ``os.wait4``: on
   the 60,000 MNIST PNGs and on 600 real photos (15 crops of each sample photo, as
   ``loader_peers_bench``).

Run it (about 3 minutes on 2 cores)::

    python bench/duplicates_bench.py
    python bench/duplicates_bench.py --quick        # parts 1 and 2, smaller sizes
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported where used: part 3's harness stays small (its RSS is a floor)
    import numpy as np
    from PIL import Image

HERE = Path(__file__).resolve().parent
SHARED = HERE.parent.parent / "shared" / "data"
WORK = Path("/tmp/imgprep-duplicates-bench")
THRESHOLDS = (0, 2, 4, 6, 8, 10, 12)
EDITS = ("jpeg 50", "jpeg 90", "half size", "crop 4%", "brighter 10%", "blur r=1", "mirrored")
sys.path.insert(0, str(HERE))


def hashes_of(images: list[np.ndarray]) -> np.ndarray:
    import numpy as np

    from imgprep.profile import phashes, thumbnail

    return phashes(np.stack([thumbnail(image) for image in images]))


def pair_distances(hashes: np.ndarray) -> np.ndarray:
    import numpy as np

    from imgprep.profile import hamming

    first, second = np.triu_indices(len(hashes), 1)
    return hamming(hashes[first], hashes[second])


def edited(image: Image.Image, edit: str) -> Image.Image:
    """An edited copy of an RGB photo (``EDITS``)."""
    from PIL import Image, ImageEnhance, ImageFilter, ImageOps

    if edit.startswith("jpeg"):
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=int(edit.split()[1]))
        return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    if edit == "half size":
        return image.resize((max(1, image.width // 2), max(1, image.height // 2)), Image.LANCZOS)
    if edit == "crop 4%":
        dx, dy = round(image.width * 0.04), round(image.height * 0.04)
        return image.crop((dx, dy, image.width - dx, image.height - dy))
    if edit == "brighter 10%":
        return ImageEnhance.Brightness(image).enhance(1.1)
    if edit == "blur r=1":
        return image.filter(ImageFilter.GaussianBlur(1))
    return ImageOps.mirror(image)


def quality(photos: list[Image.Image], digits: np.ndarray) -> dict[str, object]:
    """False positives among different images, recall on edited copies, per threshold."""
    import numpy as np

    originals = hashes_of([np.asarray(photo) for photo in photos])
    photo_pairs = pair_distances(originals)
    digit_pairs = pair_distances(hashes_of(list(digits[..., None])))
    recall = {}
    for edit in EDITS:
        copies = hashes_of([np.asarray(edited(photo, edit)) for photo in photos])
        from imgprep.profile import hamming

        recall[edit] = hamming(originals, copies)
    return {"photo_pairs": photo_pairs, "digit_pairs": digit_pairs, "recall": recall}


def print_quality(result: dict[str, object]) -> None:
    import numpy as np

    photo_pairs, digit_pairs = result["photo_pairs"], result["digit_pairs"]
    recall: dict[str, np.ndarray] = result["recall"]  # type: ignore[assignment]
    header = "T (bits)                 " + "".join(f"{t:>9}" for t in THRESHOLDS)
    print(header)
    for name, distances in (("photos: different pairs", photo_pairs),
                            ("digits: different pairs", digit_pairs)):  # fmt: skip
        counts = [int((distances <= t).sum()) for t in THRESHOLDS]  # type: ignore[operator]
        share = [f"{c / len(distances):.2%}" for c in counts]  # type: ignore[arg-type]
        print(f"{name:<25}" + "".join(f"{s:>9}" for s in share)
              + f"   (of {len(distances):,})")  # type: ignore[arg-type]  # fmt: skip
    for edit, distances in recall.items():
        found = [f"{(distances <= t).mean():.0%}" for t in THRESHOLDS]
        print(f"{'recall: ' + edit:<25}" + "".join(f"{s:>9}" for s in found)
              + f"   (median {np.median(distances):g} bits)")  # fmt: skip


def imagehash_agreement(photos: list[Image.Image]) -> str:
    import numpy as np

    try:
        import imagehash
    except ImportError:
        return "imagehash not installed: agreement not measured"
    ours = hashes_of([np.asarray(photo) for photo in photos])
    theirs = np.array([int(str(imagehash.phash(photo)), 16) for photo in photos], dtype=np.uint64)
    from imgprep.profile import hamming

    bits = hamming(ours, theirs)
    return (f"imgprep vs imagehash.phash on {len(photos)} photos: mean {bits.mean():.1f} bits "
            f"differ, median {np.median(bits):g}, max {bits.max()}")  # fmt: skip


def search_speed(digits: np.ndarray, shifted: int, near: int) -> list[str]:
    """Seconds of find_duplicates on the digits' hashes plus ``shifted`` shifted copies."""
    import numpy as np

    from imgprep.duplicates import find_duplicates
    from imgprep.profile import Profiler

    images = list(digits) + [np.roll(d, 1, axis=1) for d in digits[:shifted]]
    start = time.perf_counter()
    parts = []
    for first in range(0, len(images), 1024):  # per batch of 1,024, as a worker does
        profiler = Profiler()
        for index, image in enumerate(images[first : first + 1024], start=first):
            profiler.add(index, image[..., None])
        parts.append(profiler.rows())
    rows = np.concatenate(parts)
    profiled = time.perf_counter() - start
    lines = [f"profiles of {len(rows):,} digits: {profiled:.2f} s "
             f"({profiled / len(rows) * 1e6:.0f} us per image, in one process)"]  # fmt: skip
    train = min(60_000, len(digits))
    for splits in (None, ["train"] * train + ["test"] * (len(rows) - train)):
        start = time.perf_counter()
        report = find_duplicates(rows["digest"], rows["phash"], splits, near=near)
        seconds = time.perf_counter() - start
        lines.append(
            f"find_duplicates, {len(rows):,} hashes, near {near}, "
            f"{'with' if splits else 'without'} splits: {seconds:.2f} s; "
            f"{len(report.exact_groups)} exact groups, {len(report.near_pairs):,} near pairs"
            + (f", {len(report.leaks):,} test images duplicate a train image" if splits else "")
        )
    return lines


def run(command: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of ``command`` in its own process."""
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) not in (0, 1):  # 1: a gate failed, still measured
        raise SystemExit(f"failed: {command}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024


def inspect_cost(trees: dict[str, tuple[Path, int]], repeat: int) -> list[str]:
    cases = {}
    for name, (tree, _) in trees.items():
        base = [sys.executable, "-m", "imgprep", "inspect", str(tree), "-q", "-j", "1"]
        cases[f"{name}: inspect"] = base
        cases[f"{name}: inspect --duplicates"] = [*base, "--duplicates"]
    times: dict[str, list[float]] = {key: [] for key in cases}
    peaks: dict[str, float] = dict.fromkeys(cases, 0.0)
    for _ in range(repeat):
        for key, command in cases.items():
            seconds, peak = run(command)
            times[key].append(seconds)
            peaks[key] = max(peaks[key], peak)
    lines = [f"{'case':<38}{'images':>8}{'seconds':>9}{'images/s':>10}{'peak RSS MB':>13}"]
    for key in cases:
        images = trees[key.split(":")[0]][1]
        median = statistics.median(times[key])
        lines.append(f"{key:<38}{images:>8}{median:>9.2f}{images / median:>10.0f}"
                     f"{peaks[key]:>13.1f}")  # fmt: skip
    for name in trees:
        plain = statistics.median(times[f"{name}: inspect"])
        more = statistics.median(times[f"{name}: inspect --duplicates"])
        lines.append(f"{name}: --duplicates takes {more / plain:.2f}x plain inspect "
                     f"(+{(more - plain) / trees[name][1] * 1e6:.0f} us per image)")  # fmt: skip
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="parts 1-2 only, 20,000 hashes")
    parser.add_argument("--repeat", type=int, default=3, help="rounds of part 3 (median)")
    parser.add_argument("--part", choices=("all", "inspect", "prepare"), default="all",
                        help=argparse.SUPPRESS)  # fmt: skip
    args = parser.parse_args()
    if args.part == "prepare":
        return prepare_trees()
    if args.part == "inspect":
        return print_lines(inspect_cost(TREES, args.repeat))
    quality_and_search(args.quick)
    if not args.quick:
        print()
        print(f"3. inspect, -j 1, median of {args.repeat} round-robin rounds (peak RSS: the "
              "largest process of the case)", flush=True)  # fmt: skip
        here = [sys.executable, str(Path(__file__).resolve())]
        subprocess.run([*here, "--part", "prepare"], check=True)
        subprocess.run([*here, "--part", "inspect", "--repeat", str(args.repeat)], check=True)


TREES = {
    "mnist 60,000": (WORK / "mnist-train", 60_000),
    "photos 600": (WORK / "photos", 600),
}


def prepare_trees() -> None:
    from fit_stats_bench import ensure_tree, load_idx
    from loader_peers_bench import write_photos

    digits, labels = load_idx(SHARED / "mnist-idx", 60_000)
    ensure_tree(TREES["mnist 60,000"][0], digits, labels)
    write_photos(TREES["photos 600"][0])


def print_lines(lines: list[str]) -> None:
    for line in lines:
        print(line)


def quality_and_search(quick: bool) -> None:
    import numpy as np
    from fit_stats_bench import load_idx
    from PIL import Image

    from imgprep.cli.inspect_duplicates import DEFAULT_NEAR

    photos = [Image.open(path).convert("RGB")
              for path in sorted((SHARED / "photos-sample").glob("*/*.jpg"))]  # fmt: skip
    digits, _ = load_idx(SHARED / "mnist-idx", 60_000)
    print("1. perceptual hash: share of pairs within T bits")
    print_quality(quality(photos, digits[:1000]))
    print(imagehash_agreement(photos))
    print()
    print("2. search")
    count = 20_000 if quick else 60_000
    test = load_test_digits() if not quick else np.zeros((0, 28, 28), np.uint8)
    everything = np.concatenate([digits[:count], test])
    shifted = 0 if quick else 100_000 - len(everything)
    print_lines(search_speed(everything, shifted, DEFAULT_NEAR))


def load_test_digits() -> np.ndarray:
    import gzip

    import numpy as np

    raw = gzip.decompress((SHARED / "mnist-idx" / "t10k-images.idx3-ubyte.gz").read_bytes())
    return np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(-1, 28, 28)


if __name__ == "__main__":
    main()
