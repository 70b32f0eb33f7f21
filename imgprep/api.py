"""The file-facing public API: load a pipeline, prepare an image for it.

``imgprep.transforms`` works on arrays only; this module is where files come in: a TOML
config (``pipeline_from_config``), a stats file (``pipeline_from_stats``), an HDF5 output of
``imgprep transform`` (``pipeline_from_hdf5``), and an image as a path, bytes, a PIL image or
an array (``prepare_image``), decoded exactly as ``transform`` decodes files. The ZCA sidecar
a pipeline whitens with is read here too (``zca_whitening``), lazily, by the process that
applies the step.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from PIL import Image

from imgprep.config import KERAS_EPSILON, PipelineOptions
from imgprep.config_file import load_config, pipeline_options
from imgprep.errors import ImgprepError, InputError
from imgprep.io.bitdepth import to_bit_depth
from imgprep.io.bounded import path_beside
from imgprep.io.colour import array_in_colour
from imgprep.io.decode import decode_bytes, decode_image, decode_pil
from imgprep.io.stats_io import read_stats
from imgprep.stats.file import Stats
from imgprep.transforms.pipeline import Pipeline
from imgprep.transforms.steps import Whitening


class SidecarWhitening:
    """A ZCA sidecar, loaded and checked against its SHA-256 on first use in a process.

    It travels with a pipeline as its path and checksum only (the loaded D x D matrix is not
    pickled: 75 MB for 32 x 32 x 3 images), so each worker process reads the file itself.
    """

    def __init__(self, path: str, sha256: str, shape: tuple[int, ...] | None) -> None:
        self.path = path
        self.sha256 = sha256
        self.shape = shape
        self._loaded: Whitening | None = None

    def load(self) -> Whitening:
        if self._loaded is None:
            from imgprep.io.zca_sidecar import read_sidecar

            self._loaded = read_sidecar(self.path, self.sha256, shape=self.shape)
        return self._loaded

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_loaded": None}


def zca_whitening(stats: Stats | None, sidecar: str | None = None) -> SidecarWhitening | None:
    """The whitening source of a stats file fitted with ``fit-stats --zca`` (None without).

    The sidecar is ``sidecar`` when given (the one beside an HDF5 output), else the one the
    stats name: only beside the stats file they were read from (``path_beside``), or as named
    for statistics built in Python.
    """
    described = stats.zca if stats is not None else None
    if not described:
        return None
    assert stats is not None
    path = sidecar
    if path is None and stats.source_path:  # the name a file recorded: only beside that file
        path = path_beside(stats.source_path, described["file"], what="ZCA sidecar")
    elif path is None:  # statistics built in Python: the caller's own name
        path = described["file"]
    shape = tuple(int(v) for v in described["shape"])
    return SidecarWhitening(os.path.abspath(path), str(described["sha256"]), shape or None)


def fitted_pipeline(options: PipelineOptions, stats: Stats | None) -> Pipeline:
    """``Pipeline(options, stats)`` with the ZCA sidecar of ``stats`` when it whitens."""
    whitening = zca_whitening(stats) if options.zca else None
    return Pipeline(options, stats, whitening=whitening)


def pipeline_from_config(path: str, stats: Stats | str | None = None) -> Pipeline:
    """A Pipeline from a TOML config; ``stats`` (object or path) overrides the config's.

    Both files are read bounded (``load_config``: a regular file of at most 1 MiB, its keys'
    types checked; ``read_stats``: at most 256 MiB, every number checked).
    """
    data = load_config(path)
    source = stats if stats is not None else data.get("stats")
    if source is not None and not isinstance(source, str | os.PathLike | Stats):
        raise InputError(f"stats must be a Stats object or a file path, not {source!r}")
    loaded = read_stats(os.fspath(source)) if isinstance(source, str | os.PathLike) else source
    return fitted_pipeline(pipeline_options(data, source=path), loaded)


def pipeline_from_stats(
    stats: Stats | str,
    *,
    rescale: float | None = None,
    center: str | None = "featurewise",
    standardize: str | None = "featurewise",
    stats_scope: str | None = None,
    epsilon: float = KERAS_EPSILON,
    dtype: str = "auto",
    clip_percentiles: tuple[float, float] | None = None,
) -> Pipeline:
    """A pipeline that applies a stats file in the space it was computed in.

    Colour, size and resize settings come from the file, so new images are prepared
    exactly as the images the statistics describe; by default featurewise centring and
    standardization, as Keras' ``featurewise_center`` + ``featurewise_std_normalization``.
    ``clip_percentiles=(2, 98)`` clips each channel to those exact percentiles of the
    statistics' pixels first (and the featurewise numbers become the clipped pixels').
    """
    loaded = read_stats(stats) if isinstance(stats, str) else stats
    options = PipelineOptions(
        decode=loaded.settings,
        rescale=rescale,
        center=center,
        standardize=standardize,
        stats_scope=stats_scope,
        epsilon=epsilon,
        dtype=dtype,
        clip_percentiles=clip_percentiles,
    )
    return Pipeline(options, loaded)


def pipeline_from_hdf5(path: str, *, allow_external: bool = False) -> Pipeline:
    """The Pipeline an ``imgprep transform`` HDF5 output was written with (for prediction).

    The file may come from someone else: it is opened under the rules of
    ``imgprep.io.formats.hdf5_reader`` (its images must not point outside it unless
    ``allow_external``), and its ``pipeline`` and ``stats`` attributes are checked key by key;
    anything wrong is one ``ImgprepError`` line naming the file and the attribute.
    """
    from imgprep.io.formats.hdf5_reader import check_file, open_hdf5, read_json_attribute

    check_file(path, allow_external=allow_external)
    with open_hdf5(path) as handle:
        described = read_json_attribute(handle, path, "pipeline")
        stats_data = read_json_attribute(handle, path, "stats")
    if described is None:
        raise InputError(f"{path}: not an imgprep transform output (no 'pipeline' attribute)")
    where = f"{path}: attribute 'pipeline'"
    if not isinstance(described, dict):
        raise ImgprepError(f"{where} is not an object (it is a {type(described).__name__})")
    if "options" not in described:
        raise ImgprepError(f"{where} has no 'options'; not an imgprep transform output")
    steps = described.get("steps", [])
    if not isinstance(steps, list) or not all(isinstance(step, dict) for step in steps):
        raise ImgprepError(f"{where}: 'steps' must be a list of objects")
    if stats_data is not None and not isinstance(stats_data, dict):
        raise ImgprepError(f"{path}: attribute 'stats' is not an object")
    try:
        options = PipelineOptions.from_dict(described["options"])
    except InputError as exc:
        raise ImgprepError(f"{where}: {exc.marked}") from exc
    stats = Stats.from_dict(stats_data, source=path) if stats_data else None
    chosen = None
    for step in steps:
        if step.get("step") == "zca" and stats is not None and stats.zca:
            sidecar = step.get("sidecar")
            if not isinstance(sidecar, str):
                raise ImgprepError(f"{where}: the zca step's 'sidecar' must be a path")
            chosen = _zca_sidecar_of(path, sidecar, allow_external=allow_external)
    whitening = zca_whitening(stats, chosen) if options.zca else None
    return Pipeline(options, stats, whitening=whitening)


def _zca_sidecar_of(path: str, recorded: str, *, allow_external: bool) -> str:
    """The ZCA sidecar of the HDF5 file ``path``, whose pipeline records ``recorded`` (the
    absolute path the run used): the file of that name beside ``path``, where a copied
    dataset keeps it; the recorded path itself only with ``allow_external`` (the file may
    come from someone else). Its SHA-256 is checked when it is loaded, either way."""
    from imgprep.io.bounded import is_bare_name

    name = os.path.basename(recorded)
    beside = path_beside(path, name, what="ZCA sidecar") if is_bare_name(name) else ""
    if beside and os.path.isfile(beside):
        return beside
    if allow_external:
        return recorded
    raise ImgprepError(
        f"{path}: its ZCA sidecar {recorded} is not beside it; copy {name} next to {path}, "
        "or pass allow_external=True if you trust the file"
    )


def prepare_image(pipeline: Pipeline, source: Any, *, dtype_ok: bool = False) -> np.ndarray:
    """``pipeline`` applied to a path, the bytes of a file, a PIL image, an H x W x C array
    or an N x H x W x C batch.

    Bit-identical results with ``transform`` need a path or the file's bytes: those are
    decoded exactly as ``transform`` decodes the file. A PIL image gets the same EXIF,
    colour, bit-depth and resize rules, but it is already opened at full scale, so a
    resized JPEG misses the JPEG draft (``jpeg_draft``) and can differ slightly.

    An array is taken as decoded pixels: the colour and bit-depth rules and the resize
    apply, then the steps. Its dtype must be the pipeline's ``input_dtype`` (see
    ``Pipeline.apply``); ``dtype_ok=True`` says the conversion is intended and skips that
    check (for every kind of input).

    Raises:
        InputError: a dtype other than the pipeline's (without ``dtype_ok``), or a shape
            that is not H x W x C or N x H x W x C.
        DecodeError: a path or bytes that cannot be decoded.
    """
    settings = pipeline.decode
    if isinstance(source, str | os.PathLike):
        name = os.fspath(source)
        return _decoded(pipeline, decode_image(name, settings), name, dtype_ok)
    if isinstance(source, bytes | bytearray | memoryview):
        decoded = decode_bytes(bytes(source), settings)
        return _decoded(pipeline, decoded, "the bytes given", dtype_ok)
    if isinstance(source, Image.Image):
        return _decoded(pipeline, decode_pil(source, settings), "the PIL image", dtype_ok)
    array = np.asarray(source)
    if array.ndim == 4:
        return np.stack([prepare_image(pipeline, one, dtype_ok=dtype_ok) for one in array])
    if array.ndim == 2:
        array = array[:, :, None]
    if array.ndim != 3:
        raise InputError(f"expected H x W x C or N x H x W x C, got shape {array.shape}")
    array = array_in_colour(array, settings.color)  # the colour rule of decoding
    if settings.bit_depth is not None and array.dtype in (np.uint8, np.uint16):
        array = to_bit_depth(array, settings.bit_depth)  # as decoding does
    return pipeline.apply(array, dtype_ok=dtype_ok)


def _decoded(pipeline: Pipeline, decoded: np.ndarray, name: str, dtype_ok: bool) -> np.ndarray:
    pipeline.check_input(decoded, name, dtype_ok)
    return pipeline.apply_array(decoded)
