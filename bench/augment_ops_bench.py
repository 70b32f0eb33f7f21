"""Benchmark imgprep's colour and degradation operations against albumentations 2.0.8 and
torchvision v2 (CPU), per image.

Issue 16's speed check: one process, side by side in one run, on 224 x 224 RGB uint8 crops of
the real photos in ``../shared/data/photos-sample/`` (the crops of ``augment_bench.py``: 50-100%
of a photo's shorter side at a random place, Pillow bilinear, photo ``i % 40`` for image ``i``,
deterministic), ``--n`` images (default 200) held in memory, so decoding is not measured.

Each operation, in both libraries, with p = 1 and parameters fixed where the option allows it:

- ``imgprep``: ``AugmentSettings`` with only that operation active (the whole set: all of
  them), ``settings.sample(seed=0, split=0, indices=arange(n), copies=ones(n), shape=...)``
  once for the batch, then ``augment(x, params, settings, keep_dtype=True)`` for each uint8
  image: what ``imgprep transform`` does per copy (the warp is identity and skipped; the pixel
  operations run on a float32 copy, rounded and clipped back to uint8). One timed block,
  divided by n; sampling included.
- ``albumentations``: the transform object called as ``t(image=x)["image"]`` for each uint8
  image (its own sampling included); the whole set as one ``A.Compose``. Reseeded
  (``set_random_seed(0)``) before each timed block.
- ``torchvision`` 0.29.1 v2 (torch 2.14.1, CPU, ``torch.set_num_threads(1)``): for each uint8
  image ``torch.from_numpy(x).permute(2, 0, 1)`` (a CHW view, no copy), the transform, and
  ``.permute(1, 2, 0).numpy()`` (a strided H x W x C view, no copy): the conversion from and to
  NumPy is timed with the operation. ``torch.manual_seed(0)`` before each timed block; the
  whole set as one ``v2.Compose``. ``v2.GaussianNoise`` takes float images only, so noise is
  ``ToDtype(float32, scale=True)``, ``GaussianNoise``, ``ToDtype(uint8, scale=True)``, all
  timed. Left out (the table keeps its first columns) when torch does not import.

==========================  ===================================  ==================================
operation                   imgprep settings                     albumentations 2.0.8
==========================  ===================================  ==================================
brightness                  ``brightness_delta=0.2``             ``RandomBrightnessContrast(
                                                                 brightness_limit=(0.2, 0.2),
                                                                 contrast_limit=(0, 0))``
contrast                    ``contrast_range=(1.2, 1.2)``        ``RandomBrightnessContrast(
                                                                 brightness_limit=(0, 0),
                                                                 contrast_limit=(0.2, 0.2))``
saturation                  ``saturation_range=(1.3, 1.3)``      ``HueSaturationValue(hue (0, 0),
                                                                 sat (30, 30), val (0, 0))``
hue                         ``hue_delta=0.1``                    ``HueSaturationValue(hue (20, 20),
                                                                 sat (0, 0), val (0, 0))``
grayscale                   ``grayscale_prob=1``                 ``ToGray(num_output_channels=3)``
blur                        ``blur_sigma=(1.5, 1.5)`` (9 taps)   ``GaussianBlur(blur_limit=(9, 9),
                                                                 sigma_limit=(1.5, 1.5))``
noise                       ``noise_std=(0.05, 0.05)``           ``GaussNoise(std_range=(0.05,
                                                                 0.05), per_channel=True)``
jpeg                        ``jpeg_quality=(75, 75)``            ``ImageCompression("jpeg",
                                                                 quality_range=(75, 75))``
colour + degradation set    all of the above, one ``augment``    ``Compose`` of the eight above
==========================  ===================================  ==================================

and torchvision v2: ``ColorJitter(brightness=(1.2, 1.2))``, ``ColorJitter(contrast=(1.2,
1.2))``, ``ColorJitter(saturation=(1.3, 1.3))``, ``ColorJitter(hue=(0.1, 0.1))``,
``RandomGrayscale(p=1)``, ``GaussianBlur(kernel_size=9, sigma=(1.5, 1.5))``,
``GaussianNoise(sigma=0.05, clip=True)`` (between the two ``ToDtype``), ``JPEG(quality=75)``.
Its meanings differ too: brightness is a factor (imgprep's ``brightness_range``, not its
delta), contrast and saturation blend with the grey image (contrast around the grey mean, not
each channel's), hue goes through its own float HSV.

(brightness and hue draw a value in [-D, D] in imgprep: their cost does not depend on it.) The
semantics differ in places (albumentations shifts saturation additively on uint8 through a
look-up table, imgprep scales it as tf.image does, in float32); the comparison is of the cost
of the operation each library offers for the same job. One more row, ``imgprep float32 round
trip``, times only what every imgprep pixel operation pays on a uint8 copy around its kernel
(``astype(float32)``, then ``rint``, ``clip``, ``astype(uint8)``).

Cases are run in ``--repeat`` interleaved rounds (every case once per round, the starting case
rotated from round to round); the table gives each case's best round and the median of its
rounds in microseconds per image, and ratio = imgprep best / albumentations best (below 1:
imgprep is faster; the issue's goal is <= 1, and above 1.5 is flagged), and for torchvision
imgprep best / torchvision best (the issue's goal is at least twice torchvision's speed,
<= 0.5; above is flagged). This VM's speed drifts and other work may share its 2 cores:
compare only figures of the same run. OpenCV (imgprep and albumentations) keeps its own
thread count unless ``--cv2-threads`` is given; torch runs on one thread.

Same OpenCV: ``pip install --target`` puts its own copies of numpy and opencv-python-headless
beside albumentations; the directory is APPENDED to ``sys.path`` after this script has imported
cv2 and numpy, so both libraries use the environment's OpenCV (checked and printed). torch and
torchvision come the same way from a venv's ``site-packages`` (``--tv-path``; its numpy and
Pillow are not used): they import beside albumentations' OpenCV in one process, so all three
libraries run in the same interleaved rounds.

Setup and run (about 1 minute with the defaults)::

    pip install --target /tmp/alb albumentations==2.0.8     # 13 s; pulls albucore, pydantic,
                                                              # numpy, opencv, scipy copies
    python -m venv /tmp/tvvenv                                # x86_64: 125 s, 5,575 MB (a CUDA
    /tmp/tvvenv/bin/pip install torch==2.14.1 torchvision==0.29.1   # build that lies on disk)
    python bench/augment_ops_bench.py
    python bench/augment_ops_bench.py --n 50 --repeat 3       # smoke run
    python bench/augment_ops_bench.py --alb-path ''           # albumentations already installed
    python bench/augment_ops_bench.py --tv-path none          # no torchvision column

Result (this VM, 2 CPUs shared, numpy 2.4.6, opencv 5.0.0 (2 threads), Python 3.11.7,
defaults ``--n 200 --repeat 7``, run under ``nice``), us per image::

    operation                    imgprep best  (median)  albu best  (median)   ratio
    --------------------------------------------------------------------------------
    brightness                           84.1      88.2       18.2      19.9   4.63x <- > 1.5x
    contrast                           1012.8    1058.4       17.9      18.7  56.64x <- > 1.5x
    saturation                         1808.1    1891.2      140.1     150.0  12.91x <- > 1.5x
    hue                                2161.2    2253.6      125.6     134.4  17.21x <- > 1.5x
    grayscale                           276.2     282.7       19.4      22.2  14.24x <- > 1.5x
    blur                                191.2     199.0      101.8     110.6   1.88x <- > 1.5x
    noise                              1488.9    1566.7      492.4     521.0   3.02x <- > 1.5x
    jpeg                                374.3     386.7      254.8     260.7   1.47x
    colour + degradation set           7228.5    7485.6     1305.0    1349.2   5.54x <- > 1.5x
    imgprep float32 round trip           50.5      53.3

Where imgprep is slower, and the likely fix (measured on one cache-hot image; not applied here:
the operations' owner decides, and some would move outputs by float32 rounding):

- every operation pays ~50 us for the uint8 -> float32 -> uint8 round trip of the chain
  (albumentations stays in uint8 and uses 256-entry look-up tables for brightness, contrast,
  hue and saturation, ~20 us); a LUT path for uint8 sources would be the structural fix.
- contrast: ``colour.mean(axis=(0, 1), dtype=np.float64)`` on the strided view costs 620 us of
  the 1,000; ``cv2.mean(work)`` (double accumulators) gives the channel means in 14 us.
- hue and saturation: the NumPy HSV round trip (~1.8-2.1 ms); ``cv2.cvtColor`` on float32
  (``COLOR_RGB2HSV``, H in degrees, then ``COLOR_HSV2RGB``) takes 120 us for saturation and
  410 us for hue (the ``%`` on the strided H plane; a contiguous copy would help), agreeing with
  the current kernels to 1e-4 on 0-255 values.
- grayscale: float64 ``@`` (230 us); ``cv2.transform`` with the float32 fixed-point weights,
  ``+ 32768``, ``/ 65536``, ``floor`` gives the same luma bit for bit (integer sums < 2^24) in
  36 us.
- noise: drawing 150,528 float32 normals from NumPy's ``Generator`` is ~1.3-1.4 ms whatever the
  bit generator (Philox or PCG64); albumentations uses ``cv2.randn`` after
  ``cv2.setRNGSeed(<16-bit seed>)`` (global, 65,536 streams). A faster draw means a different
  generator, i.e. other noise for the same seed: a compatibility decision, not a small fix.
- blur: float32 ``GaussianBlur`` with ``ALGO_HINT_ACCURATE`` (113 us alone) against uint8
  (90 us) plus the round trip; jpeg: the 8-bit conversion around ``imencode``/``imdecode``
  (212 us of 294). Both within 2x; no small fix beyond staying in uint8.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np
from transform_bench import source_fingerprint

from imgprep.augment import AugmentSettings, augment

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos-sample"
SIZE = 224
FLAG_RATIO = 1.5
TV_GOAL = 0.5  # the issue: at least twice torchvision's speed
WHOLE_SET = "colour + degradation set"

IMGPREP_OPTIONS: dict[str, dict[str, Any]] = {
    "brightness": {"brightness_delta": 0.2},
    "contrast": {"contrast_range": (1.2, 1.2)},
    "saturation": {"saturation_range": (1.3, 1.3)},
    "hue": {"hue_delta": 0.1},
    "grayscale": {"grayscale_prob": 1.0},
    "blur": {"blur_sigma": (1.5, 1.5)},
    "noise": {"noise_std": (0.05, 0.05)},
    "jpeg": {"jpeg_quality": (75, 75)},
}
OPERATIONS = tuple(IMGPREP_OPTIONS)


def imgprep_settings() -> dict[str, Any]:
    """``AugmentSettings`` per operation (only it active), and the whole set."""
    settings = {name: AugmentSettings(**options) for name, options in IMGPREP_OPTIONS.items()}
    merged = {key: value for options in IMGPREP_OPTIONS.values() for key, value in options.items()}
    settings[WHOLE_SET] = AugmentSettings(**merged)
    return settings


def torchvision_transforms(torch: Any, v2: Any) -> dict[str, Any]:
    """torchvision v2's equivalent of each operation (p = 1), and their ``Compose``. Noise:
    v2's ``GaussianNoise`` takes float images only, so ``ToDtype`` to float32 (0-1) and back
    to uint8 around it, timed with it."""
    jitter = v2.ColorJitter
    noise = v2.Compose([
        v2.ToDtype(torch.float32, scale=True),
        v2.GaussianNoise(mean=0.0, sigma=0.05, clip=True),
        v2.ToDtype(torch.uint8, scale=True),
    ])  # fmt: skip
    transforms = {
        "brightness": jitter(brightness=(1.2, 1.2)),
        "contrast": jitter(contrast=(1.2, 1.2)),
        "saturation": jitter(saturation=(1.3, 1.3)),
        "hue": jitter(hue=(0.1, 0.1)),
        "grayscale": v2.RandomGrayscale(p=1.0),
        "blur": v2.GaussianBlur(kernel_size=9, sigma=(1.5, 1.5)),
        "noise": noise,
        "jpeg": v2.JPEG(quality=75),
    }
    transforms[WHOLE_SET] = v2.Compose([transforms[name] for name in OPERATIONS])
    return transforms


def albumentations_transforms(module: Any) -> dict[str, Any]:
    """albumentations' equivalent of each operation, p = 1, and their ``Compose``."""
    a = module
    transforms = {
        "brightness": a.RandomBrightnessContrast(
            brightness_limit=(0.2, 0.2), contrast_limit=(0, 0), p=1
        ),
        "contrast": a.RandomBrightnessContrast(
            brightness_limit=(0, 0), contrast_limit=(0.2, 0.2), p=1
        ),
        "saturation": a.HueSaturationValue(
            hue_shift_limit=(0, 0), sat_shift_limit=(30, 30), val_shift_limit=(0, 0), p=1
        ),
        "hue": a.HueSaturationValue(
            hue_shift_limit=(20, 20), sat_shift_limit=(0, 0), val_shift_limit=(0, 0), p=1
        ),
        "grayscale": a.ToGray(num_output_channels=3, method="weighted_average", p=1),
        "blur": a.GaussianBlur(blur_limit=(9, 9), sigma_limit=(1.5, 1.5), p=1),
        "noise": a.GaussNoise(std_range=(0.05, 0.05), per_channel=True, p=1),
        "jpeg": a.ImageCompression(compression_type="jpeg", quality_range=(75, 75), p=1),
    }
    transforms[WHOLE_SET] = a.Compose([transforms[name] for name in OPERATIONS], p=1)
    return transforms


# --------------------------------------------------------------------------- cases


def make_images(photos: Sequence[Any], count: int, size: int = SIZE) -> list[np.ndarray]:
    """``count`` uint8 H x W x 3 crops, image ``i`` from photo ``i % len(photos)``."""
    from augment_bench import random_crop  # imports SciPy (the bench extra), hence here

    rng = np.random.default_rng(size)
    return [random_crop(photos[i % len(photos)], size, rng) for i in range(count)]


def imgprep_case(settings: Any, images: Sequence[np.ndarray]) -> np.ndarray:
    """Sample the batch's parameters, then ``augment`` each uint8 image; the last output."""
    count = len(images)
    params = settings.sample(
        seed=0,
        split=0,
        indices=np.arange(count),
        copies=np.ones(count, dtype=int),
        shape=images[0].shape,
    )
    out = images[0]
    for x, p in zip(images, params, strict=True):
        out = augment(x, p, settings, keep_dtype=True)
    return out


def float32_round_trip(images: Sequence[np.ndarray]) -> np.ndarray:
    """What the chain adds around any pixel operation on a uint8 copy; the last output."""
    out = images[0]
    for x in images:
        work = x.astype(np.float32)
        rounded = np.rint(work)
        np.clip(rounded, 0, 255, out=rounded)
        out = rounded.astype(np.uint8)
    return out


def albumentations_case(transform: Any, images: Sequence[np.ndarray]) -> np.ndarray:
    transform.set_random_seed(0)
    out = images[0]
    for x in images:
        out = transform(image=x)["image"]
    return out


def torchvision_case(torch: Any, transform: Any, images: Sequence[np.ndarray]) -> np.ndarray:
    """NumPy H x W x 3 uint8 -> CHW tensor (``from_numpy(x).permute(2, 0, 1)``, a view),
    the transform, and back (``permute(1, 2, 0).numpy()``, a strided view, no copy), for
    each image; reseeded (``torch.manual_seed(0)``) first."""
    torch.manual_seed(0)
    out = images[0]
    for x in images:
        out = transform(torch.from_numpy(x).permute(2, 0, 1)).permute(1, 2, 0).numpy()
    return out


Cases = dict[tuple[str, str], Callable[[], np.ndarray]]


def imgprep_cases(images: Sequence[np.ndarray]) -> Cases:
    """The imgprep side: (operation, "imgprep") for each operation and the whole set."""
    cases: Cases = {
        (name, "imgprep"): (lambda s=settings: imgprep_case(s, images))
        for name, settings in imgprep_settings().items()
    }
    cases[("imgprep float32 round trip", "imgprep")] = lambda: float32_round_trip(images)
    return cases


def albumentations_cases(module: Any, images: Sequence[np.ndarray]) -> Cases:
    return {
        (name, "albumentations"): (lambda t=transform: albumentations_case(t, images))
        for name, transform in albumentations_transforms(module).items()
    }


def torchvision_cases(torch: Any, v2: Any, images: Sequence[np.ndarray]) -> Cases:
    return {
        (name, "torchvision"): (lambda t=transform: torchvision_case(torch, t, images))
        for name, transform in torchvision_transforms(torch, v2).items()
    }


def time_once(function: Callable[[], np.ndarray], count: int) -> float:
    """Microseconds per image of one call of ``function`` (over ``count`` images)."""
    gc.collect()
    start = time.perf_counter()
    function()
    return (time.perf_counter() - start) / count * 1e6


def run_rounds(cases: Cases, count: int, repeat: int) -> dict[tuple[str, str], list[float]]:
    """Every round's time of every case, ``repeat`` interleaved rounds, start rotated."""
    jobs = list(cases)
    times: dict[tuple[str, str], list[float]] = {job: [] for job in jobs}
    for round_number in range(repeat):
        print(f"  round {round_number + 1}/{repeat} ...", file=sys.stderr, flush=True)
        shift = round_number % len(jobs)
        for job in jobs[shift:] + jobs[:shift]:
            times[job].append(time_once(cases[job], count))
    return times


# --------------------------------------------------------------------------- reporting


Timing = tuple[float, float]  # best, median


@dataclass
class Row:
    """One operation: best and median microseconds per image, each side (None: not run)."""

    operation: str
    imgprep: Timing
    albumentations: Timing | None
    torchvision: Timing | None = None

    @property
    def ratio(self) -> float | None:
        """imgprep best / albumentations best: below 1 is imgprep faster."""
        return None if self.albumentations is None else self.imgprep[0] / self.albumentations[0]

    @property
    def tv_ratio(self) -> float | None:
        """imgprep best / torchvision best: the goal is <= 0.5 (twice as fast)."""
        return None if self.torchvision is None else self.imgprep[0] / self.torchvision[0]


def summarize(times: dict[tuple[str, str], list[float]]) -> list[Row]:
    def timing(values: list[float] | None) -> Timing | None:
        return None if values is None else (min(values), statistics.median(values))

    rows = []
    for (name, side), values in times.items():
        if side != "imgprep":
            continue
        rows.append(
            Row(
                name,
                (min(values), statistics.median(values)),
                timing(times.get((name, "albumentations"))),
                timing(times.get((name, "torchvision"))),
            )
        )
    return rows


def format_table(rows: Sequence[Row]) -> str:
    torchvision = any(row.torchvision is not None for row in rows)
    header = f"{'operation':<26} {'imgprep':>8} {'(med)':>7} {'albu':>7} {'(med)':>7} {'ratio':>7}"
    if torchvision:
        header += f" {'tv v2':>7} {'(med)':>7} {'ratio':>7}"
    lines = [header, "-" * len(header)]

    def pair(timing: Timing | None) -> str:
        return " " * 15 if timing is None else f"{timing[0]:>7.1f} {timing[1]:>7.1f}"

    def ratio(value: float | None) -> str:
        return " " * 7 if value is None else f"{value:>6.2f}x"

    for row in rows:
        line = (
            f"{row.operation:<26} {row.imgprep[0]:>8.1f} {row.imgprep[1]:>7.1f} "
            f"{pair(row.albumentations)} {ratio(row.ratio)}"
        )
        flags = []
        if row.ratio is not None and row.ratio > FLAG_RATIO:
            flags.append("albu > 1.5x")
        if torchvision:
            line += f" {pair(row.torchvision)} {ratio(row.tv_ratio)}"
            if row.tv_ratio is not None and row.tv_ratio > TV_GOAL:
                flags.append("tv > 0.5x")
        lines.append(line.rstrip() + (f"  <- {', '.join(flags)}" if flags else ""))
    return "\n".join(lines)


def import_albumentations(path: str) -> Any:
    """albumentations, from ``path`` appended to ``sys.path`` (after cv2 and numpy are
    imported, so the environment's copies stay in use); refuses a second OpenCV."""
    if path:
        sys.path.append(path)
    import albumentations

    if path and cv2.__file__ and Path(cv2.__file__).resolve().is_relative_to(Path(path).resolve()):
        raise SystemExit(f"cv2 came from {path}: not the environment's OpenCV")
    return albumentations


def import_torchvision(path: str) -> tuple[Any, Any] | None:
    """(torch, torchvision.transforms.v2), from the venv ``site-packages`` directory
    ``path`` APPENDED to ``sys.path`` as for albumentations ('': installed), torch on one
    thread; None when it does not import (the column is left out, the reason printed)."""
    if path == "none":
        return None
    if path:
        sys.path.append(path)
    try:
        import torch
        from torchvision.transforms import v2
    except ImportError as error:
        print(f"torchvision column left out: {error}", file=sys.stderr)
        return None
    torch.set_num_threads(1)
    # The crops are read-only (np.asarray of a Pillow image); no transform writes its input.
    warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
    return torch, v2


def versions(albumentations: Any, torchvision: tuple[Any, Any] | None) -> str:
    import albucore

    text = (
        f"numpy {np.__version__} ({Path(np.__file__).parent}), opencv {cv2.__version__} "
        f"({cv2.getNumThreads()} threads, {Path(cv2.__file__).parent}), albumentations "
        f"{albumentations.__version__}, albucore {albucore.__version__}, "
        f"Python {sys.version.split()[0]}"
    )
    if torchvision is not None:
        import torchvision as tv

        torch = torchvision[0]
        text += (
            f", torch {torch.__version__} ({torch.get_num_threads()} thread), torchvision "
            f"{tv.__version__}"
        )
    return text


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="224x224 images (default 200)")
    parser.add_argument("--repeat", type=int, default=7, help="interleaved rounds (default 7)")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="source photos")
    parser.add_argument(
        "--alb-path",
        default="/tmp/alb",
        help="pip --target directory of albumentations, appended to sys.path ('': installed)",
    )
    parser.add_argument(
        "--tv-path",
        default="/tmp/tvvenv/lib/python3.11/site-packages",
        help="site-packages of a torchvision venv, appended to sys.path ('': installed, "
        "'none': no torchvision column)",
    )
    parser.add_argument(
        "--cv2-threads", type=int, help="cv2.setNumThreads(N) first (default: OpenCV's own)"
    )
    args = parser.parse_args(argv)
    if min(args.n, args.repeat) < 1:
        parser.error("--n and --repeat must be >= 1")
    return args


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.cv2_threads is not None:
        cv2.setNumThreads(args.cv2_threads)
    from augment_bench import augment_fingerprint, load_photos  # SciPy: the bench extra

    albumentations = import_albumentations(args.alb_path)
    torchvision = import_torchvision(args.tv_path)
    fingerprints = (source_fingerprint(), augment_fingerprint())
    photos = load_photos(args.photos)
    images = make_images(photos, args.n)
    cases = imgprep_cases(images) | albumentations_cases(albumentations, images)
    if torchvision is not None:
        cases |= torchvision_cases(*torchvision, images)
    times = run_rounds(cases, args.n, args.repeat)
    print(
        f"colour and degradation operations per image, in memory: {args.n} crops of "
        f"{len(photos)} photos, {SIZE}x{SIZE} RGB uint8; {os.cpu_count()} CPUs, "
        f"best and median of {args.repeat} interleaved rounds, us/image"
    )
    print(versions(albumentations, torchvision))
    print(format_table(summarize(times)))
    after = (source_fingerprint(), augment_fingerprint())
    labels = ("imgprep sources", "imgprep/augment/")
    for label, first, last in zip(labels, fingerprints, after, strict=True):
        changed = "unchanged" if first == last else f"-> {last}, CHANGED during the run"
        print(f"{label} {first} ({changed})")


if __name__ == "__main__":
    main()
