"""Train a small CNN for one epoch on the bundled MNIST sample with Keras 3 (any backend; JAX
here), reading the file ``imgprep transform`` wrote through ``imgprep.data.keras_dataset`` (a
fresh seeded rotation every epoch), then report the validation accuracy. About 10 s on 2 cores.

    pip install keras jax imgprep
    KERAS_BACKEND=jax python examples/train_keras.py [--epochs N]

Prints one line: ``epochs=N train=240 val=60 accuracy=A seconds=S``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # after KERAS_BACKEND is set

from imgprep.data import keras_dataset


def prepare(folder: str) -> str:
    """The bundled digits as uint8 rows, split 80/20 by class, rows shuffled, in one file."""
    path = os.path.join(folder, "mnist.h5")
    command = [sys.executable, "-m", "imgprep", "transform", "--example", "mnist", "-o", path,
               "--split", "train=0.8,val=0.2", "--seed", "1", "--shuffle", "-q"]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def model() -> keras.Model:
    return keras.Sequential([
        keras.Input((28, 28, 1)), keras.layers.Rescaling(1 / 255),
        keras.layers.Conv2D(16, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Conv2D(32, 3, activation="relu"), keras.layers.MaxPooling2D(),
        keras.layers.Flatten(), keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    epochs = parser.parse_args().epochs
    started = time.perf_counter()
    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = prepare(folder)
        augment = {"rotation_range": 10, "width_shift_range": 0.1}
        train = keras_dataset(path, 16, split="train", shuffle=True, seed=1, augment=augment)
        val = keras_dataset(path, 64, split="val")
        net = model()
        net.compile(
            optimizer=keras.optimizers.Adam(3e-3),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
        net.fit(train, epochs=epochs, verbose=0)
        _, accuracy = net.evaluate(val, verbose=0)
        sizes = len(train.dataset), len(val.dataset)
    seconds = time.perf_counter() - started
    print(f"epochs={epochs} train={sizes[0]} val={sizes[1]} accuracy={accuracy:.3f} "
          f"seconds={seconds:.1f}")  # fmt: skip


if __name__ == "__main__":
    main()
