"""One training epoch from the prepared HDF5 (``imgprep.data.torch_loader``) against what a
user would otherwise run on the original files: torchvision's ``ImageFolder`` +
``transforms.v2`` in a DataLoader, and Keras' ``image_dataset_from_directory`` with its
preprocessing layers (tf.data), side by side in one run.

Both datasets of issue 17, read once per epoch in a shuffled order, 2 workers, batch 64,
standardized on the fly with the training set's featurewise mean and std (``fit-stats``;
the same numbers given to ``v2.Normalize`` and ``keras.layers.Normalization``):

- ``mnist``: the 60,000 MNIST training digits (``../shared/data/mnist-idx``) as a PNG tree
  (``fit_stats_bench.ensure_tree``) and as the uint8 HDF5 ``imgprep transform`` writes of it.
- ``photos``: 600 real photos, 15 crops of each of the 40 in
  ``../shared/data/photos-sample`` (``transform_bench.crop_and_scale``: 60-100% of each
  side, some upscaled, JPEG quality 90), resized to 224 x 224 (the HDF5 by ``imgprep
  transform --size 224x224``; the peers resize each epoch, as they must).

Cases, each with and without augmentation (rotation up to 10 degrees, zoom 0.9-1.1,
horizontal flips, in each library's own operations): ``imgprep``; ``ImageFolder + v2``
(PIL decode, ``v2.Resize`` antialiased for photos, ``ToDtype(float32)``, ``Normalize``;
``RandomAffine`` + ``RandomHorizontalFlip``); ``tf.data`` (``image_dataset_from_directory``,
bilinear resize, ``Normalization``; ``RandomRotation``, ``RandomZoom``, ``RandomFlip``;
``map(num_parallel_calls=AUTOTUNE)`` and ``prefetch``, tf.data's own threads on both
cores). Each case runs in its own process (PyTorch and TensorFlow never share one), for
``--epochs`` epochs (median reported, all listed), with its peak memory: RSS and private
memory of the case's process and of its workers (``loader_bench.WorkerMemory``).

Needs torch, torchvision and tensorflow-cpu + keras in one venv (not the test extras)::

    python -m venv /tmp/peers && /tmp/peers/bin/pip install torch==2.14.1 \\
        torchvision==0.29.1 tensorflow-cpu keras -e .
    /tmp/peers/bin/python bench/loader_peers_bench.py --work /tmp/peers-data
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))  # the bench folder is not a package
REPO = BENCH.parent
SHARED = REPO.parent / "shared" / "data"
BATCH, WORKERS = 64, 2
PHOTOS, CROPS = 600, 15
AUGMENT = {"rotation_range": 10, "zoom_range": [0.9, 1.1], "horizontal_flip": True}
LIBRARIES = ("imgprep", "ImageFolder + v2", "tf.data")


# --------------------------------------------------------------------------- data


def prepare(work: Path, data: str) -> dict[str, Any]:
    """The image tree, the imgprep HDF5 of it and its statistics (built once, reused)."""
    tree = work / data
    if data == "mnist":
        from fit_stats_bench import ensure_tree, load_idx

        images, labels = load_idx(SHARED / "mnist-idx", 60_000)
        ensure_tree(tree, images, labels)
        size: list[str] = []
    else:
        write_photos(tree)
        size = ["--size", "224x224"]
    h5, stats = work / f"{data}.h5", work / f"{data}-stats.json"
    if not h5.exists():
        imgprep_cli("transform", str(tree), "-o", str(h5), *size, "-q")
    if not stats.exists():
        imgprep_cli("fit-stats", str(tree), "-o", str(stats), *size, "-q")
    return {"tree": str(tree), "h5": str(h5), "stats": str(stats)}


def imgprep_cli(*args: str) -> None:
    subprocess.run([sys.executable, "-m", "imgprep", *args], check=True)


def write_photos(root: Path) -> None:
    """``PHOTOS`` crops of the 40 sample photos under ``root/<a|b>/`` (skipped if there)."""
    from PIL import Image
    from transform_bench import JPEG_QUALITY, crop_and_scale

    if root.is_dir() and len(list(root.glob("*/*.jpg"))) == PHOTOS:
        return
    rng = np.random.default_rng(0)
    originals = sorted((SHARED / "photos-sample").glob("*/*.jpg"))
    for index, source in enumerate(originals):
        with Image.open(source) as opened:
            image = opened.convert("RGB")
        for crop in range(CROPS):
            target = root / source.parent.name / f"{index * CROPS + crop:04d}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            crop_and_scale(image, rng).save(target, "JPEG", quality=JPEG_QUALITY)


def moments(stats_path: str) -> tuple[list[float], list[float]]:
    """Per-channel mean and std on the 0-255 scale."""
    import imgprep

    stats = imgprep.read_stats(stats_path)
    return [float(m) for m in stats.mean], [float(s) for s in stats.std]


# --------------------------------------------------------------------------- cases


def imgprep_epochs(paths: dict[str, Any], augment: bool, epochs: int) -> list[float]:
    import imgprep
    from imgprep.data import torch_loader

    loader = torch_loader(
        paths["h5"], BATCH, WORKERS, shuffle=True, seed=1,
        normalize=imgprep.pipeline_from_stats(paths["stats"]),
        augment=AUGMENT if augment else None,
    )  # fmt: skip
    return [timed(loader) for _ in range(epochs)]


def image_folder_epochs(paths: dict[str, Any], augment: bool, epochs: int) -> list[float]:
    import torch
    from torchvision import datasets
    from torchvision.transforms import v2

    mean, std = moments(paths["stats"])
    photos = "photos" in paths["tree"]
    steps: list[Any] = [v2.PILToTensor()]
    if photos:
        steps.append(v2.Resize((224, 224), antialias=True))
    if augment:
        steps += [v2.RandomAffine(degrees=10, scale=(0.9, 1.1)), v2.RandomHorizontalFlip()]
    steps += [v2.ToDtype(torch.float32), v2.Normalize(mean, std)]
    loader_of = datasets.ImageFolder(
        paths["tree"], transform=v2.Compose(steps), loader=pil_loader(photos)
    )
    loader = torch.utils.data.DataLoader(
        loader_of, batch_size=BATCH, shuffle=True, num_workers=WORKERS
    )
    return [timed(loader) for _ in range(epochs)]


def pil_loader(photos: bool) -> Any:
    """ImageFolder's loader, keeping the digits one channel (its default converts to RGB)."""
    from PIL import Image

    def load(path: str) -> Any:
        with Image.open(path) as image:
            return image.convert("RGB" if photos else "L")

    return load


def tf_data_epochs(paths: dict[str, Any], augment: bool, epochs: int) -> list[float]:
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    import keras
    import tensorflow as tf

    mean, std = moments(paths["stats"])
    photos = "photos" in paths["tree"]
    dataset = keras.utils.image_dataset_from_directory(
        paths["tree"], image_size=(224, 224) if photos else (28, 28), batch_size=BATCH,
        color_mode="rgb" if photos else "grayscale", shuffle=True, seed=1, verbose=False,
    )  # fmt: skip
    layers = [keras.layers.Normalization(mean=mean, variance=[s * s for s in std])]
    if augment:
        layers = [
            keras.layers.RandomRotation(10 / 360), keras.layers.RandomZoom(0.1),
            keras.layers.RandomFlip("horizontal"), *layers,
        ]  # fmt: skip
    model = keras.Sequential(layers)
    dataset = dataset.map(
        lambda x, y: (model(x, training=True), y), num_parallel_calls=tf.data.AUTOTUNE
    ).prefetch(tf.data.AUTOTUNE)
    return [timed(dataset) for _ in range(epochs)]


CASES = {"imgprep": imgprep_epochs, "ImageFolder + v2": image_folder_epochs,
         "tf.data": tf_data_epochs}  # fmt: skip


def timed(batches: Any) -> float:
    """Images per second of one pass."""
    started = time.perf_counter()
    seen = sum(len(labels) for _, labels in batches)
    return seen / (time.perf_counter() - started)


def run_case(library: str, paths: dict[str, Any], augment: bool, epochs: int) -> None:
    """In the case's own process: the epochs' rates and peak memory, as one JSON line."""
    from loader_bench import WorkerMemory

    with WorkerMemory() as workers:
        rates = CASES[library](paths, augment, epochs)
    fields = Path("/proc/self/status").read_text().splitlines()
    peak = next(int(line.split()[1]) for line in fields if line.startswith("VmHWM")) / 1024
    print(json.dumps({"rates": rates, "rss": peak, "worker_rss": workers.rss,
                      "worker_private": workers.uss}))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, help="trees and files, reused (required)")
    parser.add_argument("--data", nargs="+", default=["mnist", "photos"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--case", help=argparse.SUPPRESS)  # a child: LIBRARY|AUGMENT|JSON
    args = parser.parse_args()
    if args.case:
        library, augment, paths = args.case.split("|", 2)
        run_case(library, json.loads(paths), augment == "1", args.epochs)
        return
    if args.work is None:
        parser.error("--work is required")
    args.work.mkdir(parents=True, exist_ok=True)
    for data in args.data:
        paths = prepare(args.work, data)
        print(f"{data}: {WORKERS} workers, batch {BATCH}, shuffled, standardized on the fly; "
              f"median of {args.epochs} epochs, images/s:", flush=True)  # fmt: skip
        for augment in (False, True):
            base = None
            for library in LIBRARIES:
                case = f"{library}|{int(augment)}|{json.dumps(paths)}"
                child = subprocess.run(
                    [sys.executable, __file__, "--epochs", str(args.epochs), "--case", case],
                    capture_output=True, text=True,
                )  # fmt: skip
                if child.returncode != 0:
                    raise SystemExit(f"{library}: failed\n{child.stderr}")
                result = json.loads(child.stdout.strip().splitlines()[-1])
                rate = float(np.median(result["rates"]))
                base = base or rate
                epochs = ", ".join(f"{r:,.0f}" for r in result["rates"])
                print(f"  {library:17s} {'augmented' if augment else 'plain':9s} "
                      f"{rate:9,.0f}  imgprep/this {base / rate:5.2f}x  (epochs {epochs})  "
                      f"peak RSS {result['rss']:4.0f} MB, per worker {result['worker_rss']:4.0f} "
                      f"MB (private {result['worker_private']:4.0f} MB)", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
