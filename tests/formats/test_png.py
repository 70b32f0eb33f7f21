"""The PNG-tree writer: files named after their sources, the copies' records in the manifest
from the columns it is given, and the images PNG cannot hold refused with nothing left."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgprep.errors import ImgprepError, InputError
from imgprep.io.formats.png import PngWriter
from tests.conftest import listing


def test_copies_are_recorded_with_the_columns_given(tmp_path: Path, rng):
    target = tmp_path / "tree"
    images = rng.integers(0, 256, (2, 3, 4, 3), dtype=np.uint8)
    with PngWriter(str(target)) as writer:
        columns = [("angle", np.dtype(np.float64)), ("mirrored", np.dtype(np.bool_))]
        writer.start_split("train", labelled=True, augmentation=columns)
        rows = [(0, 0, [0.0, 0.0]), (0, 1, [12.5, 1.0])]
        writer.write(list(images), ["cat/a.jpg", "cat/a.jpg"], [0, 0], rows)
        writer.end_split(skipped=[{"path": "cat/b.jpg", "reason": "truncated"}])
        writer.finish({"class_names": ["cat"]})
    assert listing(target) == ["imgprep.json", "train/cat/a.png", "train/cat/a_copy1.png"]
    for name, image in zip(["a.png", "a_copy1.png"], images, strict=True):
        with Image.open(target / "train" / "cat" / name) as saved:
            np.testing.assert_array_equal(np.asarray(saved), image)
    manifest = json.loads((target / "imgprep.json").read_text(encoding="utf-8"))
    assert manifest["format"] == "imgprep-dataset"
    assert manifest["class_names"] == ["cat"]
    assert manifest["skipped"] == {"train": [{"path": "cat/b.jpg", "reason": "truncated"}]}
    assert manifest["copies"] == [
        {"path": "train/cat/a.png", "source": "cat/a.jpg", "source_index": 0, "copy": 0,
         "angle": 0.0, "mirrored": 0.0},
        {"path": "train/cat/a_copy1.png", "source": "cat/a.jpg", "source_index": 0, "copy": 1,
         "angle": 12.5, "mirrored": 1.0},
    ]  # fmt: skip
    assert sorted(os.listdir(tmp_path)) == ["tree"]


def test_sixteen_bit_grayscale_is_written_exactly(tmp_path: Path):
    image = np.array([[[0], [1]], [[40000], [65535]]], dtype=np.uint16)
    with PngWriter(str(tmp_path / "tree")) as writer:
        writer.start_split(None, labelled=False)
        writer.write([image], ["deep.tif"], [None])
        writer.end_split(skipped=[])
        writer.finish({})
    with Image.open(tmp_path / "tree" / "deep.png") as saved:
        assert np.asarray(saved).tolist() == [[0, 1], [40000, 65535]]


def test_an_image_png_cannot_hold_is_refused_and_nothing_is_left(tmp_path: Path):
    with pytest.raises(InputError) as caught, PngWriter(str(tmp_path / "tree")) as writer:
        writer.start_split(None, labelled=False)
        writer.write([np.zeros((2, 2, 3), np.float32)], ["x.png"], [None])
    assert str(caught.value) == (
        "x.png: cannot write a 3-channel float32 image as PNG (uint8 with 1-4 channels or "
        "uint16 grayscale only); write HDF5 instead"
    )
    assert os.listdir(tmp_path) == []


def test_a_split_with_no_image_is_an_error(tmp_path: Path):
    with pytest.raises(ImgprepError) as caught, PngWriter(str(tmp_path / "tree")) as writer:
        writer.start_split(None, labelled=False)
        writer.end_split(skipped=[])
    assert str(caught.value) == "no image could be read; nothing to write"
    assert os.listdir(tmp_path) == []


def test_a_tree_refuses_to_hold_raw_rows_and_leaves_nothing(tmp_path: Path):
    """Only holds_raw_rows formats keep rows back for the single pass; asking a PNG tree to is
    a programming error, refused before anything is written."""
    assert not PngWriter.holds_raw_rows
    with pytest.raises(ValueError) as caught, PngWriter(str(tmp_path / "tree")) as writer:
        writer.start_split(None, labelled=False, hold_images=True)
    assert str(caught.value) == "a PNG tree cannot hold raw rows: it writes each row as it comes"
    with pytest.raises(NotImplementedError) as caught, PngWriter(str(tmp_path / "t2")) as writer:
        writer.release_images(lambda rows: rows)
    assert str(caught.value) == "the png format holds no raw rows"
    assert listing(tmp_path) == []
