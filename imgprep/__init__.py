"""imgprep: prepare image datasets for deep learning.

Public API::

    from imgprep import Stats, compute_stats, discover, decode_image, DecodeSettings
    stats = compute_stats(["data/train"], settings=DecodeSettings(color="grayscale"))
    stats.save("stats.json"); Stats.load("stats.json").mean  # NumPy arrays
    pipeline = imgprep.Pipeline.from_hdf5("train.h5"); pipeline.apply("new.png")
    imgprep.normalization_args(stats, "torchvision")

    # the same on a Dask cluster (pip install 'imgprep[dask]'); None starts a LocalCluster
    with imgprep.connect_dask("tcp://HOST:8786") as cluster:
        stats = compute_stats(["/shared/train"], workers=cluster)
"""

__version__ = "0.1.0"

from imgprep.cluster import connect as connect_dask
from imgprep.config import DecodeSettings, parse_size
from imgprep.engine import compute_stats
from imgprep.errors import DecodeError, ImgprepError, InputError, StatsFileError
from imgprep.examples import example_path
from imgprep.export import normalization_args, normalization_code
from imgprep.io.decode import decode_image
from imgprep.io.discover import discover
from imgprep.stats import MomentAccumulator
from imgprep.stats_file import Stats
from imgprep.transforms.pipeline import Pipeline, PipelineOptions

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
]
