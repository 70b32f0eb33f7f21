"""The format registry: which format an output path asks for, what each format refuses, and
that registering a format is all it takes for ``-o NAME.SUFFIX`` to write it."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pytest

from imgprep.cli import main
from imgprep.errors import InputError
from imgprep.io.formats.base import AtomicWriter, AugmentRow, Column, temporary_beside
from imgprep.io.formats.hdf5 import Hdf5Writer
from imgprep.io.formats.png import PngWriter
from imgprep.io.formats.registry import (
    FORMATS,
    check_format,
    output_format,
    writer_class,
    writes_folder,
)
from imgprep.transforms.pipeline import PipelineOptions


@pytest.mark.parametrize(
    ("output", "expected"),
    [
        ("out.h5", "hdf5"),
        ("OUT.HDF5", "hdf5"),
        ("data/run.he5", "hdf5"),
        ("tree", "png"),
        ("mnist-1.0", "png"),  # a dot in a folder name is no suffix imgprep knows
        ("run.v2", "png"),
    ],
)
def test_the_suffix_chooses_the_format(output: str, expected: str):
    assert output_format(output) == expected


def test_a_requested_format_wins_and_an_unknown_one_names_those_there_are():
    assert output_format("out.h5", "png") == "png"
    with pytest.raises(InputError) as caught:
        output_format("out.h5", "jpeg")
    assert caught.value.for_command_line() == "invalid format 'jpeg': choose hdf5 or png"


@pytest.mark.parametrize("name", ["train.hdf", "x.txt", "a.png", "b.JPG"])
def test_a_suffix_naming_another_kind_of_file_is_refused(name: str, tmp_path: Path):
    with pytest.raises(InputError) as caught:
        output_format(str(tmp_path / name))
    assert caught.value.for_command_line() == (
        f"cannot tell what to write to {tmp_path / name}: name an HDF5 file .h5 or .hdf5, or a "
        "folder for a PNG tree (or say which with --format)"
    )
    (tmp_path / name).mkdir()  # unless it is a folder already
    assert output_format(str(tmp_path / name)) == "png"


@pytest.mark.parametrize("output", ["-", "/dev/stdout"])
def test_standard_output_is_refused(output: str):
    with pytest.raises(InputError) as caught:
        output_format(output)
    assert caught.value.for_command_line() == (
        "a dataset cannot be written to standard output (HDF5 needs a file it can seek in, a "
        "PNG tree a folder); give a file name such as out.h5"
    )


def test_each_format_says_what_it_writes():
    assert dict(FORMATS) == {"hdf5": Hdf5Writer, "png": PngWriter}
    assert (writes_folder("hdf5"), writes_folder("png")) == (False, True)
    assert writer_class("hdf5").suffixes == (".h5", ".hdf5", ".he5")


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            PipelineOptions(rescale=1 / 255),
            "a float pipeline (rescale, centre or standardize) cannot be written as PNG without "
            "clipping; write HDF5 (-o FILE.h5) instead",
        ),
        (PipelineOptions(dtype="float16"), "PNG output holds integers only, not float16"),
    ],
)
def test_png_refuses_what_it_cannot_hold_and_hdf5_holds_it(options, message: str):
    with pytest.raises(InputError) as caught:
        check_format("png", options)
    assert caught.value.for_command_line() == message
    check_format("hdf5", options)


def test_only_a_format_with_shards_can_be_written_by_dask():
    check_format("hdf5", PipelineOptions(), on_cluster=True)
    with pytest.raises(InputError) as caught:
        check_format("png", PipelineOptions(), on_cluster=True)
    assert caught.value.for_command_line() == (
        "--engine dask writes HDF5 (shards joined by virtual datasets); write a PNG tree "
        "with --engine local"
    )


class ToyWriter(AtomicWriter):
    """A format written here and nowhere else: one text line per row (path, label, the sum of
    its pixel values), renamed into place by the shared atomic finish."""

    name = "toy"
    suffixes = (".toy",)

    def __init__(self, target: str) -> None:
        self.target = target
        self._temporary = temporary_beside(target, directory=False)
        self._lines: list[str] = []
        self._finished = False

    def start_split(
        self,
        name: str | None,
        *,
        labelled: bool,
        augmentation: Sequence[Column] | None = None,
        path_bytes: int = 1,
        names: Mapping[str, str] | None = None,
        hold_images: bool = False,
    ) -> None:
        self._split = name or ""

    def write(
        self,
        images: Sequence[np.ndarray] | np.ndarray,
        rels: Sequence[str],
        labels: Sequence[int | None],
        augmentation: Sequence[AugmentRow] | None = None,
    ) -> None:
        for image, rel, label in zip(images, rels, labels, strict=True):
            self._lines.append(f"{self._split}\t{rel}\t{label}\t{int(image.sum())}")

    def end_split(self, *, skipped: list[dict[str, str]]) -> None:
        self._lines.append(f"{self._split}\tskipped {len(skipped)}")

    def finish(self, metadata: dict[str, object]) -> None:
        with open(self._temporary, "w", encoding="utf-8") as handle:
            handle.write("\n".join(self._lines) + "\n")
        self._finished = True

    def _publish(self) -> None:
        os.replace(self._temporary, self.target)

    def _discard(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self._temporary)


def test_registering_a_format_is_all_it_takes_to_write_it(
    runner, dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The proof issue 13 asks for: one class and its registry entry, no other change, and
    ``-o x.toy`` chooses it, through the command line and the transform pass."""
    monkeypatch.setitem(FORMATS, "toy", ToyWriter)
    root, arrays = dataset
    out = tmp_path / "x.toy"
    result = runner.invoke(main, ["transform", str(root), "-q", "-o", str(out)])
    assert result.exit_code == 0, result.output
    expected = [
        f"\t{rel}\t{0 if rel.startswith('cat/') else 1}\t{int(array.astype(np.int64).sum())}"
        for rel, array in sorted(arrays.items())
    ]
    assert out.read_text(encoding="utf-8").splitlines() == [*expected, "\tskipped 0"]
    assert sorted(os.listdir(tmp_path)) == ["data", "x.toy"]  # no temporary file left
    with pytest.raises(InputError) as caught:
        output_format(str(out), "jpeg")
    assert caught.value.for_command_line() == "invalid format 'jpeg': choose hdf5, png or toy"


def test_a_registered_format_gets_the_atomic_finish(
    runner, dataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """A run that stops on a bad file leaves neither the output nor its temporary file."""
    monkeypatch.setitem(FORMATS, "toy", ToyWriter)
    root, _ = dataset
    (root / "dog" / "zz.png").write_bytes(b"not a png")
    result = runner.invoke(main, ["transform", str(root), "-q", "-o", str(tmp_path / "x.toy")])
    assert result.exit_code == 1
    assert result.stderr == (
        f"Error: {root / 'dog' / 'zz.png'}: not an image imgprep reads (it reads PNG, JPEG, "
        "BMP, GIF, TIFF, WebP or PPM/PGM/PBM)\n"
    )
    assert sorted(os.listdir(tmp_path)) == ["data"]


def test_a_module_that_lists_its_writer_is_found_without_any_other_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """``discover`` reads ``WRITERS`` from every module of the package: a new format is that
    one module (here a package made on the fly holding one format module and a helper)."""
    import importlib

    from imgprep.io.formats.registry import discover

    package = tmp_path / "toy_formats"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text("VALUE = 1  # no WRITERS: not a format\n")
    (package / "toy.py").write_text(
        "from imgprep.io.formats.base import AtomicWriter\n\n"
        "class ToyWriter(AtomicWriter):\n"
        "    name = 'toy'\n"
        "    suffixes = ('.toy',)\n\n"
        "WRITERS = (ToyWriter,)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = discover(importlib.import_module("toy_formats"))
    assert list(found) == ["toy"] and found["toy"].suffixes == (".toy",)
    assert list(FORMATS) == ["hdf5", "png"]  # this package's own, found the same way
