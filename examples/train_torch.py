"""Train a small CNN for one epoch on the bundled MNIST sample with PyTorch, reading the file
``imgprep transform`` wrote through ``imgprep.data.torch_loader`` (2 workers, a fresh seeded
rotation every epoch), then report the validation accuracy. About 10 s on 2 cores.

    pip install torch==2.13.0 imgprep   # the CPU build; plain 'torch' may pull CUDA (GBs)
    python examples/train_torch.py [--epochs N]

Prints one line: ``epochs=N train=240 val=60 accuracy=A seconds=S``.
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch
from _prepare import prepare, report  # examples/_prepare.py
from torch import nn

from imgprep.data import torch_loader


def model() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 16, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(16, 32, 3), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Linear(32 * 5 * 5, 10),
    )  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=1)
    epochs = parser.parse_args().epochs
    started = time.perf_counter()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as folder:
        path = prepare(folder)
        augment = {"rotation_range": 10, "width_shift_range": 0.1}
        train = torch_loader(path, 16, num_workers=2, split="train", shuffle=True, seed=1,
                             augment=augment)  # fmt: skip
        val = torch_loader(path, 64, split="val")
        net = model()
        optimizer = torch.optim.Adam(net.parameters(), lr=3e-3)
        for _ in range(epochs):  # each pass over the loader is the next epoch
            net.train()
            for images, labels in train:
                optimizer.zero_grad()
                loss = nn.functional.cross_entropy(net(images / 255), labels)
                loss.backward()
                optimizer.step()
        net.eval()
        right = total = 0
        with torch.no_grad():
            for images, labels in val:
                right += int((net(images / 255).argmax(1) == labels).sum())
                total += len(labels)
        sizes = len(train.dataset), len(val.dataset)
    seconds = time.perf_counter() - started
    report(epochs, sizes, right / total, seconds)


if __name__ == "__main__":
    main()
