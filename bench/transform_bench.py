"""Benchmark ``imgprep transform`` to HDF5 against the scripts users write today.

Two real datasets, each built once under ``--cache`` (default ``/tmp/imgprep-bench-cache``):

- MNIST: the 60,000 training digits as PNG files in class folders,
  ``mnist-train/<label>/<index:05d>.png``, written from the IDX files exactly as
  ``fit_stats_bench.py`` does (and shared with it), plus ``mnist-train-6000`` (the first 6,000).
- Photos: 400 JPEG photos, ``photos-400/<a|b>/<nnnn>.jpg``: 10 crops of each of the 40 real
  photos in ``../shared/data/photos-sample/<a|b>/`` (each crop keeps 60-100% of the width and
  of the height at a random place; 30% of them are then upscaled 1.5x; the longer side is
  clamped to 300..2000 px), saved by Pillow at JPEG quality 90, deterministic
  (``numpy.random.default_rng(0)``). Photo ``n`` comes from source photo ``n // 10``, whose
  classes alternate, so the first N photos hold both classes.

What it measures. As in ``fit_stats_bench.py``, each case runs in its own subprocess: the
wall time is taken by this script from the start of the subprocess to its exit (interpreter
start-up and imports included), and the peak RSS comes from ``os.wait4`` on it, i.e. the
largest resident set of any single process of the case (for ``-j 2``: the largest of the
main process and its two workers, not their sum). ``ru_maxrss`` also counts the memory of
the process a case was started from, so this harness imports neither NumPy nor Pillow (nor
h5py): the datasets are built, and the outputs checked, in subprocesses. Its own peak,
printed last, is a floor under every RSS figure.

MNIST cases (same work: featurewise centre and standardize after rescale 1/255, float32
``images`` (N, 28, 28, 1) and ``labels`` in HDF5):

- ``script, 2 passes``: what a user writes today (as Keras' ``flow_from_directory``): class
  folders and files sorted, ``Image.open(p).convert('L')``, ``np.asarray(..., np.float32) *
  (1/255)``; pass 1 sums pixels and squared pixels in float64 per image for the mean and std;
  pass 2 computes ``(x - mean) / (std + 1e-6)`` and writes batches of 256 into a
  preallocated float32 h5py dataset.
- ``imgprep -j 1`` / ``-j 2``: ``imgprep transform ROOT -o OUT.h5 --color grayscale
  --rescale 1/255 --center featurewise --standardize featurewise -q -j N`` (a statistics
  pass over the files, then the transform pass).
- ``imgprep -j 1`` on the first 6,000 images, to compare peak RSS with the full run.

Photo cases (224 x 224 RGB float32):

- ``decode ceiling``: ``np.asarray(Image.open(p).convert('RGB'))`` for every file, nothing else.
- ``script, ImageNet constants``: ``Image.open(p).convert('RGB').resize((224, 224),
  Image.BILINEAR)``, float32 / 255, minus the ImageNet mean, divided by its std, written in
  batches of 32 into a preallocated (N, 224, 224, 3) float32 h5py dataset. One pass.
- ``script, own stats``: the same work as imgprep's: a first pass of decode + resize for the
  per-channel mean and std (float64 sums), then decode + resize again, normalize, write.
- ``imgprep -j 1`` / ``-j 2``: ``imgprep transform ROOT -o OUT.h5 --color rgb --size 224x224
  --rescale 1/255 --center featurewise --standardize featurewise -q -j N``. The featurewise
  statistics come from these files, in the same pass (each photo is decoded and resized
  once, its raw rows wait in a scratch file, and are normalized when the statistics are
  known); the script needs no statistics (fixed constants), so it still does less work.

Augmentation cases (``augment_cases``, for the memory budget of ``imgprep.run.transform_pass``): the
first 40 photos to 224 x 224 RGB float32 (``--rescale 1/255``, no statistics), without
augmentation, then with 8 copies each (``--rotation-range 20 --horizontal-flip``) at the
default batch, at ``--batch-size 1`` and with ``-j 2``: the peak RSS should be about the
same in all four (the images column counts source photos).

Each table gives images, seconds, images/s, peak RSS and the speed relative to the
hand-written script (script time / case time, above 1 is faster than the script); the photo
table also relative to the decode ceiling. Then the checks, run in a subprocess on the last
round's outputs: MNIST imgprep vs script (max abs difference of ``images``, labels equal),
``-j 1`` vs ``-j 2`` outputs identical, the per-channel mean and std of imgprep's outputs
(should be ~0 and ~1), and for photos the max and mean abs difference between imgprep's and
the script's images once each one's own normalization is undone, in 8-bit levels (both
resize with Pillow's bilinear filter, so this checks decoding and resizing; imgprep's JPEG
draft mode, on by default with ``--size``, decodes large JPEGs at a reduced scale and so
differs from a full decode by a fraction of a level on average, more on some pixels).

The imgprep package is installed in editable mode; a short hash of its sources is printed,
taken before and after the run, with a warning when they changed while it ran.

Every file is read once before timing (warm page cache), and the imgprep package is
byte-compiled first, as ``pip install`` does. Cases are run in ``--repeat``
interleaved rounds (this VM's speed drifts by tens of percent over minutes); each case keeps
its fastest round and its largest peak RSS.

Run it (about 2.5 to 3 minutes on 2 cores with the default 3 rounds; add about 15 s the first
time, which writes the photos and, if missing, the MNIST PNG files)::

    /tmp/venv/bin/python bench/transform_bench.py
    /tmp/venv/bin/python bench/transform_bench.py --mnist-limit 5000 --photo-limit 40 --repeat 1
    /tmp/venv/bin/python bench/transform_bench.py --idx DIR --photos DIR --cache DIR

With ``--mnist-limit N`` only the first N digits are used (trees ``mnist-train-<N>`` and
``mnist-train-<N/10>``); with ``--photo-limit N`` the first N photos (tree ``photos-<N>``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fit_stats_bench import (
    DEFAULT_CACHE,
    DEFAULT_IDX,
    MNIST_TRAIN_SIZE,
    Case,
    CaseResult,
    compile_imgprep,
    ensure_tree,
    list_pngs,
    load_idx,
    run_rounds,
    subset_size,
    tree_name,
)

if TYPE_CHECKING:  # NumPy, Pillow and h5py are imported only in subprocesses.
    import numpy as np
    from PIL import Image

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos-sample"
PHOTO_COUNT = 400
CROPS_PER_PHOTO = 10
CROP_RANGE = (0.6, 1.0)
UPSCALE, UPSCALE_SHARE = 1.5, 0.3
SIDE_RANGE = (300, 2000)
JPEG_QUALITY = 90
PHOTO_SIZE = 224
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
EPSILON = 1e-6  # Keras' and imgprep's: x / (std + 1e-6)
MNIST_BATCH, PHOTO_BATCH = 256, 32
CHECK_ROWS = 2048  # images per read while checking outputs
CHILD_CASES = (
    "prepare",
    "mnist-script",
    "photo-decode",
    "photo-script",
    "photo-script-stats",
    "check",
)


# --------------------------------------------------------------------------- datasets


def photo_tree_name(count: int) -> str:
    return f"photos-{count}"


def list_class_files(root: Path, suffix: str) -> tuple[list[str], list[int]]:
    """Class folders sorted, files sorted in each (``flow_from_directory``): paths, labels."""
    classes = sorted(entry.name for entry in os.scandir(root) if entry.is_dir())
    paths: list[str] = []
    labels: list[int] = []
    for label, name in enumerate(classes):
        folder = os.path.join(root, name)
        names = sorted(item for item in os.listdir(folder) if item.endswith(suffix))
        paths += [os.path.join(folder, item) for item in names]
        labels += [label] * len(names)
    return paths, labels


def crop_and_scale(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """A crop of 60-100% of each side, sometimes upscaled, longer side clamped to 300..2000."""
    from PIL import Image

    width, height = image.size
    crop_w = max(1, round(width * rng.uniform(*CROP_RANGE)))
    crop_h = max(1, round(height * rng.uniform(*CROP_RANGE)))
    left = int(rng.integers(0, width - crop_w + 1))
    top = int(rng.integers(0, height - crop_h + 1))
    scale = UPSCALE if rng.random() < UPSCALE_SHARE else 1.0
    longer = max(crop_w, crop_h)
    scale = min(max(scale, SIDE_RANGE[0] / longer), SIDE_RANGE[1] / longer)
    size = (max(1, round(crop_w * scale)), max(1, round(crop_h * scale)))
    box = (left, top, left + crop_w, top + crop_h)
    return image.resize(size, Image.Resampling.LANCZOS, box=box)


def generate_photos(sources: Path) -> Iterator[tuple[str, Image.Image]]:
    """``(relative path, image)`` of the 400 photos, in order, deterministically."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    originals = sorted(sources.glob("*/*.jpg"), key=lambda path: (path.name, path.parent.name))
    for index, source in enumerate(originals):
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        for crop in range(CROPS_PER_PHOTO):
            number = index * CROPS_PER_PHOTO + crop
            yield f"{source.parent.name}/{number:04d}.jpg", crop_and_scale(image, rng)


def list_jpegs(root: Path) -> list[str]:
    return sorted(str(path) for path in root.glob("*/*.jpg"))


def ensure_photo_tree(root: Path, sources: Path, count: int) -> bool:
    """Write the first ``count`` photos under ``root`` unless it holds that many already."""
    if root.is_dir() and len(list_jpegs(root)) == count:
        return False
    if len(list(sources.glob("*/*.jpg"))) * CROPS_PER_PHOTO < count:
        raise SystemExit(f"{sources}: too few photos for {count} crops")
    staging = root.with_name(root.name + ".partial")
    shutil.rmtree(staging, ignore_errors=True)
    for _, (rel, image) in zip(range(count), generate_photos(sources), strict=False):
        target = staging / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        image.save(target, "JPEG", quality=JPEG_QUALITY)
    shutil.rmtree(root, ignore_errors=True)
    staging.rename(root)
    return True


def describe_photos(root: Path) -> dict[str, Any]:
    """Count, side range, mean megapixels and bytes of the photo tree (headers only)."""
    from PIL import Image

    paths = list_jpegs(root)
    sizes = []
    for path in paths:
        with Image.open(path) as image:
            sizes.append(image.size)
    return {
        "count": len(sizes),
        "min_side": min(min(size) for size in sizes),
        "max_side": max(max(size) for size in sizes),
        "mean_megapixels": sum(w * h for w, h in sizes) / len(sizes) / 1e6,
        "megabytes": sum(os.path.getsize(path) for path in paths) / 1e6,
    }


def warm(paths: Sequence[str]) -> int:
    """Read every file once (untimed) so that no case pays for a cold cache; total bytes."""
    total = 0
    for path in paths:
        with open(path, "rb") as handle:
            total += len(handle.read())
    return total


def prepare(args: argparse.Namespace) -> None:
    """Subprocess ``prepare``: build (or reuse) every tree, warm the cache, describe photos."""
    images, labels = load_idx(args.idx, args.mnist_limit)
    paths: list[str] = []
    for count in (args.mnist_limit, subset_size(args.mnist_limit)):
        root = args.cache / tree_name(count)
        written = ensure_tree(root, images[:count], labels[:count])
        log(f"dataset {root} ({count:,} images): {'written' if written else 'reused'}")
        paths += list_pngs(root)
    photo_root = args.cache / photo_tree_name(args.photo_limit)
    written = ensure_photo_tree(photo_root, args.photos, args.photo_limit)
    log(f"dataset {photo_root} ({args.photo_limit} photos): {'written' if written else 'reused'}")
    paths += list_jpegs(photo_root)
    log(f"page cache warmed ({warm(paths) / 1e6:.1f} MB read)")
    print(json.dumps(describe_photos(photo_root)))


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- child cases


def write_in_batches(
    out: Path,
    paths: list[str],
    labels: list[int],
    shape: tuple[int, ...],
    batch_size: int,
    row: Any,
) -> None:
    """What each hand-written script does last: ``row(path)`` for every file, gathered in a
    float32 batch and written into a preallocated h5py dataset, with the labels."""
    import h5py
    import numpy as np

    with h5py.File(out, "w") as handle:
        images = handle.create_dataset("images", (len(paths), *shape), np.float32)
        handle.create_dataset("labels", data=np.array(labels, dtype=np.int64))
        batch = np.empty((batch_size, *shape), np.float32)
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            for i, path in enumerate(chunk):
                batch[i] = row(path)
            images[start : start + len(chunk)] = batch[: len(chunk)]


def child_mnist_script(root: Path, out: Path) -> dict[str, float]:
    """Case 1, the hand-written MNIST script: two passes, featurewise, h5py in batches."""
    import numpy as np
    from PIL import Image

    paths, labels = list_class_files(root, ".png")

    def load(path: str) -> np.ndarray:
        return np.asarray(Image.open(path).convert("L"), dtype=np.float32) * (1 / 255)

    total = total_sq = 0.0
    for path in paths:
        x = load(path)
        total += float(x.sum(dtype=np.float64))
        total_sq += float(np.square(x, dtype=np.float64).sum())
    height, width = load(paths[0]).shape
    count = len(paths) * height * width
    mean = total / count
    std = (total_sq / count - mean * mean) ** 0.5
    write_in_batches(
        out,
        paths,
        labels,
        (height, width, 1),
        MNIST_BATCH,
        lambda path: ((load(path) - mean) / (std + EPSILON))[:, :, None],
    )
    return {"images": len(paths), "mean": mean, "std": std}


def child_photo_decode(root: Path) -> dict[str, float]:
    """Case 5, the decode ceiling: every photo decoded to an RGB array, nothing else."""
    import numpy as np
    from PIL import Image

    pixels = 0
    paths = list_jpegs(root)
    for path in paths:
        pixels += np.asarray(Image.open(path).convert("RGB")).size
    return {"images": len(paths), "pixels": pixels}


def child_photo_script(root: Path, out: Path) -> dict[str, float]:
    """Case 4, the hand-written photo script: resize, ImageNet constants, h5py in batches."""
    import numpy as np
    from PIL import Image

    paths, labels = list_class_files(root, ".jpg")
    mean = np.array(IMAGENET_MEAN, dtype=np.float32)
    std = np.array(IMAGENET_STD, dtype=np.float32)
    side = PHOTO_SIZE

    def row(path: str) -> np.ndarray:
        image = Image.open(path).convert("RGB").resize((side, side), Image.BILINEAR)
        return (np.asarray(image, dtype=np.float32) / 255 - mean) / std

    write_in_batches(out, paths, labels, (side, side, 3), PHOTO_BATCH, row)
    return {"images": len(paths)}


def child_photo_script_stats(root: Path, out: Path) -> dict[str, float]:
    """Case 4b, the same work as imgprep's: per-channel statistics of the resized photos in a
    first pass (float64 sums, as the MNIST script), then resize, normalize and write."""
    import numpy as np
    from PIL import Image

    paths, labels = list_class_files(root, ".jpg")
    side = PHOTO_SIZE

    def load(path: str) -> np.ndarray:
        image = Image.open(path).convert("RGB").resize((side, side), Image.BILINEAR)
        return np.asarray(image, dtype=np.float32) / 255

    total = np.zeros(3)
    total_sq = np.zeros(3)
    for path in paths:
        x = load(path).reshape(-1, 3)
        total += x.sum(axis=0, dtype=np.float64)
        total_sq += np.square(x, dtype=np.float64).sum(axis=0)
    count = len(paths) * side * side
    mean = total / count
    std = np.sqrt(total_sq / count - mean * mean)
    shift, scale = mean.astype(np.float32), (std + EPSILON).astype(np.float32)
    write_in_batches(
        out, paths, labels, (side, side, 3), PHOTO_BATCH, lambda path: (load(path) - shift) / scale
    )
    return {"images": len(paths)}


# --------------------------------------------------------------------------- checks


def row_blocks(*datasets: Any) -> Iterator[tuple[np.ndarray, ...]]:
    """The same rows of several h5py datasets, ``CHECK_ROWS`` at a time."""
    for start in range(0, len(datasets[0]), CHECK_ROWS):
        yield tuple(data[start : start + CHECK_ROWS] for data in datasets)


def channel_moments(data: Any) -> tuple[list[float], list[float]]:
    """Per-channel mean and population std of an (N, H, W, C) dataset, in float64."""
    import numpy as np

    channels = data.shape[-1]
    total, total_sq, count = np.zeros(channels), np.zeros(channels), 0
    for (block,) in row_blocks(data):
        flat = block.reshape(-1, channels).astype(np.float64)
        total += flat.sum(axis=0)
        total_sq += np.square(flat).sum(axis=0)
        count += len(flat)
    mean = total / count
    return mean.tolist(), np.sqrt(total_sq / count - mean**2).tolist()


def identical(first: Any, second: Any) -> bool:
    import numpy as np

    if first.shape != second.shape:
        return False
    return all(np.array_equal(a, b) for a, b in row_blocks(first, second))


def max_abs_diff(first: Any, second: Any) -> float:
    import numpy as np

    if first.shape != second.shape:
        return float("inf")
    return max(float(np.abs(a - b).max()) for a, b in row_blocks(first, second))


def featurewise_numbers(handle: Any) -> tuple[np.ndarray, np.ndarray]:
    """The mean and std + epsilon imgprep applied, from the ``pipeline`` attribute."""
    import numpy as np

    steps = {step["step"]: step for step in json.loads(handle.attrs["pipeline"])["steps"]}
    mean = np.array(steps["featurewise_center"]["mean"])
    standardize = steps["featurewise_standardize"]
    return mean, np.array(standardize["std"]) + standardize["epsilon"]


def photo_pixel_diff(script: Any, imgprep: Any) -> tuple[float, float, int]:
    """imgprep's and the script's images once each one's normalization is undone, in 8-bit
    levels (0..255): max and mean abs difference, and how many images differ by more than
    one level somewhere."""
    import numpy as np

    mean, scale = featurewise_numbers(imgprep)
    net_mean = np.array(IMAGENET_MEAN)
    net_std = np.array(IMAGENET_STD)
    worst, total, count, beyond = 0.0, 0.0, 0, 0
    for ours, theirs in row_blocks(imgprep["images"], script["images"]):
        pixels = ours.astype(np.float64) * scale + mean
        reference = theirs.astype(np.float64) * net_std + net_mean
        diff = np.abs(pixels - reference).reshape(len(ours), -1) * 255
        per_image = diff.max(axis=1)
        worst = max(worst, float(per_image.max()))
        total, count = total + float(diff.sum()), count + diff.size
        beyond += int((per_image > 1 + 1e-3).sum())
    return worst, total / count, beyond


def decode_options(handle: Any) -> dict[str, Any]:
    """The decode settings imgprep recorded in an output (colour, size, JPEG draft...)."""
    return json.loads(handle.attrs["pipeline"])["options"]["decode"]


def child_check(out: Path) -> dict[str, Any]:
    """Compare the last round's outputs; per-channel moments of imgprep's outputs."""
    import h5py
    import numpy as np

    with (
        h5py.File(out / "m0.h5") as m0,
        h5py.File(out / "m1.h5") as m1,
        h5py.File(out / "m2.h5") as m2,
        h5py.File(out / "p0.h5") as p0,
        h5py.File(out / "p1.h5") as p1,
        h5py.File(out / "p2.h5") as p2,
    ):
        m_mean, m_std = channel_moments(m1["images"])
        s_mean, s_std = channel_moments(m0["images"])
        p_mean, p_std = channel_moments(p1["images"])
        return {
            "mnist_shapes": [list(m0["images"].shape), list(m1["images"].shape)],
            "mnist_max_abs_diff": max_abs_diff(m0["images"], m1["images"]),
            "mnist_labels_equal": bool(np.array_equal(m0["labels"][:], m1["labels"][:])),
            "mnist_j1_j2_identical": identical(m1["images"], m2["images"]),
            "mnist_imgprep_moments": [m_mean, m_std],
            "mnist_script_moments": [s_mean, s_std],
            "mnist_imgprep_stats": [x.tolist() for x in featurewise_numbers(m1)],
            "photo_shapes": [list(p0["images"].shape), list(p1["images"].shape)],
            "photo_labels_equal": bool(np.array_equal(p0["labels"][:], p1["labels"][:])),
            "photo_j1_j2_identical": identical(p1["images"], p2["images"]),
            "photo_imgprep_moments": [p_mean, p_std],
            "photo_pixel_diff": photo_pixel_diff(p0, p1),
            "photo_decode_options": decode_options(p1),
        }


def run_child(args: argparse.Namespace) -> None:
    """Entry point of a case subprocess: run it and print its result as one JSON line."""
    if args.child == "prepare":
        prepare(args)
        return
    results = {
        "mnist-script": lambda: child_mnist_script(args.root, args.out),
        "photo-decode": lambda: child_photo_decode(args.root),
        "photo-script": lambda: child_photo_script(args.root, args.out),
        "photo-script-stats": lambda: child_photo_script_stats(args.root, args.out),
        "check": lambda: child_check(args.out),
    }
    print(json.dumps(results[args.child]()))


# --------------------------------------------------------------------------- commands


def child_command(case: str, root: Path | None = None, out: Path | None = None) -> list[str]:
    command = [sys.executable, str(Path(__file__).resolve()), "--child", case]
    if root is not None:
        command += ["--root", str(root)]
    if out is not None:
        command += ["--out", str(out)]
    return command


def imgprep_command(root: Path, output: Path, workers: int, decode: Sequence[str]) -> list[str]:
    """``imgprep transform`` with featurewise centre and standardize after rescale 1/255."""
    script = Path(sys.executable).parent / "imgprep"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "imgprep"]
    return [
        *prefix,
        "transform",
        str(root),
        "-o",
        str(output),
        *decode,
        "--rescale",
        "1/255",
        "--center",
        "featurewise",
        "--standardize",
        "featurewise",
        "-q",
        "-j",
        str(workers),
    ]


def mnist_cases(root: Path, subset_root: Path, limit: int, out: Path) -> dict[str, Case]:
    grey = ["--color", "grayscale"]
    subset = subset_size(limit)
    return {
        "m_script": ("script, 2 passes", limit, child_command("mnist-script", root, out / "m0.h5")),
        "m_j1": ("imgprep -j 1", limit, imgprep_command(root, out / "m1.h5", 1, grey)),
        "m_j2": ("imgprep -j 2", limit, imgprep_command(root, out / "m2.h5", 2, grey)),
        "m_subset": (
            f"imgprep -j 1, first {subset:,}",
            subset,
            imgprep_command(subset_root, out / "m_subset.h5", 1, grey),
        ),
    }


def photo_cases(root: Path, count: int, out: Path) -> dict[str, Case]:
    rgb = ["--color", "rgb", "--size", f"{PHOTO_SIZE}x{PHOTO_SIZE}"]
    return {
        "p_decode": (
            "decode ceiling (1 pass, no resize)",
            count,
            child_command("photo-decode", root),
        ),
        "p_script": (
            "script, ImageNet constants (1 pass)",
            count,
            child_command("photo-script", root, out / "p0.h5"),
        ),
        "p_script_stats": (
            "script, own stats (2 passes)",
            count,
            child_command("photo-script-stats", root, out / "p0s.h5"),
        ),
        "p_j1": ("imgprep -j 1 (own stats)", count, imgprep_command(root, out / "p1.h5", 1, rgb)),
        "p_j2": ("imgprep -j 2 (own stats)", count, imgprep_command(root, out / "p2.h5", 2, rgb)),
    }


AUGMENT_PHOTOS = 40  # photos in the augmentation cases (8 copies each: 320 rows of 600 kB)
AUGMENT = ["--rotation-range", "20", "--horizontal-flip", "--copies", "8", "--seed", "1"]


def augment_cases(root: Path, count: int, out: Path) -> dict[str, Case]:
    """Peak RSS with and without augmentation (``imgprep.run.transform_pass``'s memory budget): the
    first photos to 224 x 224 float32, no statistics; 8 copies each, the default batch, one
    file per task, and 2 workers. The copies of a photo (4.8 MB) exceed a task's 4 MiB, so
    each photo is cut into ranges of its copies."""
    count = min(count, AUGMENT_PHOTOS)
    listing = out / "augment-files.txt"
    listing.write_text("".join(f"{path}\n" for path in list_jpegs(root)[:count]))
    script = Path(sys.executable).parent / "imgprep"
    prefix = [str(script)] if script.exists() else [sys.executable, "-m", "imgprep"]
    base = [*prefix, "transform", "--files-from", str(listing), "--color", "rgb"]
    base += ["--size", f"{PHOTO_SIZE}x{PHOTO_SIZE}", "--rescale", "1/255", "-q"]
    variants = {
        "a_plain": ("no augmentation, -j 1", []),
        "a_copies": ("8 copies, -j 1", AUGMENT),
        "a_copies_b1": ("8 copies, --batch-size 1, -j 1", [*AUGMENT, "--batch-size", "1"]),
        "a_copies_j2": ("8 copies, -j 2", [*AUGMENT, "-j", "2"]),
    }
    return {
        key: (label, count, [*base, "-o", str(out / f"{key}.h5"), *extra])
        for key, (label, extra) in variants.items()
    }


# --------------------------------------------------------------------------- reporting


def format_table(results: Sequence[CaseResult], references: Sequence[CaseResult]) -> str:
    """One row per case; each 'vs' column is reference time / case time (same images only)."""
    header = (
        f"{'case':<36} {'images':>7} {'seconds':>8} {'images/s':>9} {'peak RSS MB':>11}"
        + "".join(f" {'vs ' + reference_label(ref):>11}" for ref in references)
    )
    lines = [header, "-" * len(header)]
    for result in results:
        row = (
            f"{result.name:<36} {result.images:>7} {result.seconds:>8.2f} "
            f"{result.images / result.seconds:>9.1f} {result.peak_rss_mb:>11.1f}"
        )
        for ref in references:
            if ref.images != result.images:  # another dataset size: no like-for-like ratio
                row += f" {'':>11}"
                continue
            row += f" {ref.seconds / result.seconds:>10.2f}x"
        lines.append(row)
    return "\n".join(lines)


def reference_label(reference: CaseResult) -> str:
    return "script" if reference.name.startswith("script") else "ceiling"


def numbers(values: Sequence[float]) -> str:
    return "[" + ", ".join(f"{value:.6g}" for value in values) + "]"


def mnist_lines(results: dict[str, CaseResult], check: dict[str, Any]) -> list[str]:
    script = json.loads(results["m_script"].stdout)
    mean, scale = check["mnist_imgprep_stats"]
    i_mean, i_std = check["mnist_imgprep_moments"]
    s_mean, s_std = check["mnist_script_moments"]
    rss = results["m_j1"].peak_rss_mb / results["m_subset"].peak_rss_mb
    return [
        f"stats applied: script mean {script['mean']!r}, std + eps {script['std'] + EPSILON!r}",
        f"               imgprep mean {mean[0]!r}, std + eps {scale[0]!r}",
        f"images imgprep -j 1 vs script: max abs diff {check['mnist_max_abs_diff']:.3g} "
        f"(shapes {check['mnist_shapes'][0]} / {check['mnist_shapes'][1]}), labels equal: "
        f"{yes(check['mnist_labels_equal'])}",
        f"imgprep -j 1 and -j 2 images identical: {yes(check['mnist_j1_j2_identical'])}",
        f"per-pixel moments of output: imgprep mean {numbers(i_mean)} std {numbers(i_std)}; "
        f"script mean {numbers(s_mean)} std {numbers(s_std)}",
        f"2-worker speedup (time j1 / time j2): "
        f"{results['m_j1'].seconds / results['m_j2'].seconds:.2f}x",
        f"peak RSS imgprep -j 1, {results['m_j1'].images:,} / {results['m_subset'].images:,} "
        f"images: {rss:.2f}",
    ]


def photo_lines(
    results: dict[str, CaseResult], check: dict[str, Any], info: dict[str, Any]
) -> list[str]:
    p_mean, p_std = check["photo_imgprep_moments"]
    worst, average, beyond = check["photo_pixel_diff"]
    draft = check["photo_decode_options"].get("jpeg_draft", "not recorded")
    return [
        "imgprep computes featurewise stats from the photos in the same pass (decoded once, raw "
        "rows held, normalized at the end);",
        "the ImageNet-constants script computes no statistics (less work); the own-stats script "
        "does the same work in two passes.",
        f"images imgprep -j 1 vs script, each normalization undone, in 8-bit levels: max abs "
        f"diff {worst:.3g}, mean {average:.3g}; {beyond} of {info['count']} images differ by "
        f"more than 1 level (imgprep jpeg_draft: {draft})",
        f"shapes {check['photo_shapes'][0]} / {check['photo_shapes'][1]}; labels equal: "
        f"{yes(check['photo_labels_equal'])}",
        f"imgprep -j 1 and -j 2 images identical: {yes(check['photo_j1_j2_identical'])}",
        f"per-channel moments of imgprep output: mean {numbers(p_mean)} std {numbers(p_std)}",
        f"2-worker speedup (time j1 / time j2): "
        f"{results['p_j1'].seconds / results['p_j2'].seconds:.2f}x",
        f"photos: {info['count']} JPEG, sides {info['min_side']}..{info['max_side']} px, "
        f"{info['mean_megapixels']:.2f} Mpx mean, {info['megabytes']:.1f} MB",
    ]


def source_fingerprint() -> str:
    """A short hash of the imgprep package's sources, to see whether they changed mid-run."""
    digest = hashlib.sha256()
    for path in sorted((REPO / "imgprep").rglob("*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def yes(flag: bool) -> str:
    return "yes" if flag else "NO"


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--idx", type=Path, default=DEFAULT_IDX, help="MNIST IDX folder")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="source photos")
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="dataset folder")
    parser.add_argument(
        "--mnist-limit", type=int, default=MNIST_TRAIN_SIZE, help="first N digits only"
    )
    parser.add_argument("--photo-limit", type=int, default=PHOTO_COUNT, help="first N photos only")
    parser.add_argument(
        "--repeat", type=int, default=3, help="rounds; each case keeps its fastest (default 3)"
    )
    parser.add_argument("--child", choices=CHILD_CASES, help=argparse.SUPPRESS)
    parser.add_argument("--root", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not 10 <= args.mnist_limit <= MNIST_TRAIN_SIZE:
        parser.error(f"--mnist-limit must be between 10 and {MNIST_TRAIN_SIZE}")
    if not 2 <= args.photo_limit <= PHOTO_COUNT:
        parser.error(f"--photo-limit must be between 2 and {PHOTO_COUNT}")
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")
    return args


def prepare_datasets(args: argparse.Namespace) -> dict[str, Any]:
    """Run the ``prepare`` subprocess; the photo tree's description."""
    command = child_command("prepare")
    command += ["--idx", str(args.idx), "--photos", str(args.photos), "--cache", str(args.cache)]
    command += ["--mnist-limit", str(args.mnist_limit), "--photo-limit", str(args.photo_limit)]
    done = subprocess.run(command, check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(done.stdout)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args)
        return
    fingerprint = source_fingerprint()
    info = prepare_datasets(args)
    compile_imgprep()
    mnist_root = args.cache / tree_name(args.mnist_limit)
    subset_root = args.cache / tree_name(subset_size(args.mnist_limit))
    photo_root = args.cache / photo_tree_name(args.photo_limit)
    with tempfile.TemporaryDirectory(prefix="imgprep-bench-") as tmp:
        out = Path(tmp)
        cases = mnist_cases(mnist_root, subset_root, args.mnist_limit, out)
        cases |= photo_cases(photo_root, args.photo_limit, out)
        cases |= augment_cases(photo_root, args.photo_limit, out)
        results = run_rounds(cases, args.repeat)
        log("checking outputs ...")
        checked = subprocess.run(
            child_command("check", out=out), check=True, stdout=subprocess.PIPE, text=True
        )
        check = json.loads(checked.stdout)
    assert not {"numpy", "PIL", "h5py"} & set(sys.modules), "the harness must stay small"
    harness_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rounds = f"{os.cpu_count()} CPUs, best of {args.repeat} interleaved rounds"
    after = source_fingerprint()
    print(f"imgprep sources {fingerprint}" + ("" if after == fingerprint else f" -> {after}"))
    if after != fingerprint:
        print("WARNING: the imgprep sources changed during the run; rounds mix versions")
    print(f"imgprep transform, MNIST: {mnist_root} ({rounds})")
    mnist = [results[key] for key in ("m_script", "m_j1", "m_j2", "m_subset")]
    print(format_table(mnist, [results["m_script"]]))
    print("\n".join(mnist_lines(results, check)))
    print()
    print(f"imgprep transform, photos to 224x224: {photo_root} ({rounds})")
    photos = [results[key] for key in ("p_decode", "p_script", "p_script_stats", "p_j1", "p_j2")]
    print(format_table(photos, [results["p_script"], results["p_decode"]]))
    print("\n".join(photo_lines(results, check, info)))
    print()
    augmented = [results[key] for key in ("a_plain", "a_copies", "a_copies_b1", "a_copies_j2")]
    print(f"imgprep transform, peak RSS with and without augmentation ({rounds})")
    print(format_table(augmented, []))
    print()
    print(f"harness peak RSS (a floor under every RSS figure above): {harness_mb:.1f} MB")


if __name__ == "__main__":
    main()
