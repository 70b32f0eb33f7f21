"""Agreement of imgprep's augmentation with tf.image and torchvision (issue 16), not a test.

Two checks the issue asks for, run against the installed reference libraries (not in the
default tests: neither library is a dependency).

**Colour: tf.image.** On two image sets: the 224 x 224 RGB uint8 crops of
``augment_ops_bench.py`` (the crops of ``augment_bench.py`` of the real photos in
``../shared/data/photos-sample/``, ``--n`` images, default 200), and every 8-bit RGB colour
once (one 4096 x 4096 image, ``--no-cube`` to skip: near-grey, saturated and clipping pixels
are all there; its contrast uses its own means, 127.5). Each colour operation at fixed values:

- imgprep: ``AugmentSettings`` with only that operation active (``brightness_delta``,
  ``contrast_range``, ``saturation_range``, ``hue_delta``), ``AugmentParams`` with the value
  (``brightness_delta``, ``contrast_factor``, ``saturation_factor``, ``hue_delta``), then
  ``augment(x, params, settings, keep_dtype=True)``: uint8 out (float32 work, ``rint``, clip).
- tf.image: ``tf.image.convert_image_dtype(x, tf.float32)`` (x / 255) of the whole batch, the
  ``adjust_*`` function (``adjust_brightness(x, d)``, ``adjust_contrast(x, f)``,
  ``adjust_saturation(x, f)``, ``adjust_hue(x, d)``: contrast per image and channel), then
  ``clip(rint(y * 255), 0, 255)`` to uint8: the same rounding. Deltas are fractions of the
  dtype's maximum in imgprep, of 1 in tf.image: the same d on both sides.

Per operation and value: the maximum (``max``) and mean absolute difference in grey levels,
the fraction of channel values that differ, ``ties``: the share of those differing values
where imgprep's float32 result lies within 0.001 of a half level (a rounding tie: imgprep's
``rint`` rounds an exact x.5 to even, tf's float arithmetic lands a hair to either side),
``> 1``: how many channel values are more than 1 grey level apart (the issue's goal is none),
and ``float max``: the largest difference before rounding (imgprep's float32 work with
``keep_dtype=False``, tf's ``clip(y * 255, 0, 255)``). Column ``tf u8``: the maximum
difference when tf.image is given the uint8 batch itself (it converts to float and back with
``convert_image_dtype``, which truncates ``y * 255.5`` instead of rounding: for information).
Differences above 1 level are listed with their pixels.

**Crops and erasing: torchvision.** The parameters of ``RandomResizedCrop.get_params``
(scale 0.08-1, ratio 3/4-4/3) and ``RandomErasing.get_params`` (scale 0.02-0.33, ratio
0.3-3.3, value 0; ``p=1`` is the transform's, ``get_params`` always draws) over ``--draws``
draws (default 100,000, ``torch.manual_seed(0)``) on a 300 x 400 image and on a 100 x 1000
one (where most crops fail the ten tries: the fallback), against imgprep's
``AugmentSettings(random_resized_crop=True, crop_scale=..., crop_ratio=...)`` and
``AugmentSettings(erasing_prob=1.0, erasing_scale=..., erasing_ratio=...)``, ``sample(seed=0,
split=0, indices=arange(N), copies=ones(N), shape=(H, W, 3))`` (columns ``crop_top,
crop_left, crop_height, crop_width`` and ``erase_top, erase_left, erase_height,
erase_width``). One more case each with a ratio range that is not symmetric in log (both
defaults are, or nearly, so a swapped h/w convention would hardly show): crop ratio 1-2,
erasing ratio 0.3-1 (torchvision's erasing ratio is h / w, its crop ratio w / h).

Quantities compared: area fraction h w / (H W), log(w / h), top / (H - h) and left / (W - w)
(draws with no room on that axis left out), over all crops (fallback included) and over the
erased draws; and the fallback rate (crop: torchvision's ten tries all failed, counted exactly
by watching its ``torch.randint`` calls; for imgprep, and as a cross-check for torchvision,
the draws equal to torchvision's fallback box) and the no-erase rate (torchvision returns the
whole image, imgprep a 0 x 0 box), with the difference in standard errors. Per quantity: the
two-sample Kolmogorov-Smirnov statistic and p-value (``scipy.stats.ks_2samp``), ``KS ref``:
the same statistic for torchvision's algorithm written again in NumPy (``reference_draws``,
NumPy's generator) against torchvision, the noise floor of a faithful copy, and the largest
difference of a 20-bin histogram's bin fractions (``max bin``, bins over both samples'
range); columns ``imgprep`` and ``tv`` are the two means, ``n`` the smaller sample. For scale:
two samples of 100,000 from one distribution give a KS statistic below 0.0061 in 95% of
cases (a little lower for these discrete values), and bin differences of a few 0.001.

torchvision is not imported into this process: the script runs itself in the torchvision
venv (``--tv-python``) with ``--torchvision-child OUT.npz``; that child imports only NumPy,
torch and torchvision, writes the draws (about 2.5 minutes for 6 x 100,000), and this process
reads them (``--tv-draws OUT.npz`` reuses a file written before).

Setup and run (imgprep's environment: numpy, opencv-python-headless, Pillow, SciPy; about
3 minutes for the tf.image part, 3.5 for the torchvision part)::

    pip install --target /tmp/tfcpu tensorflow-cpu==2.21.0    # 70 s, 1,527 MB (its numpy
                                                              # 2.4.6 too; appended, unused)
    python -m venv /tmp/tvvenv                                 # x86_64: a CUDA build, from
    /tmp/tvvenv/bin/pip install torch==2.14.1 torchvision==0.29.1  # this disk: 125 s, 5,575 MB
    PYTHONPATH=. python bench/augment_agreement_bench.py
    PYTHONPATH=. python bench/augment_agreement_bench.py --n 20 --no-cube --draws 10000  # smoke
    PYTHONPATH=. python bench/augment_agreement_bench.py --skip-tv               # tf.image only

(The install times were measured with the three bench installs running at once. torch 2.13.0,
the CPU file on this disk, installs alone in 98 s and 895 MB, but PyPI's torchvision 0.28.0
fails to import beside it, ``operator torchvision::nms does not exist``; hence 2.14.1 and
0.29.1.)

Result (this VM, numpy 2.4.6, opencv 5.0.0, tensorflow 2.21.0, torch 2.14.1, torchvision
0.29.1, Python 3.11.7, defaults, imgprep at main ea49b53; 5 minutes. At 5ba0146, before the
hue kernel's ``cv2.add``, every number was the same but hue -0.05 / +0.05's: 0.797 / 0.821%
of the crops' values differed, 1.835 / 1.549% of the cube's, all ties)::

    tf.image, 200 crops of 40 photos, 224x224 RGB uint8 (30,105,600 channel values)
    operation    value  max     mean   differ    ties  > 1 float max tf u8
    ----------------------------------------------------------------------
    brightness   -0.30    1  0.33328 33.328% 100.00%    0    0.0000     1
    brightness   -0.10    1  0.44898 44.898% 100.00%    0    0.0000     1
    brightness   +0.10    1  0.48233 48.233% 100.00%    0    0.0000     1
    brightness   +0.30    1  0.53356 53.356% 100.00%    0    0.0000     1
    contrast     +0.50    0  0.00000  0.000%       -    0    0.0000     1
    contrast     +1.50    0  0.00000  0.000%       -    0    0.0001     1
    contrast     +2.00    0  0.00000  0.000%       -    0    0.0001     1
    saturation   +0.00    0  0.00000  0.000%       -    0    0.0000     0
    saturation   +0.50    1  0.09261  9.261% 100.00%    0    0.0002     1
    saturation   +1.50    1  0.05500  5.500% 100.00%    0    0.0003     1
    saturation   +3.00    1  0.00079  0.079% 100.00%    0    0.0003     1
    hue          -0.50    0  0.00000  0.000%       -    0    0.0005     0
    hue          -0.20    0  0.00000  0.000%       -    0    0.0005     1
    hue          -0.05    1  0.00707  0.707% 100.00%    0    0.0005     1
    hue          +0.05    1  0.00807  0.807% 100.00%    0    0.0002     1
    hue          +0.20    0  0.00000  0.000%       -    0    0.0003     1
    hue          +0.50    0  0.00000  0.000%       -    0    0.0005     0

    tf.image, every 8-bit RGB colour once (one 4096x4096 image, 50,331,648 channel values)
    operation    value  max     mean   differ    ties  > 1 float max tf u8
    ----------------------------------------------------------------------
    brightness   -0.30    1  0.34375 34.375% 100.00%    0    0.0000     1
    brightness   -0.10    1  0.45312 45.312% 100.00%    0    0.0000     1
    brightness   +0.10    1  0.44922 44.922% 100.00%    0    0.0000     1
    brightness   +0.30    1  0.43750 43.750% 100.00%    0    0.0000     1
    contrast     +0.50    0  0.00000  0.000%       -    0    0.0000     1
    contrast     +1.50    0  0.00000  0.000%       -    0    0.0000     1
    contrast     +2.00    1  0.12500 12.500% 100.00%    0    0.0000     0
    saturation   +0.00    0  0.00000  0.000%       -    0    0.0000     0
    saturation   +0.50    1  0.18001 18.001% 100.00%    0    0.0002     1
    saturation   +1.50    1  0.06851  6.851% 100.00%    0    0.0003     1
    saturation   +3.00    1  0.00153  0.153% 100.00%    0    0.0003     1
    hue          -0.50    0  0.00000  0.000%       -    0    0.0005     0
    hue          -0.20    0  0.00000  0.000%       -    0    0.0005     1
    hue          -0.05    1  0.01767  1.767% 100.00%    0    0.0005     1
    hue          +0.05    1  0.01489  1.489% 100.00%    0    0.0002     1
    hue          +0.20    0  0.00000  0.000%       -    0    0.0003     1
    hue          +0.50    0  0.00000  0.000%       -    0    0.0005     0

    torchvision, 100,000 draws per case (imgprep seed 0, torch.manual_seed(0))
    case                       quantity          KS     p KS ref max bin imgprep      tv      n
    -------------------------------------------------------------------------------------------
    crop 300x400               area fraction 0.0031 0.721 0.0037  0.0020  0.4336  0.4341 100000
    crop 300x400               log(w/h)      0.0052 0.133 0.0032  0.0021  0.0299  0.0310 100000
    crop 300x400               top/(H-h)     0.0047 0.225 0.0033  0.0020  0.5012  0.4992  99220
    crop 300x400               left/(W-w)    0.0028 0.840 0.0063  0.0023  0.5009  0.5014 100000
    crop 100x1000              area fraction 0.0028 0.814 0.0026  0.0011  0.1252  0.1251 100000
    crop 100x1000              log(w/h)      0.0025 0.915 0.0024  0.0010  0.2495  0.2493 100000
    crop 100x1000              top/(H-h)     0.0047 0.976 0.0059  0.0041  0.4983  0.4995  20167
    crop 100x1000              left/(W-w)    0.0016 0.999 0.0029  0.0014  0.4995  0.4991 100000
    crop 300x400 ratio 1-2     area fraction 0.0044 0.300 0.0030  0.0018  0.4690  0.4675 100000
    crop 300x400 ratio 1-2     log(w/h)      0.0042 0.346 0.0061  0.0018  0.3356  0.3360 100000
    crop 300x400 ratio 1-2     top/(H-h)     0.0026 0.892 0.0036  0.0017  0.5012  0.5006  99678
    crop 300x400 ratio 1-2     left/(W-w)    0.0051 0.145 0.0023  0.0024  0.5009  0.4990  99663
    erase 300x400              area fraction 0.0026 0.890 0.0039  0.0015  0.1718  0.1718 100000
    erase 300x400              log(w/h)      0.0039 0.441 0.0029  0.0021  0.0406  0.0378 100000
    erase 300x400              top/(H-h)     0.0023 0.961 0.0025  0.0017  0.5000  0.4999 100000
    erase 300x400              left/(W-w)    0.0028 0.810 0.0048  0.0018  0.4998  0.5007 100000
    erase 100x1000             area fraction 0.0041 0.372 0.0044  0.0022  0.1052  0.1052  98372
    erase 100x1000             log(w/h)      0.0035 0.588 0.0063  0.0021  0.5295  0.5281  98372
    erase 100x1000             top/(H-h)     0.0045 0.278 0.0023  0.0021  0.5000  0.5008  98372
    erase 100x1000             left/(W-w)    0.0031 0.731 0.0023  0.0023  0.4998  0.4991  98372
    erase 300x400 ratio 0.3-1  area fraction 0.0028 0.817 0.0036  0.0021  0.1751  0.1750 100000
    erase 300x400 ratio 0.3-1  log(w/h)      0.0060 0.052 0.0046  0.0021  0.6047  0.6019 100000
    erase 300x400 ratio 0.3-1  top/(H-h)     0.0030 0.743 0.0045  0.0016  0.5000  0.5002 100000
    erase 300x400 ratio 0.3-1  left/(W-w)    0.0023 0.947 0.0027  0.0021  0.4998  0.4996 100000

    case                       rate                        imgprep      tv  tv box     ref    SE
    --------------------------------------------------------------------------------------------
    crop 300x400               fallback (0, 0, 300, 400)    0.000%  0.000%  0.000%  0.001%  +0.0
    crop 100x1000              fallback (0, 433, 100, 133) 78.020% 77.923% 77.923% 77.704%  +0.5
    crop 300x400 ratio 1-2     fallback (0, 0, 300, 400)    0.003%  0.000%  0.000%  0.001%  +1.7
    erase 300x400              no erase                     0.000%  0.000%          0.000%  +0.0
    erase 100x1000             no erase                     1.551%  1.628%          1.606%  -1.4
    erase 300x400 ratio 0.3-1  no erase                     0.000%  0.000%          0.000%  +0.0

No channel value is more than 1 grey level from tf.image's, for any operation and value, on
the photos or on every colour. Every 1-level difference is a rounding tie: imgprep's float32
result is exactly k + 0.5 (brightness 0.1 and 0.3 add 25.5 and 76.5; saturation 0.5 halves
V - min; hue 0.05 moves the middle channel by 0.3 (V - min); contrast 2 about the cube's mean
127.5 gives 2x - 127.5) and ``rint`` takes the even neighbour, while tf's ``x * (1/255) + d``
in float32 lands just above or below it. Reproduction: ``x = [[[100, 101, 102]]]`` uint8,
brightness delta 0.1: imgprep 125.5, 126.5, 127.5 -> 126, 126, 128; tf ``y * 255`` =
125.500008, 126.500008, 127.500015 -> 126, 127, 128. Before rounding the two agree within
0.0005 grey levels. The crops and erasing boxes follow torchvision's distributions as closely
as a NumPy copy of its algorithm does: every KS statistic is 0.0016-0.0060 (the copy's: 0.0023-
0.0063), bins differ by at most 0.0041, and the fallback and no-erase rates agree within 1.7
standard errors (the 0.003% "fallback" of crop 300x400 ratio 1-2 are 3 regular draws of the
whole image, as the copy's 0.001%; torchvision counted none by its ``randint`` calls).
"""

from __future__ import annotations

import argparse
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "photos-sample"
BINS = 20
TOLERANCE = 1  # grey levels: the issue's goal

# operation -> (imgprep settings keyword, params keyword, tf.image function, values)
COLOUR: dict[str, tuple[str, str, str, tuple[float, ...]]] = {
    "brightness": ("brightness_delta", "brightness_delta", "adjust_brightness",
                   (-0.3, -0.1, 0.1, 0.3)),
    "contrast": ("contrast_range", "contrast_factor", "adjust_contrast", (0.5, 1.5, 2.0)),
    "saturation": ("saturation_range", "saturation_factor", "adjust_saturation",
                   (0.0, 0.5, 1.5, 3.0)),
    "hue": ("hue_delta", "hue_delta", "adjust_hue", (-0.5, -0.2, -0.05, 0.05, 0.2, 0.5)),
}  # fmt: skip


@dataclass(frozen=True)
class DrawCase:
    """One torchvision-vs-imgprep sampling comparison."""

    name: str
    kind: str  # "crop" (RandomResizedCrop) or "erase" (RandomErasing)
    height: int
    width: int
    scale: tuple[float, float]
    ratio: tuple[float, float]


CROP_SCALE, CROP_RATIO = (0.08, 1.0), (3 / 4, 4 / 3)
ERASE_SCALE, ERASE_RATIO = (0.02, 0.33), (0.3, 3.3)
DRAW_CASES = (
    DrawCase("crop 300x400", "crop", 300, 400, CROP_SCALE, CROP_RATIO),
    DrawCase("crop 100x1000", "crop", 100, 1000, CROP_SCALE, CROP_RATIO),
    DrawCase("crop 300x400 ratio 1-2", "crop", 300, 400, CROP_SCALE, (1.0, 2.0)),
    DrawCase("erase 300x400", "erase", 300, 400, ERASE_SCALE, ERASE_RATIO),
    DrawCase("erase 100x1000", "erase", 100, 1000, ERASE_SCALE, ERASE_RATIO),
    DrawCase("erase 300x400 ratio 0.3-1", "erase", 300, 400, ERASE_SCALE, (0.3, 1.0)),
)


# --------------------------------------------------------------------------- tf.image


def import_tensorflow(path: str) -> Any:
    """tf, from ``path`` APPENDED to ``sys.path`` after NumPy and OpenCV are imported (so the
    environment's copies stay in use, as ``augment_ops_bench`` does with albumentations)."""
    import cv2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if path:
        sys.path.append(path)
    import tensorflow as tf

    for module in (np, cv2):
        if path and Path(module.__file__).resolve().is_relative_to(Path(path).resolve()):
            raise SystemExit(f"{module.__name__} came from {path}: not the environment's")
    return tf


def imgprep_colour(
    images: Sequence[np.ndarray], operation: str, value: float, *, keep_dtype: bool
) -> np.ndarray:
    """imgprep's output for every image, stacked (uint8, or float32 0-255 work)."""
    from imgprep.augment import AugmentParams, AugmentSettings, augment

    setting, param, _, values = COLOUR[operation]
    widest = max(abs(v) for v in values)
    option: Any = (0.0, widest) if setting.endswith("_range") else widest
    settings = AugmentSettings(**{setting: option})
    params = AugmentParams(**{param: value})
    return np.stack([augment(x, params, settings, keep_dtype=keep_dtype) for x in images])


def tf_colour(tf: Any, batch: np.ndarray, operation: str, value: float) -> np.ndarray:
    """tf.image's result on ``batch`` (N x H x W x 3 uint8) in 0-1 floats: float32 0-1."""
    function = getattr(tf.image, COLOUR[operation][2])
    return function(tf.image.convert_image_dtype(batch, tf.float32), value).numpy()


def tf_colour_uint8(tf: Any, batch: np.ndarray, operation: str, value: float) -> np.ndarray:
    """tf.image's function given the uint8 batch itself (its own conversions)."""
    function = getattr(tf.image, COLOUR[operation][2])
    return function(tf.constant(batch), value).numpy()


def colour_cube() -> np.ndarray:
    """All 2^24 RGB colours, each once, as one 4096 x 4096 uint8 image (R the slowest)."""
    v = np.arange(1 << 24, dtype=np.uint32)
    channels = [(v >> 16) & 255, (v >> 8) & 255, v & 255]
    return np.stack(channels, axis=-1).astype(np.uint8).reshape(4096, 4096, 3)


def to_uint8(unit: np.ndarray) -> np.ndarray:
    """0-1 floats to uint8 as imgprep rounds: rint(y * 255), clipped."""
    return np.clip(np.rint(unit.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)


@dataclass
class ColourRow:
    operation: str
    value: float
    max_diff: int
    mean_diff: float
    differ: float  # fraction of channel values
    ties: float  # fraction of the differing values that imgprep's work puts on a half level
    above: int  # channel values more than TOLERANCE apart
    float_max: float
    tf_uint8_max: int
    worst: list[str]


def compare_colour(
    tf: Any, images: Sequence[np.ndarray], operation: str, value: float
) -> ColourRow:
    batch = np.stack(images)
    ours = imgprep_colour(images, operation, value, keep_dtype=True).astype(np.int16)
    ours_float = imgprep_colour(images, operation, value, keep_dtype=False)
    unit = tf_colour(tf, batch, operation, value)
    theirs = to_uint8(unit).astype(np.int16)
    diff = np.abs(ours - theirs)
    theirs_float = np.clip(unit.astype(np.float64) * 255.0, 0, 255)
    float_max = float(np.abs(ours_float.astype(np.float64) - theirs_float).max())
    differing = ours_float[diff > 0].astype(np.float64)
    half = np.abs(differing - np.floor(differing) - 0.5) < 1e-3
    ties = float(half.mean()) if len(differing) else 0.0
    direct = tf_colour_uint8(tf, batch, operation, value).astype(np.int16)
    worst = []
    if diff.max() > TOLERANCE:
        pixels = np.argwhere(diff.max(axis=3) > TOLERANCE)
        order = np.argsort(-diff.max(axis=3)[tuple(pixels.T)], kind="stable")
        for n, y, x in pixels[order[:5]]:
            worst.append(
                f"image {n} (y {y}, x {x}): in {batch[n, y, x].tolist()} imgprep "
                f"{ours[n, y, x].tolist()} tf {theirs[n, y, x].tolist()} "
                f"(tf float {np.round(unit[n, y, x] * 255, 3).tolist()})"
            )
    return ColourRow(
        operation,
        value,
        int(diff.max()),
        float(diff.mean()),
        float((diff > 0).mean()),
        ties,
        int((diff > TOLERANCE).sum()),
        float_max,
        int(np.abs(ours - direct).max()),
        worst,
    )


def format_colour(rows: Sequence[ColourRow]) -> str:
    header = (
        f"{'operation':<11} {'value':>6} {'max':>4} {'mean':>8} {'differ':>8} {'ties':>7} "
        f"{'> 1':>4} {'float max':>9} {'tf u8':>5}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        ties = f"{row.ties:.2%}" if row.differ else "-"
        lines.append(
            f"{row.operation:<11} {row.value:>+6.2f} {row.max_diff:>4} {row.mean_diff:>8.5f} "
            f"{row.differ:>7.3%} {ties:>7} {row.above:>4} {row.float_max:>9.4f} "
            f"{row.tf_uint8_max:>5}"
        )
    for row in rows:
        for line in row.worst:
            lines.append(f"  {row.operation} {row.value:+.2f}: {line}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- torchvision


def torchvision_draws(count: int) -> dict[str, np.ndarray]:
    """Each case's ``count`` draws (top, left, height, width, fallback) from torchvision's
    ``get_params``, seed 0. Runs in the torchvision venv (imports torch)."""
    import torch
    from torchvision import transforms

    calls = [0]
    randint = torch.randint

    def counting_randint(*args: Any, **kwargs: Any) -> Any:
        calls[0] += 1
        return randint(*args, **kwargs)

    out = {}
    torch.randint = counting_randint  # a successful try draws the position with it
    try:
        for case in DRAW_CASES:
            torch.manual_seed(0)
            image = torch.empty(3, case.height, case.width)  # get_params reads its shape
            rows = np.empty((count, 5), dtype=np.int64)
            for k in range(count):
                before = calls[0]
                if case.kind == "crop":
                    box = transforms.RandomResizedCrop.get_params(
                        image, scale=list(case.scale), ratio=list(case.ratio)
                    )
                else:
                    box = transforms.RandomErasing.get_params(
                        image, scale=case.scale, ratio=case.ratio, value=[0.0]
                    )[:4]
                rows[k] = (*box, calls[0] == before)
            out[case.name] = rows
    finally:
        torch.randint = randint
    out["versions"] = np.array(f"torch {torch.__version__}, torchvision "
                               f"{__import__('torchvision').__version__}")  # fmt: skip
    return out


def run_torchvision_child(python: str, count: int) -> dict[str, np.ndarray]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "draws.npz"
        command = [python, __file__, "--torchvision-child", str(path), "--draws", str(count)]
        subprocess.run(command, check=True, env={**os.environ, "PYTHONPATH": ""})
        with np.load(path) as data:
            return {key: data[key] for key in data.files}


def imgprep_draws(case: DrawCase, count: int) -> np.ndarray:
    """imgprep's (top, left, height, width) for ``count`` copies, seed 0, split 0."""
    from imgprep.augment import AugmentSettings

    if case.kind == "crop":
        settings = AugmentSettings(
            random_resized_crop=True, crop_scale=case.scale, crop_ratio=case.ratio
        )
        names = ("crop_top", "crop_left", "crop_height", "crop_width")
    else:
        settings = AugmentSettings(
            erasing_prob=1.0, erasing_scale=case.scale, erasing_ratio=case.ratio
        )
        names = ("erase_top", "erase_left", "erase_height", "erase_width")
    params = settings.sample(
        seed=0,
        split=0,
        indices=np.arange(count),
        copies=np.ones(count, dtype=np.int64),
        shape=(case.height, case.width, 3),
    )
    return np.array([[getattr(p, name) for name in names] for p in params], dtype=np.float64)


def reference_draws(case: DrawCase, count: int, seed: int = 1) -> np.ndarray:
    """torchvision's two ``get_params`` written again in NumPy (its generator, not torch's):
    the KS statistics of a faithful copy with other random numbers, the noise floor."""
    rng = np.random.default_rng(seed)
    height, width = case.height, case.width
    log_ratio = np.log(case.ratio)
    out = np.empty((count, 4))
    for k in range(count):
        for _ in range(10):
            area = height * width * rng.uniform(*case.scale)
            ratio = math.exp(rng.uniform(*log_ratio))
            if case.kind == "crop":  # ratio w / h, 0 < w <= W and 0 < h <= H
                w, h = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
                fits = 0 < w <= width and 0 < h <= height
            else:  # ratio h / w, h < H and w < W
                h, w = round(math.sqrt(area * ratio)), round(math.sqrt(area / ratio))
                fits = h < height and w < width
            if fits:
                top = rng.integers(0, height - h + 1)
                out[k] = (top, rng.integers(0, width - w + 1), h, w)
                break
        else:
            out[k] = fallback_box(case) if case.kind == "crop" else (0, 0, 0, 0)
    return out


def fallback_box(case: DrawCase) -> tuple[int, int, int, int]:
    """torchvision's ``RandomResizedCrop`` fallback: the centre crop of the ratio range."""
    height, width = case.height, case.width
    in_ratio = width / height
    if in_ratio < min(case.ratio):
        w, h = width, round(width / min(case.ratio))
    elif in_ratio > max(case.ratio):
        h, w = height, round(height * max(case.ratio))
    else:
        h, w = height, width
    return (height - h) // 2, (width - w) // 2, h, w


def quantities(case: DrawCase, boxes: np.ndarray, erased: np.ndarray) -> dict[str, np.ndarray]:
    """The compared quantities of the boxes kept by ``erased`` (crops: all)."""
    top, left, h, w = boxes[erased].T
    room_h, room_w = case.height - h, case.width - w
    return {
        "area fraction": h * w / (case.height * case.width),
        "log(w/h)": np.log(w / h),
        "top/(H-h)": top[room_h > 0] / room_h[room_h > 0],
        "left/(W-w)": left[room_w > 0] / room_w[room_w > 0],
    }


@dataclass
class DrawRow:
    case: str
    quantity: str
    ks: float
    p: float
    ks_reference: float
    bin_diff: float
    means: tuple[float, float]
    sizes: tuple[int, int]


def kept(case: DrawCase, boxes: np.ndarray) -> np.ndarray:
    """The draws whose quantities count: every crop, the erased boxes (imgprep writes 0 x 0
    when not erased, torchvision returns the whole image)."""
    if case.kind == "crop":
        return np.ones(len(boxes), dtype=bool)
    whole = (boxes[:, 2] == case.height) & (boxes[:, 3] == case.width)
    return (boxes[:, 2] > 0) & (boxes[:, 3] > 0) & ~whole


def standard_errors(a: float, b: float, count: int) -> float:
    """(a - b) in standard errors of the difference of two rates over ``count`` draws each."""
    pooled = (a + b) / 2
    spread = math.sqrt(pooled * (1 - pooled) * 2 / count)
    return 0.0 if spread == 0 else (a - b) / spread


@dataclass
class RateRow:
    """The fallback (crop) or no-erase (erasing) rate of one case, each side."""

    case: str
    kind: str
    imgprep: float
    torchvision: float  # crop: the ten tries failed (exact); erasing: whole image returned
    torchvision_box: float | None  # crop: draws equal to the fallback box
    reference: float
    errors: float  # imgprep - torchvision in standard errors (same definition both sides)


def compare_draws(
    case: DrawCase, ours: np.ndarray, theirs: np.ndarray, reference: np.ndarray
) -> tuple[list[DrawRow], RateRow]:
    from scipy.stats import ks_2samp

    tv_boxes = theirs[:, :4].astype(np.float64)
    if case.kind == "crop":
        box = np.array(fallback_box(case), dtype=np.float64)
        ours_rate = float((ours == box).all(axis=1).mean())
        theirs_box = float((tv_boxes == box).all(axis=1).mean())
        rate = RateRow(
            case.name,
            f"fallback {tuple(int(v) for v in box)}",
            ours_rate,
            float(theirs[:, 4].mean()),
            theirs_box,
            float((reference == box).all(axis=1).mean()),
            standard_errors(ours_rate, theirs_box, len(ours)),
        )
    else:
        ours_rate = float(1 - kept(case, ours).mean())
        theirs_rate = float(1 - kept(case, tv_boxes).mean())
        rate = RateRow(
            case.name,
            "no erase",
            ours_rate,
            theirs_rate,
            None,
            float(1 - kept(case, reference).mean()),
            standard_errors(ours_rate, theirs_rate, len(ours)),
        )
    a = quantities(case, ours, kept(case, ours))
    b = quantities(case, tv_boxes, kept(case, tv_boxes))
    c = quantities(case, reference, kept(case, reference))
    rows = []
    for name in a:
        x, y = a[name], b[name]
        if not len(x) or not len(y):
            continue
        test = ks_2samp(x, y)
        low, high = min(x.min(), y.min()), max(x.max(), y.max())
        edges = np.linspace(low, high if high > low else low + 1, BINS + 1)
        hx = np.histogram(x, edges)[0] / len(x)
        hy = np.histogram(y, edges)[0] / len(y)
        rows.append(
            DrawRow(
                case.name,
                name,
                float(test.statistic),
                float(test.pvalue),
                float(ks_2samp(c[name], y).statistic),
                float(np.abs(hx - hy).max()),
                (float(x.mean()), float(y.mean())),
                (len(x), len(y)),
            )
        )
    return rows, rate


def format_draws(rows: Sequence[DrawRow], rates: Sequence[RateRow]) -> str:
    header = (
        f"{'case':<26} {'quantity':<13} {'KS':>6} {'p':>5} {'KS ref':>6} {'max bin':>7} "
        f"{'imgprep':>7} {'tv':>7} {'n':>6}"
    )
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row.case:<26} {row.quantity:<13} {row.ks:>6.4f} {row.p:>5.3f} "
            f"{row.ks_reference:>6.4f} {row.bin_diff:>7.4f} {row.means[0]:>7.4f} "
            f"{row.means[1]:>7.4f} {min(row.sizes):>6}"
        )
    header = (
        f"{'case':<26} {'rate':<27} {'imgprep':>7} {'tv':>7} {'tv box':>7} {'ref':>7} {'SE':>5}"
    )
    lines += ["", header, "-" * len(header)]
    for rate in rates:
        box = "" if rate.torchvision_box is None else f"{rate.torchvision_box:.3%}"
        lines.append(
            f"{rate.case:<26} {rate.kind:<27} {rate.imgprep:>7.3%} {rate.torchvision:>7.3%} "
            f"{box:>7} {rate.reference:>7.3%} {rate.errors:>+5.1f}"
        )
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=200, help="224x224 crops (default 200)")
    parser.add_argument("--draws", type=int, default=100_000, help="draws per sampling case")
    parser.add_argument("--photos", type=Path, default=DEFAULT_PHOTOS, help="source photos")
    parser.add_argument(
        "--tf-path",
        default="/tmp/tfcpu",
        help="pip --target directory of tensorflow-cpu, appended to sys.path ('': installed)",
    )
    parser.add_argument(
        "--tv-python", default="/tmp/tvvenv/bin/python", help="Python of the torchvision venv"
    )
    parser.add_argument(
        "--tv-draws", type=Path, help="torchvision's draws from this .npz (an earlier child's)"
    )
    parser.add_argument("--skip-tf", action="store_true", help="no tf.image part")
    parser.add_argument("--skip-tv", action="store_true", help="no torchvision part")
    parser.add_argument("--no-cube", action="store_true", help="no all-colours image")
    parser.add_argument("--torchvision-child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if min(args.n, args.draws) < 1:
        parser.error("--n and --draws must be >= 1")
    return args


def colour_part(args: argparse.Namespace) -> None:
    import cv2  # before tf: the environment's OpenCV
    from augment_bench import load_photos  # SciPy: the bench extra
    from augment_ops_bench import make_images

    tf = import_tensorflow(args.tf_path)
    photos = load_photos(args.photos)
    images = make_images(photos, args.n)
    print(
        f"numpy {np.__version__}, opencv {cv2.__version__}, tensorflow {tf.__version__}, "
        f"Python {sys.version.split()[0]}"
    )
    sets = {f"{args.n} crops of {len(photos)} photos, 224x224 RGB uint8": images}
    if not args.no_cube:
        sets["every 8-bit RGB colour once (one 4096x4096 image)"] = [colour_cube()]
    for label, chosen in sets.items():
        start = time.perf_counter()
        rows = [
            compare_colour(tf, chosen, operation, value)
            for operation, (_, _, _, values) in COLOUR.items()
            for value in values
        ]
        values = sum(x.size for x in chosen)
        print(
            f"\ntf.image agreement, {label}: differences in grey levels over {values:,} "
            f"channel values ({time.perf_counter() - start:.1f} s)"
        )
        print(format_colour(rows))


def draws_part(args: argparse.Namespace) -> None:
    start = time.perf_counter()
    if args.tv_draws is None:
        theirs = run_torchvision_child(args.tv_python, args.draws)
    else:
        with np.load(args.tv_draws) as data:
            theirs = {key: data[key] for key in data.files}
        if len(theirs[DRAW_CASES[0].name]) != args.draws:
            raise SystemExit(f"{args.tv_draws}: not {args.draws} draws per case")
    child = time.perf_counter() - start
    rows: list[DrawRow] = []
    rates: list[RateRow] = []
    for case in DRAW_CASES:
        case_rows, rate = compare_draws(
            case,
            imgprep_draws(case, args.draws),
            theirs[case.name],
            reference_draws(case, args.draws),
        )
        rows.extend(case_rows)
        rates.append(rate)
    print(
        f"\ntorchvision agreement: {args.draws:,} draws per case, {theirs['versions']} "
        f"({child:.1f} s in its venv), imgprep seed 0; KS two-sample, {BINS}-bin histograms"
    )
    print(format_draws(rows, rates))


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.torchvision_child is not None:
        np.savez(args.torchvision_child, **torchvision_draws(args.draws))
        return
    if not args.skip_tf:
        colour_part(args)
    if not args.skip_tv:
        draws_part(args)


if __name__ == "__main__":
    main()
