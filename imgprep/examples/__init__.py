"""Small real datasets that ship inside the package (see README.md in this folder)."""

from __future__ import annotations

import os

from imgprep.errors import InputError

EXAMPLES = {
    "mnist": "300 MNIST digits, 28x28 grayscale PNG, 10 class folders",
    "photos": "12 real photos, JPEG, varied sizes, 2 class folders",
}


def example_path(name: str) -> str:
    """Directory of a bundled example (``mnist`` or ``photos``)."""
    if name not in EXAMPLES:
        raise InputError(f"unknown example {name!r}: choose one of {', '.join(EXAMPLES)}")
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
