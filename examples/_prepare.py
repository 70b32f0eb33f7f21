"""What both training examples share: the prepared file and the one line they print."""

from __future__ import annotations

import os
import subprocess
import sys


def prepare(folder: str) -> str:
    """The bundled digits as uint8 rows, split 80/20 by class, rows shuffled, in one file."""
    path = os.path.join(folder, "mnist.h5")
    command = [sys.executable, "-m", "imgprep", "transform", "--example", "mnist", "-o", path,
               "--split", "train=0.8,val=0.2", "--seed", "1", "--shuffle", "-q"]  # fmt: skip
    subprocess.run(command, check=True)
    return path


def report(epochs: int, sizes: tuple[int, int], accuracy: float, seconds: float) -> None:
    print(f"epochs={epochs} train={sizes[0]} val={sizes[1]} accuracy={accuracy:.3f} "
          f"seconds={seconds:.1f}")  # fmt: skip
