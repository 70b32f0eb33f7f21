"""inspect shows any attribute an HDF5 file holds, and ``--json`` is always JSON.

Before, a ``stats`` or ``pipeline`` attribute of opaque bytes (``np.void``) or a complex
number was a ``TypeError`` traceback (``bytes is not JSON serializable``) in the table and in
``--json``; and ``--json`` wrote bare ``NaN`` (not JSON: jq and strict parsers refuse it) for
a NaN attribute or for images holding NaN or infinities.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main


def strict_json(text: str) -> Any:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def h5(path: Path, images: np.ndarray, **attributes: Any) -> Path:
    with h5py.File(path, "w") as handle:
        handle.create_dataset("images", data=images)
        for key, value in attributes.items():
            handle.attrs[key] = value
    return path


@pytest.mark.parametrize(
    ("key", "value", "shown"),
    [
        ("stats", np.void(b"\xff\xfe"), "\ufffd\ufffd"),
        ("pipeline", np.complex128(3j), "3j"),
    ],
)
@pytest.mark.parametrize("as_json", [False, True])
def test_odd_attributes_are_shown(tmp_path: Path, key: str, value: Any, shown: str, as_json):
    path = h5(tmp_path / "a.h5", np.zeros((2, 3, 4, 1), np.uint8), **{key: value})
    result = CliRunner().invoke(main, ["inspect", str(path), *(["--json"] if as_json else [])])
    assert result.exit_code == 0, result.output
    if as_json:
        assert strict_json(result.stdout)["attributes"][key] == shown
    else:
        assert result.stdout.endswith(f"\n{key}:\n{json.dumps(shown)}\n")


def test_json_of_nan_data_and_attributes_is_json(tmp_path: Path):
    images = np.zeros((2, 3, 4, 1), np.float32)
    images[0, 0, 0, 0] = np.nan
    images[1, 0, 0, 0] = np.inf
    path = h5(tmp_path / "n.h5", images, note=np.float64("nan"))
    result = CliRunner().invoke(main, ["inspect", str(path), "--json"])
    assert result.exit_code == 0, result.output
    report = strict_json(result.stdout)
    assert report["attributes"]["note"] == "NaN"
    assert report["max"] == ["Infinity"]
    assert report["mean"] == ["NaN"]
