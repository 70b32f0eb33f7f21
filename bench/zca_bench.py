"""Benchmark ``imgprep fit-stats --zca`` against Keras' ``ImageDataGenerator.fit`` with ZCA.

Data: 10,000 RGB images of 32 x 32 (D = 3,072), random crops of the 40 real photos in
``<repo>/../shared/data/photos-sample``, written once as PNG files under ``--cache``. Each case
runs in its own subprocess; the table gives its wall time (start-up and imports included) and
its peak RSS (``os.wait4``).

- ``imgprep fit-stats --zca -j 1`` and ``-j 2``: statistics pass + ZCA pass, sidecar written.
- ``keras fit(zca_whitening=True)``: what a Keras user does: load every image into one float32
  array with Pillow, then ``ImageDataGenerator(zca_whitening=True).fit(x)`` (its SVD of
  X^T X / N); the load and the fit are timed separately inside the case.

Then an agreement line: imgprep's whitening matrix against a textbook float64 NumPy ZCA of the
same images (mean, covariance with ddof=0, SVD, eps 1e-6). Keras' matrix is not compared: it
whitens uncentred data (or data centred per channel with ``featurewise_center``), as the
README says.

Run it (about 2 minutes on 2 cores; needs ``pip install ".[bench]"``)::

    python bench/zca_bench.py [--count 10000] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO.parent / "shared" / "data" / "photos-sample"
DEFAULT_CACHE = Path("/tmp/imgprep-bench-cache")


def build(cache: Path, count: int) -> Path:
    """``count`` 32 x 32 RGB crops of the sample photos as PNG (reused when complete)."""
    import numpy as np
    from PIL import Image

    root = cache / f"zca-{count}"
    if root.is_dir() and len(list(root.glob("*.png"))) == count:
        return root
    root.mkdir(parents=True, exist_ok=True)
    photos = [Image.open(p).convert("RGB") for p in sorted(PHOTOS.glob("*/*.jpg"))]
    rng = np.random.default_rng(0)
    for index in range(count):
        photo = photos[index % len(photos)]
        side = int(rng.integers(32, min(photo.size) + 1))
        left = int(rng.integers(0, photo.width - side + 1))
        top = int(rng.integers(0, photo.height - side + 1))
        crop = photo.crop((left, top, left + side, top + side)).resize((32, 32), Image.BILINEAR)
        crop.save(root / f"{index:05d}.png")
    return root


def keras_case(root: str) -> None:
    """Child process: the Keras way; prints its own timings as JSON."""
    import numpy as np
    from PIL import Image

    start = time.perf_counter()
    x = np.stack(
        [np.asarray(Image.open(p), dtype=np.float32) for p in sorted(Path(root).glob("*.png"))]
    )
    loaded = time.perf_counter()
    from keras_preprocessing.image import ImageDataGenerator

    generator = ImageDataGenerator(zca_whitening=True)
    generator.fit(x)
    fitted = time.perf_counter()
    print(json.dumps({"load": loaded - start, "fit": fitted - loaded}))


def agreement(root: str, sidecar: str) -> str:
    """imgprep's whitening matrix against a textbook float64 NumPy ZCA."""
    import numpy as np
    from PIL import Image

    x = np.stack([np.asarray(Image.open(p)) for p in sorted(Path(root).glob("*.png"))])
    flat = x.reshape(len(x), -1).astype(np.float64)
    mean = flat.mean(axis=0)
    sigma = (flat - mean).T @ (flat - mean) / len(flat)
    u, s, _ = np.linalg.svd(sigma)
    textbook = (u / np.sqrt(s + 1e-6)) @ u.T
    with np.load(sidecar) as data:
        whitening = data["whitening"]
    scale = np.abs(textbook).max()
    difference = np.abs(whitening - textbook).max() / scale
    return (
        f"imgprep whitening vs textbook NumPy ZCA: max abs diff {difference:.1e} of the "
        "largest entry"
    )


def measure(command: list[str]) -> tuple[float, float, str]:
    start = time.perf_counter()
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    assert process.stdout is not None
    out = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"failed: {command}")
    return time.perf_counter() - start, usage.ru_maxrss / 1024, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE)
    parser.add_argument("--keras-child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.keras_child:
        keras_case(args.keras_child)
        return
    root = build(args.cache, args.count)
    imgprep = str(Path(sys.executable).parent / "imgprep")
    rows = []
    with tempfile.TemporaryDirectory(prefix="imgprep-zca-") as tmp:
        for workers in ("1", "2"):
            out = os.path.join(tmp, f"s{workers}.json")
            command = [imgprep, "fit-stats", str(root), "--zca", "-q", "-j", workers, "-o", out]
            seconds, rss, _ = measure(command)
            rows.append((f"imgprep fit-stats --zca -j {workers}", seconds, rss, ""))
        same = Path(tmp, "s1.zca.npz").read_bytes() == Path(tmp, "s2.zca.npz").read_bytes()
        seconds, rss, out = measure([sys.executable, __file__, "--keras-child", str(root)])
        parts = json.loads(out)
        detail = f"load {parts['load']:.1f} s + fit {parts['fit']:.1f} s"
        rows.append(("keras ImageDataGenerator.fit(zca)", seconds, rss, detail))
        check = agreement(str(root), os.path.join(tmp, "s1.zca.npz"))
    keras_seconds = rows[-1][1]
    print(f"ZCA fit on {args.count:,} RGB 32x32 images (D = 3,072), {os.cpu_count()} CPUs")
    print(f"{'case':<36} {'seconds':>8} {'peak RSS MB':>12} {'vs keras':>9}  detail")
    for name, seconds, rss, detail in rows:
        print(f"{name:<36} {seconds:>8.1f} {rss:>12.0f} {keras_seconds / seconds:>8.2f}x  {detail}")
    print(f"-j 1 and -j 2 sidecars byte-identical: {'yes' if same else 'NO'}")
    print(check)


if __name__ == "__main__":
    main()
