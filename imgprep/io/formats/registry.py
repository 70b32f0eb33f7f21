"""The output formats by name, and which one an output path asks for.

A format is a writer class (``base.Writer``: its ``name``, the ``suffixes`` that choose it,
whether it writes a folder, whether a Dask run can write it, and what rows it refuses).
Adding one is a module in this package that lists its writer in ``WRITERS`` (found here by
``discover``, as ``hdf5.py`` and ``png.py`` are); the command line's ``--format`` choices,
the format a path implies and the checks before a run all read the registry.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from types import ModuleType

from imgprep.errors import InputError, option
from imgprep.io import formats
from imgprep.io.decoded_formats import IMAGE_EXTENSIONS
from imgprep.io.formats.base import OutputOptions, RowKind, Writer


def discover(package: ModuleType = formats) -> dict[str, type[Writer]]:
    """The writers every module of ``package`` lists in ``WRITERS``, by name, in name order
    (so the choices a message lists do not depend on the order modules were written)."""
    found: dict[str, type[Writer]] = {}
    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{package.__name__}.{info.name}")
        for writer in getattr(module, "WRITERS", ()):
            if writer.name in found:  # a programming error: two formats of one name
                raise RuntimeError(f"two output formats are named {writer.name!r}")
            found[writer.name] = writer
    return dict(sorted(found.items()))


FORMATS: dict[str, type[Writer]] = discover()
DEFAULT_FORMAT = "png"  # what an output path that names no file gets: a folder (a PNG tree)

# Suffixes that name a file, not a folder: ``-o`` ending so is refused rather than written as
# a PNG folder of that name (``-o train.hdf``, ``-o x.txt``); any other name is a folder
# (``-o mnist-1.0``, ``-o run.v2``).
FILE_SUFFIXES = frozenset(
    {
        ".hdf", ".hdf4", ".nc", ".json", ".txt", ".csv", ".tsv", ".npy", ".npz",
        ".zip", ".tar", ".gz", ".tgz", ".bz2", ".xz", ".zst", ".toml", ".yaml", ".yml",
        ".pkl", ".pickle", ".pt", ".pth", ".tfrecord", ".parquet", ".arrow", ".lmdb", ".db",
        ".sqlite", ".mat", ".bin", ".dat",
    }
)  # fmt: skip


def writer_class(fmt: str) -> type[Writer]:
    """The writer of format ``fmt``, or one line naming the formats there are."""
    found = FORMATS.get(fmt)
    if found is None:
        names = list(FORMATS)
        choices = " or ".join([", ".join(names[:-1]), names[-1]] if len(names) > 1 else names)
        raise InputError(f"invalid format {fmt!r}: choose {choices}")
    return found


def open_writer(fmt: str, target: str, options: OutputOptions) -> Writer:
    """A writer of format ``fmt`` for ``target``, to be used as a context manager."""
    return writer_class(fmt).open(target, options)


def writes_folder(fmt: str) -> bool:
    """Whether format ``fmt`` writes a folder (a PNG tree) rather than one file."""
    return writer_class(fmt).folder


def format_named_by(output: str) -> str | None:
    """The format whose suffix ``output`` ends with (any case), if any."""
    lowered = output.lower()
    for name, writer in FORMATS.items():
        if writer.suffixes and lowered.endswith(writer.suffixes):
            return name
    return None


def output_format(output: str, requested: str | None = None) -> str:
    """``requested`` when given, else the format whose suffix ``output`` has (.h5, .hdf5,
    .he5: HDF5, as inspect reads it), else ``DEFAULT_FORMAT`` (a folder); a suffix that names
    another kind of file (``FILE_SUFFIXES`` and the image formats' own: ``train.hdf``,
    ``x.txt``, ``a.png``) is refused rather than silently written as a PNG folder of that
    name, unless that folder exists already."""
    if requested:
        writer_class(requested)
        return requested
    if output in ("-", "/dev/stdout"):
        raise InputError(
            "a dataset cannot be written to standard output (HDF5 needs a file it can seek "
            "in, a PNG tree a folder); give a file name such as out.h5"
        )
    named = format_named_by(output)
    if named is not None:
        return named
    suffix = os.path.splitext(os.path.basename(os.path.normpath(output)))[1].lower()
    named_file = suffix in FILE_SUFFIXES or suffix in IMAGE_EXTENSIONS
    if named_file and not os.path.isdir(output):
        raise InputError(
            f"cannot tell what to write to {output}: name an HDF5 file .h5 or .hdf5, or a "
            f"folder for a PNG tree (or say which with {option('format')})"
        )
    return DEFAULT_FORMAT


def check_format(fmt: str, pipeline: RowKind, *, on_cluster: bool = False) -> None:
    """Refuse, before any work, a pipeline the output format cannot hold exactly, and a
    format a Dask run cannot write (it writes HDF5 shards joined by a main file)."""
    writer = writer_class(fmt)
    if on_cluster and not writer.shards:
        raise InputError(
            f"{option('engine')} dask writes HDF5 (shards "
            f"joined by virtual datasets); write a PNG tree "
            f"with {option('engine')} local"
        )
    writer.check_pipeline(pipeline)
