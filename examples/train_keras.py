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
import tempfile
import time

os.environ.setdefault("KERAS_BACKEND", "jax")

import keras  # after KERAS_BACKEND is set
from _prepare import prepare, report  # examples/_prepare.py

from imgprep.data import keras_dataset


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
    report(epochs, sizes, accuracy, seconds)


if __name__ == "__main__":
    main()
