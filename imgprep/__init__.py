"""imgprep: prepare image datasets for deep learning.

Public API::

    from imgprep import compute_stats, read_stats, write_stats, DecodeSettings
    stats = compute_stats(["data/train"], settings=DecodeSettings(color="grayscale"))
    write_stats(stats, "stats.json"); read_stats("stats.json").mean  # NumPy arrays
    pipeline = imgprep.pipeline_from_hdf5("train.h5"); imgprep.prepare_image(pipeline, "new.png")
    imgprep.normalization_args(stats, "torchvision")

    # the same on a Dask cluster (pip install 'imgprep[dask]'); None starts a LocalCluster
    with imgprep.connect_dask("tcp://HOST:8786") as cluster:
        stats = compute_stats(["/shared/train"], workers=cluster)
"""

import importlib
from typing import TYPE_CHECKING, Any

from imgprep.version import __version__

# Where each public name lives. Loaded on first use (PEP 562), so that ``import imgprep``
# and the command line pay only for the modules a run needs (fit-stats never loads the
# HDF5 writer, h5py or the augmentation code): about 60 ms less start-up per command.
_EXPORTS = {
    "connect_dask": ("imgprep.run.dask", "connect"),
    "pipeline_from_config": ("imgprep.api", "pipeline_from_config"),
    "pipeline_from_hdf5": ("imgprep.api", "pipeline_from_hdf5"),
    "pipeline_from_stats": ("imgprep.api", "pipeline_from_stats"),
    "prepare_image": ("imgprep.api", "prepare_image"),
    "DecodeSettings": ("imgprep.config", "DecodeSettings"),
    "parse_size": ("imgprep.config", "parse_size"),
    "compute_stats": ("imgprep.run.stats_pass", "compute_stats"),
    "DecodeError": ("imgprep.errors", "DecodeError"),
    "ImgprepError": ("imgprep.errors", "ImgprepError"),
    "InputError": ("imgprep.errors", "InputError"),
    "StatsFileError": ("imgprep.errors", "StatsFileError"),
    "example_path": ("imgprep.examples", "example_path"),
    "normalization_args": ("imgprep.export", "normalization_args"),
    "normalization_code": ("imgprep.export", "normalization_code"),
    "decode_image": ("imgprep.io.decode", "decode_image"),
    "discover": ("imgprep.io.discover", "discover"),
    "read_stats": ("imgprep.io.stats_io", "read_stats"),
    "write_stats": ("imgprep.io.stats_io", "write_stats"),
    "MomentAccumulator": ("imgprep.stats.accumulator", "MomentAccumulator"),
    "Stats": ("imgprep.stats.file", "Stats"),
    "Pipeline": ("imgprep.transforms.pipeline", "Pipeline"),
    "PipelineOptions": ("imgprep.config", "PipelineOptions"),
}

if TYPE_CHECKING:  # the same names, for type checkers and editors
    from imgprep.api import (
        pipeline_from_config,
        pipeline_from_hdf5,
        pipeline_from_stats,
        prepare_image,
    )
    from imgprep.config import DecodeSettings, PipelineOptions, parse_size
    from imgprep.errors import DecodeError, ImgprepError, InputError, StatsFileError
    from imgprep.examples import example_path
    from imgprep.export import normalization_args, normalization_code
    from imgprep.io.decode import decode_image
    from imgprep.io.discover import discover
    from imgprep.io.stats_io import read_stats, write_stats
    from imgprep.run.dask import connect as connect_dask
    from imgprep.run.stats_pass import compute_stats
    from imgprep.stats.accumulator import MomentAccumulator
    from imgprep.stats.file import Stats
    from imgprep.transforms.pipeline import Pipeline


def __getattr__(name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(f"module 'imgprep' has no attribute {name!r}")
    if name not in _EXPORTS:  # a submodule, as ``imgprep.stats.file`` after ``import imgprep``
        try:
            return importlib.import_module(f"imgprep.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"imgprep.{name}":
                raise
            raise AttributeError(f"module 'imgprep' has no attribute {name!r}") from None
    module, attribute = _EXPORTS[name]
    value = getattr(importlib.import_module(module), attribute)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_EXPORTS])


__all__ = [
    "DecodeError",
    "DecodeSettings",
    "ImgprepError",
    "InputError",
    "MomentAccumulator",
    "Pipeline",
    "PipelineOptions",
    "Stats",
    "StatsFileError",
    "__version__",
    "compute_stats",
    "connect_dask",
    "decode_image",
    "discover",
    "example_path",
    "normalization_args",
    "normalization_code",
    "parse_size",
    "pipeline_from_config",
    "pipeline_from_hdf5",
    "pipeline_from_stats",
    "prepare_image",
    "read_stats",
    "write_stats",
]
