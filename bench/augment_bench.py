"""Benchmark imgprep's augmentation against keras-preprocessing 1.1.2, per image, in memory.

The images are real pixels: square crops of the 40 photos in ``../shared/data/photos-sample/``
(each crop keeps 50-100% of the photo's shorter side at a random place, photo ``i % 40`` for
image ``i``, ``numpy.random.default_rng``-driven, deterministic), resized with Pillow's
bilinear filter to 32 x 32 (``--n`` images, default 2,000) and to 224 x 224 (``--n-large``,
default 200) RGB. They are held in memory as uint8 and as float32 (0-255) arrays, so decoding
is not part of any measurement.

The augmentation, in both libraries: rotation 20 degrees, width and height shift 0.2, shear
10 degrees, zoom 0.85-1.15 (per axis), horizontal flip, ``fill_mode='reflect'``, brightness
0.8-1.2, bilinear resampling. The cases, timed over all images of one size:

- ``keras random_transform``: ``ImageDataGenerator(rotation_range=20, width_shift_range=0.2,
  height_shift_range=0.2, shear_range=10, zoom_range=0.15, horizontal_flip=True,
  fill_mode='reflect', brightness_range=(0.8, 1.2))``, ``gen.random_transform(x)`` for each
  float32 image (its parameter drawing included). The reference of the ``vs keras`` column.
- ``keras get_random_transform``: ``gen.get_random_transform(x.shape)`` alone, for each image
  (the cost of drawing the parameters).
- ``imgprep sample + augment f32``: ``AugmentSettings(...)`` with the same options;
  ``settings.sample(seed=0, split=0, indices=arange(n), copies=ones(n), shape=x.shape)`` once
  for all n images (as the transform engine samples a batch), then ``augment(x, params,
  settings, keep_dtype=False)`` for each float32 image. One timed block, divided by n.
- ``imgprep sample + augment u8 keep``: the same on the uint8 images with ``keep_dtype=True``
  (the path used when a pipeline writes integers: the warp runs in uint8).
- ``imgprep sample only``: the batched ``settings.sample`` call alone, divided by n.
- ``cv2.warpAffine floor f32`` / ``u8``: OpenCV's ``warpAffine`` alone with one fixed matrix
  (rotation 10 degrees, scale 1.1 about the centre), bilinear, ``BORDER_REFLECT``, on the same
  float32 (uint8) arrays: what the warp itself costs. A reference rather than a strict
  floor: OpenCV's time depends on the matrix (samples beyond the edges take its border path;
  at 224 x 224 single-threaded, 310 us for the identity to 500 us for 20 degrees and 1.15,
  on one cache-hot image) and, over 200 cache-cold images, on the memory access pattern.

Every output is discarded as soon as it is made. NumPy's global generator (which Keras uses)
is reseeded before each keras case, so each round does the same work. Cases are run in
``--repeat`` rounds, round-robin (both sizes, every case, the starting case rotated from
round to round), and each case keeps its fastest round: this VM's speed drifts over minutes
and other work may share its 2 cores, so only ratios from the same run are compared.

The table gives microseconds per image, the speed-up against ``keras random_transform`` at
the same size (keras time / case time, above 1 is faster than keras) and the minor page
faults per image of that fastest round (``getrusage``). That column is there because a
224 x 224 float32 image is 600 kB: whether glibc hands each new array pages that are already
mapped or fresh ones depends on the heap's state, and on this VM a fault costs a few
microseconds, so a few hundred faults per image can multiply a warp's time (an isolated
``timeit`` loop of ``augment`` at 224 x 224 ran 4 times slower that way). The goal line
checks that ``imgprep sample + augment f32`` is at least 10 times faster than keras at both
sizes.

Agreement check (``--check`` images per size, after the timings): imgprep's parameters for
an image are turned into Keras' ``transform_parameters`` dict (theta, tx, ty, shear, zx, zy,
flips; brightness and channel shift None) and given to ``gen.apply_transform`` on the float32
image; imgprep's ``augment`` gets the same parameters with brightness 1. If both compose the
same matrix in (row, col) coordinates and sample bilinearly with SciPy's ``reflect`` border,
they agree to float32 rounding (``AGREE_LEVELS``). The max and mean absolute differences are
printed in grey levels (0-255), with the worst pixel when the max exceeds the tolerance.
Brightness is left out on purpose: Keras 1.1.2 stretches each image to 0-255 first
(keras-preprocessing issue 327), imgprep does not. A diagnostic repeats the check with
Keras' ``transform_matrix_offset_center`` temporarily replaced (in this process only) by one
that uses imgprep's centre, (h/2 - 0.5, w/2 - 0.5), where keras-preprocessing 1.1.2 uses
(h/2 + 0.5, w/2 + 0.5): agreement there and not in the first check means the resampling
matches and the centre of rotation, shear and zoom is what differs.

Compatibility shim: keras-preprocessing 1.1.2 calls ``ndimage.interpolation.affine_transform``
once per channel. SciPy (1.8 and later) keeps ``scipy.ndimage.interpolation`` only as a
deprecated alias module whose every attribute lookup issues a ``DeprecationWarning`` (about
3 us each on this machine). Keras imports and runs without a shim, but to time its work and
not that warning, this script points ``scipy.ndimage.interpolation`` at ``scipy.ndimage``
(the very same functions) before importing keras-preprocessing; ``--no-scipy-shim`` times it
as installed. The shim makes keras faster, never slower.

Setup and run (about 40 s on 2 cores with the defaults)::

    /tmp/venv/bin/pip install "keras-preprocessing==1.1.2" scipy    # the ``bench`` extra
    /tmp/venv/bin/python bench/augment_bench.py
    /tmp/venv/bin/python bench/augment_bench.py --n 500 --n-large 50 --repeat 2   # smoke run
    /tmp/venv/bin/python bench/augment_bench.py --cv2-threads 1   # OpenCV on one thread

OpenCV may split one large warp across threads; by default it keeps its own thread count (as
imgprep does), printed in the header.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import hashlib
import os
import resource
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import PIL
import scipy
import scipy.ndimage
from PIL import Image
from transform_bench import source_fingerprint

from imgprep.augment import AugmentParams, AugmentSettings, augment

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos-sample"
SMALL, LARGE = 32, 224
CROP_RANGE = (0.5, 1.0)
GOAL_SPEEDUP = 10.0
AGREE_LEVELS = 0.01  # grey levels (0-255): float32 rounding, far below 1/32-pixel weights
FLOOR_ANGLE, FLOOR_SCALE = 10.0, 1.1
KERAS = "keras random_transform"
IMGPREP_F32 = "imgprep sample + augment f32"

KERAS_OPTIONS: dict[str, Any] = {
    "rotation_range": 20,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 10,
    "zoom_range": 0.15,
    "horizontal_flip": True,
    "fill_mode": "reflect",
    "brightness_range": (0.8, 1.2),
}
IMGPREP_SETTINGS = AugmentSettings(
    rotation_range=20,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=10,
    zoom_range=(0.85, 1.15),
    horizontal_flip=True,
    fill_mode="reflect",
    brightness_range=(0.8, 1.2),
)


# --------------------------------------------------------------------------- images


@dataclass
class ImageSet:
    """The images of one size, as lists of H x W x 3 arrays (uint8 and float32, 0-255)."""

    size: int
    uint8: list[np.ndarray]
    float32: list[np.ndarray]


def load_photos(folder: Path) -> list[Image.Image]:
    """The source photos, RGB, sorted by path."""
    paths = sorted(folder.glob("*/*.jpg"))
    if not paths:
        raise SystemExit(f"{folder}: no */*.jpg photos")
    photos = []
    for path in paths:
        with Image.open(path) as opened:
            photos.append(opened.convert("RGB"))
    return photos


def random_crop(photo: Image.Image, size: int, rng: np.random.Generator) -> np.ndarray:
    """A square crop of 50-100% of the shorter side, resized (bilinear) to size x size."""
    width, height = photo.size
    side = max(1, round(min(width, height) * rng.uniform(*CROP_RANGE)))
    left = int(rng.integers(0, width - side + 1))
    top = int(rng.integers(0, height - side + 1))
    box = (left, top, left + side, top + side)
    resized = photo.resize((size, size), Image.Resampling.BILINEAR, box=box)
    return np.asarray(resized, dtype=np.uint8)


def make_images(photos: Sequence[Image.Image], size: int, count: int) -> ImageSet:
    """``count`` crops, image ``i`` from photo ``i % len(photos)``, deterministic per size."""
    rng = np.random.default_rng(size)
    crops = [random_crop(photos[i % len(photos)], size, rng) for i in range(count)]
    return ImageSet(size, crops, [crop.astype(np.float32) for crop in crops])


# --------------------------------------------------------------------------- keras


def import_keras_generator(shim: bool) -> type:
    """``ImageDataGenerator`` from keras-preprocessing, after the SciPy shim (see docstring)."""
    if shim:
        # Compatibility shim: keras-preprocessing 1.1.2 looks up
        # ``ndimage.interpolation.affine_transform`` per channel; in current SciPy that
        # deprecated alias module warns on every lookup. Same functions, without the warning.
        scipy.ndimage.interpolation = scipy.ndimage  # type: ignore[attr-defined]
    from keras_preprocessing.image import ImageDataGenerator

    return ImageDataGenerator


def keras_parameters(params: AugmentParams) -> dict[str, Any]:
    """Keras' ``transform_parameters`` for imgprep's parameters, without brightness."""
    return {
        "theta": params.theta,
        "tx": params.tx,
        "ty": params.ty,
        "shear": params.shear,
        "zx": params.zx,
        "zy": params.zy,
        "flip_horizontal": params.flip_horizontal,
        "flip_vertical": params.flip_vertical,
        "brightness": None,
        "channel_shift_intensity": None,
    }


# --------------------------------------------------------------------------- cases


def sample_all(images: Sequence[np.ndarray]) -> list[AugmentParams]:
    """imgprep's parameters for every image, in one batched call (as the transform engine)."""
    count = len(images)
    return IMGPREP_SETTINGS.sample(
        seed=0,
        split=0,
        indices=np.arange(count),
        copies=np.ones(count, dtype=int),
        shape=images[0].shape,
    )


def keras_random_transform(gen: Any, images: Sequence[np.ndarray]) -> None:
    np.random.seed(0)
    for x in images:
        gen.random_transform(x)


def keras_get_random_transform(gen: Any, images: Sequence[np.ndarray]) -> None:
    np.random.seed(0)
    for x in images:
        gen.get_random_transform(x.shape)


def imgprep_augment(images: Sequence[np.ndarray], keep_dtype: bool) -> None:
    for x, params in zip(images, sample_all(images), strict=True):
        augment(x, params, IMGPREP_SETTINGS, keep_dtype=keep_dtype)


def floor_matrix(size: int) -> np.ndarray:
    """The fixed 2 x 3 matrix of the OpenCV floor: rotation and scale about the centre."""
    centre = (size / 2 - 0.5, size / 2 - 0.5)
    return cv2.getRotationMatrix2D(centre, FLOOR_ANGLE, FLOOR_SCALE)


def cv2_floor(images: Sequence[np.ndarray], matrix: np.ndarray) -> None:
    height, width = images[0].shape[:2]
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    for x in images:
        cv2.warpAffine(x, matrix, (width, height), flags=flags, borderMode=cv2.BORDER_REFLECT)


def build_cases(gen: Any, images: ImageSet) -> dict[str, Callable[[], None]]:
    """The cases of one size, each a function processing every image once."""
    f32, u8 = images.float32, images.uint8
    matrix = floor_matrix(images.size)
    return {
        KERAS: lambda: keras_random_transform(gen, f32),
        "keras get_random_transform": lambda: keras_get_random_transform(gen, f32),
        IMGPREP_F32: lambda: imgprep_augment(f32, keep_dtype=False),
        "imgprep sample + augment u8 keep": lambda: imgprep_augment(u8, keep_dtype=True),
        "imgprep sample only": lambda: sample_all(f32),
        "cv2.warpAffine floor f32": lambda: cv2_floor(f32, matrix),
        "cv2.warpAffine floor u8": lambda: cv2_floor(u8, matrix),
    }


@dataclass
class Timing:
    """One case's fastest round: microseconds and minor page faults per image."""

    us: float
    faults: float


def minor_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def time_once(function: Callable[[], None], count: int) -> Timing:
    gc.collect()
    faults = minor_faults()
    start = time.perf_counter()
    function()
    seconds = time.perf_counter() - start
    return Timing(seconds / count * 1e6, (minor_faults() - faults) / count)


def run_rounds(
    cases: dict[int, dict[str, Callable[[], None]]], counts: dict[int, int], repeat: int
) -> dict[tuple[int, str], Timing]:
    """Each case's fastest of ``repeat`` interleaved rounds, by (size, case)."""
    jobs = [(size, name) for size, named in cases.items() for name in named]
    best: dict[tuple[int, str], Timing] = {}
    for round_number in range(repeat):
        print(f"  round {round_number + 1}/{repeat} ...", file=sys.stderr, flush=True)
        shift = round_number % len(jobs)
        for size, name in jobs[shift:] + jobs[:shift]:
            timing = time_once(cases[size][name], counts[size])
            if (size, name) not in best or timing.us < best[(size, name)].us:
                best[(size, name)] = timing
    return best


# --------------------------------------------------------------------------- agreement


@dataclass
class Agreement:
    """imgprep's warp against Keras' ``apply_transform``, same parameters, one size."""

    label: str
    size: int
    images: int
    max_diff: float
    mean_diff: float
    example: str


def describe(params: AugmentParams) -> str:
    """The geometric parameters, rounded, for the worst-pixel example."""
    return (
        f"theta={params.theta:.3f} tx={params.tx:.3f} ty={params.ty:.3f} "
        f"shear={params.shear:.3f} zx={params.zx:.4f} zy={params.zy:.4f} "
        f"flip_h={params.flip_horizontal} flip_v={params.flip_vertical}"
    )


def compare_warps(gen: Any, images: ImageSet, count: int, label: str) -> Agreement:
    """Max and mean absolute difference (grey levels) over the first ``count`` images."""
    subset = images.float32[:count]
    all_params = sample_all(subset)
    worst, worst_index, total, pixels = -1.0, 0, 0.0, 0
    worst_pair: tuple[np.ndarray, np.ndarray] | None = None
    for index, (x, params) in enumerate(zip(subset, all_params, strict=True)):
        no_brightness = dataclasses.replace(params, brightness=1.0)
        ours = augment(x, no_brightness, IMGPREP_SETTINGS, keep_dtype=False)
        theirs = gen.apply_transform(x, keras_parameters(params))
        diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
        total += float(diff.sum())
        pixels += diff.size
        if diff.max() > worst:
            worst, worst_index, worst_pair = float(diff.max()), index, (ours, theirs)
    example = ""
    if worst > AGREE_LEVELS and worst_pair is not None:
        ours, theirs = worst_pair
        diff = np.abs(ours.astype(np.float64) - theirs.astype(np.float64))
        row, col, channel = np.unravel_index(int(diff.argmax()), diff.shape)
        example = (
            f"worst: image {worst_index} ({describe(all_params[worst_index])}), pixel "
            f"(row {row}, col {col}, channel {channel}): imgprep {ours[row, col, channel]:.3f}, "
            f"keras {theirs[row, col, channel]:.3f}; values off by > {AGREE_LEVELS} in this "
            f"image: {(diff > AGREE_LEVELS).mean():.1%}"
        )
    return Agreement(label, images.size, len(subset), worst, total / pixels, example)


@contextlib.contextmanager
def keras_centre(offset: float) -> Iterator[None]:
    """Diagnostic: keras-preprocessing rotates, shears and zooms about (h/2 + offset,
    w/2 + offset) while inside (1.1.2 itself uses offset +0.5). Patched in this process only,
    restored on exit; used after all timings."""
    from keras_preprocessing.image import affine_transformations as module

    original = module.transform_matrix_offset_center

    def offset_center(matrix: np.ndarray, x: float, y: float) -> np.ndarray:
        o_x, o_y = float(x) / 2 + offset, float(y) / 2 + offset
        there = np.array([[1, 0, o_x], [0, 1, o_y], [0, 0, 1]])
        back = np.array([[1, 0, -o_x], [0, 1, -o_y], [0, 0, 1]])
        return there @ matrix @ back

    module.transform_matrix_offset_center = offset_center
    try:
        yield
    finally:
        module.transform_matrix_offset_center = original


def agreements(gen: Any, image_sets: Sequence[ImageSet], count: int) -> list[Agreement]:
    """imgprep against keras 1.1.2 with its centre fixed as upstream did (#314, h/2 - 0.5):
    the check that matters, which must agree; then against the 1.1.2 release as shipped,
    whose centre is h/2 + 0.5 (one pixel off), a difference imgprep documents on purpose."""
    with keras_centre(-0.5):
        label = "keras 1.1.2 + centre fix #314"
        results = [compare_warps(gen, images, count, label) for images in image_sets]
    shipped = "keras 1.1.2 as released (off-centre, documented difference)"
    results += [compare_warps(gen, images, count, shipped) for images in image_sets]
    return results


# --------------------------------------------------------------------------- reporting


def format_table(
    best: dict[tuple[int, str], Timing], sizes: Sequence[int], counts: dict[int, int]
) -> str:
    """One row per case and size; 'vs keras' is keras time / case time at that size."""
    header = (
        f"{'case':<34} {'size':>9} {'images':>6} {'us/image':>10} {'vs keras':>9} "
        f"{'faults/image':>12}"
    )
    lines = [header, "-" * len(header)]
    for size in sizes:
        keras_us = best[(size, KERAS)].us
        for (row_size, name), timing in best.items():
            if row_size != size:
                continue
            lines.append(
                f"{name:<34} {f'{size}x{size}':>9} {counts[size]:>6} {timing.us:>10.1f} "
                f"{keras_us / timing.us:>8.2f}x {timing.faults:>12.1f}"
            )
    return "\n".join(lines)


def goal_line(best: dict[tuple[int, str], Timing], sizes: Sequence[int]) -> str:
    speedups = {size: best[(size, KERAS)].us / best[(size, IMGPREP_F32)].us for size in sizes}
    met = all(value >= GOAL_SPEEDUP for value in speedups.values())
    figures = ", ".join(f"{size}x{size}: {value:.1f}x" for size, value in speedups.items())
    return (
        f"goal: {IMGPREP_F32!r} >= {GOAL_SPEEDUP:.0f}x faster than keras per image at every "
        f"size ({figures}): {'met' if met else 'NOT met'}"
    )


def agreement_line(result: Agreement) -> str:
    if "documented" in result.label:
        verdict = "differs as documented"
    else:
        verdict = "agree" if result.max_diff <= AGREE_LEVELS else "MISMATCH"
    line = (
        f"imgprep warp vs {result.label} apply_transform, {result.size}x{result.size}, "
        f"{result.images} images: max abs diff {result.max_diff:.2e}, mean "
        f"{result.mean_diff:.2e} grey levels ({verdict}, tolerance {AGREE_LEVELS})"
    )
    return f"{line}\n  {result.example}" if result.example else line


def code_fingerprints() -> tuple[str, str]:
    """The fingerprints of imgprep's sources and of ``imgprep/augment/``, taken before a run."""
    return source_fingerprint(), augment_fingerprint()


def print_fingerprints(before: tuple[str, str]) -> None:
    """Both fingerprints again, saying whether the code changed while the bench ran (another
    session editing the checkout would make the figures meaningless)."""
    after = code_fingerprints()
    labels = ("imgprep sources", "imgprep/augment/")
    for label, first, last in zip(labels, before, after, strict=True):
        changed = "unchanged" if first == last else f"-> {last}, CHANGED during the run"
        print(f"{label} {first} ({changed})")


def augment_fingerprint() -> str:
    """A short hash of the ``imgprep/augment/`` package alone (its files' paths and bytes; the
    rest of imgprep may be edited by others during a run without touching what this
    benchmark measures)."""
    digest = hashlib.sha256()
    package = REPO / "imgprep" / "augment"
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package).as_posix().encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


def versions() -> str:
    import keras_preprocessing

    return (
        f"numpy {np.__version__}, scipy {scipy.__version__}, opencv {cv2.__version__} "
        f"({cv2.getNumThreads()} threads), Pillow {PIL.__version__}, keras-preprocessing "
        f"{keras_preprocessing.__version__}, Python {sys.version.split()[0]}"
    )


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="32x32 images (default 2000)")
    parser.add_argument("--n-large", type=int, default=200, help="224x224 images (default 200)")
    parser.add_argument(
        "--repeat", type=int, default=10, help="rounds; each case keeps its fastest (default 10)"
    )
    parser.add_argument(
        "--check", type=int, default=16, help="images per size in the agreement check"
    )
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="source photos")
    parser.add_argument(
        "--cv2-threads", type=int, help="cv2.setNumThreads(N) first (default: OpenCV's own)"
    )
    parser.add_argument(
        "--no-scipy-shim", action="store_true", help="time keras with SciPy as installed"
    )
    args = parser.parse_args(argv)
    if min(args.n, args.n_large, args.repeat, args.check) < 1:
        parser.error("--n, --n-large, --repeat and --check must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    generator_class = import_keras_generator(shim=not args.no_scipy_shim)
    gen = generator_class(**KERAS_OPTIONS)
    fingerprints = code_fingerprints()
    photos = load_photos(args.photos)
    counts = {SMALL: args.n, LARGE: args.n_large}
    image_sets = {size: make_images(photos, size, count) for size, count in counts.items()}
    cases = {size: build_cases(gen, images) for size, images in image_sets.items()}
    best = run_rounds(cases, counts, args.repeat)
    checks = agreements(gen, list(image_sets.values()), args.check)
    shim = "off (as installed)" if args.no_scipy_shim else "on (see docstring)"
    print(
        f"augmentation per image, in memory: {len(photos)} photos cropped to "
        f"{', '.join(f'{n} x {s}x{s}' for s, n in counts.items())} RGB; {os.cpu_count()} CPUs, "
        f"best of {args.repeat} interleaved rounds; SciPy shim {shim}"
    )
    print(versions())
    print(format_table(best, list(counts), counts))
    print()
    print(goal_line(best, list(counts)))
    print(
        f"agreement, same parameters, float32, fill_mode reflect, brightness left out "
        f"(first {args.check} images per size):"
    )
    for result in checks:
        print(agreement_line(result))
    print_fingerprints(fingerprints)


if __name__ == "__main__":
    main()
