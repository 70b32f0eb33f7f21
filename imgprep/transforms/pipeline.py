"""Pipeline: the documented order of steps, built from options and statistics; arrays only.

Order: decode -> colour -> resize (both in ``DecodeSettings``, done by ``imgprep.io.decode``)
-> rescale -> samplewise centre -> samplewise standardize -> featurewise centre -> featurewise
standardize -> cast. It is Keras' ``ImageDataGenerator.standardize`` order, with two
documented differences: featurewise statistics come from a stats file (computed on decoded
pixels, then multiplied by the rescale factor, which equals Keras fitted on rescaled data),
and the arithmetic is done in float64 before the final cast.

Defaults follow Keras: featurewise statistics per channel, samplewise statistics over the
whole image (all channels together). ``stats_scope`` forces one scope for both.

A pipeline takes decoded pixels. Reading a pipeline from a config, a stats file or an HDF5
output, and preparing an image from a path or bytes, is ``imgprep.api``'s job.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

import numpy as np

from imgprep.config import DecodeSettings, PipelineOptions
from imgprep.errors import InputError, option
from imgprep.pixels import PixelKind, dtype_of_depth
from imgprep.transforms import functional as F
from imgprep.transforms.steps import ELEMENTWISE, STEP_TYPES, Step, WhiteningSource, build_steps

if TYPE_CHECKING:
    from imgprep.stats.file import Stats

__all__ = ["STEP_TYPES", "Pipeline", "PipelineOptions", "build_steps"]

DECODED_DTYPES = ("uint8", "uint16", "float32")  # what decoding gives (see imgprep.io.decode)
LOOKUP_DTYPES = (np.dtype("uint8"), np.dtype("uint16"))  # pixels apply_block looks up
_SLICE_BYTES = 32 << 20  # float64 working memory of one stacked slice in apply_many
_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


class Pipeline:
    """Options plus statistics, turned into concrete steps; applies them to decoded pixels.

    Build one from options (``Pipeline(options, stats)``; with ``options.zca`` also the
    ``whitening`` source of the stats' sidecar), or with ``imgprep.api`` from a config file,
    a stats file or an HDF5 output. The numbers are exactly those ``imgprep transform``
    writes.
    """

    def __init__(
        self,
        options: PipelineOptions,
        stats: Stats | None = None,
        *,
        whitening: WhiteningSource | None = None,
        fitted: bool = True,
    ) -> None:
        if fitted and options.needs_stats and stats is None:
            raise InputError(
                f"featurewise centring or standardization, {option('clip-percentiles')} or "
                f"{option('zca')}, needs statistics ({option('stats')})"
            )
        self.options = options
        self.stats = stats
        self.steps: list[Step] = build_steps(options, stats, whitening) if fitted else []
        self.expect: PixelKind | None = None  # a run's rule for every image (see expecting)
        self._tables: dict[tuple[str, int], np.ndarray] = {}  # _lookup's, per dtype, channels

    @classmethod
    def unfitted(cls, options: PipelineOptions) -> Pipeline:
        """The options' pipeline before its statistics exist (decoding and augmentation only;
        used to write raw rows while the statistics are being computed)."""
        return cls(options, fitted=False)

    @property
    def decode(self) -> DecodeSettings:
        return self.options.decode

    def output_dtype(self, decoded: np.dtype) -> str:
        if self.options.dtype != "auto":
            return self.options.dtype
        return "float32" if self.options.makes_floats else np.dtype(decoded).name

    def apply_array(self, image: np.ndarray) -> np.ndarray:
        """The steps after decoding (rescale onwards) on a decoded H x W x C array."""
        out = image
        for step in self.steps:
            out = step(out)
        return _cast(out, self.output_dtype(image.dtype))

    def apply_many(self, images: list[np.ndarray]) -> list[np.ndarray]:
        """``apply_array`` on each image, as one array operation when that is exact.

        Without samplewise steps every step is elementwise, so applying it to the stacked
        batch gives the very same numbers, with one NumPy call per step instead of one per
        image (about 40 us per 28x28 image saved). Samplewise steps (reductions over each
        image) and ZCA (a product per image) stay per image.
        """
        first = images[0] if images else None
        if first is not None and self._identity(images):
            return list(images)  # no step and no cast: the decoded arrays are the rows
        if (
            first is None
            or len(images) == 1
            or not self._elementwise
            or any(image.shape != first.shape or image.dtype != first.dtype for image in images)
        ):
            return [self.apply_array(image) for image in images]
        return list(self.apply_block(np.stack(images)))

    def apply_block(self, block: np.ndarray) -> np.ndarray:
        """``apply_array`` on each image of an N x H x W x C array, returning one: with only
        elementwise steps, one NumPy call per step and slice of the block (the in-place
        normalization of a written split runs through here without restacking images), or,
        for 8- and 16-bit pixels, one table lookup per channel (``_lookup``)."""
        if self._identity([block]):
            return block
        if not self._elementwise or len(block) < 2:
            return np.stack([self.apply_array(image) for image in block])
        if block.ndim == 4 and block.dtype in LOOKUP_DTYPES and block[..., 0].size > 4096:
            return self._lookup(block)
        return self._computed(block)

    def _lookup(self, block: np.ndarray) -> np.ndarray:
        """``_computed(block)``, read from a table of every value's result per channel.

        Elementwise steps make each output value a function of the input value and its
        channel alone, so computing them once for each of the 256 (65,536) possible values,
        through the very same float64 operations and cast (``_computed`` on a block of
        every value), gives a table whose lookups are the computed values bit for bit
        (tested on every value). 64 photos of 224 x 224 RGB, featurewise standardization:
        22 ms instead of 38-60 ms computed. (``cv2.LUT`` takes 11 ms, but uses OpenCV's
        thread pool, which a forked DataLoader worker cannot safely resize.)"""
        channels = block.shape[-1]
        table = self._tables.get((block.dtype.str, channels))
        if table is None:
            values = np.arange(np.iinfo(block.dtype).max + 1, dtype=block.dtype)
            every = np.repeat(values[:, None], channels, axis=1)[:, None, None, :]
            # (channels, values): each channel's results contiguous, as np.take reads them
            table = np.ascontiguousarray(self._computed(every)[:, 0, 0, :].T)
            self._tables[(block.dtype.str, channels)] = table
        out = np.empty(block.shape, dtype=table.dtype)
        for i in range(len(block)):  # per image: np.take's index copy stays in the cache
            for channel, column in enumerate(table):
                np.take(column, block[i, ..., channel], out=out[i, ..., channel])
        return out

    def _computed(self, block: np.ndarray) -> np.ndarray:
        """``apply_block``'s arithmetic, slice by slice, for elementwise steps."""
        out = np.empty(block.shape, dtype=self.output_dtype(block.dtype))
        per_slice = max(1, _SLICE_BYTES // max(1, block[0].size * 8))  # float64 intermediates
        # float64 in place when the output is floats; a clip alone keeps integer pixels
        in_place = (
            bool(self.steps)
            and out.dtype.kind == "f"
            and all(hasattr(s, "apply_inplace") for s in self.steps)
        )
        work = np.empty((min(per_slice, len(block)), *block.shape[1:])) if in_place else None
        for start in range(0, len(block), per_slice):
            stacked = block[start : start + per_slice]
            if work is not None:
                # The same float64 operations in one buffer: identical values, no temporaries
                # (the in-place normalization of 60,000 digits: 0.2 s less).
                stacked, part = work[: len(stacked)], stacked
                stacked[...] = part
                for step in self.steps:
                    step.apply_inplace(stacked)
            else:
                for step in self.steps:
                    stacked = step(stacked)
            if work is not None and out.dtype.kind == "f":  # float64 -> float: cast in place
                _cast_into(out[start : start + len(stacked)], stacked)
            else:
                out[start : start + len(stacked)] = _cast(stacked, out.dtype.name)
        return out

    def _identity(self, arrays: list[np.ndarray]) -> bool:
        """Whether applying the pipeline leaves every array as it is: no step, and the
        output dtype each one's own (a run to uint8 rows of 8-bit photos: 0.25 ms per 224 x
        224 RGB photo of identity lookups saved)."""
        return not self.steps and all(
            self.output_dtype(array.dtype) == array.dtype.name for array in arrays
        )

    @property
    def _elementwise(self) -> bool:
        """Whether every step acts on each value alone (no samplewise reduction, no ZCA)."""
        return all(isinstance(step, ELEMENTWISE) for step in self.steps)

    def expecting(self, kind: PixelKind | None) -> Pipeline:
        """This pipeline, refusing images that are not of ``kind`` (``input_mismatch``): a run
        sets the dtype of its first image (or its stats file's), so that every worker refuses
        an image of another depth instead of writing it on another scale."""
        if kind is None:
            return self
        pipeline = copy.copy(self)
        pipeline.expect = kind
        return pipeline

    @property
    def input_dtype(self) -> str | None:
        """The dtype of the decoded pixels this pipeline is for: a run's (``expecting``), else
        its statistics' (the numbers are on their scale), else its ``bit_depth``'s; None
        when nothing fixes it."""
        kind = self._kind()
        return kind.dtype if kind is not None else None

    def _kind(self) -> PixelKind | None:
        if self.expect is not None:
            return self.expect
        if self.stats is not None:
            return PixelKind(self.stats.dtype, None, from_stats=True)
        if self.decode.bit_depth is not None:
            return PixelKind(dtype_of_depth(self.decode.bit_depth))
        return None

    def input_mismatch(self, image: np.ndarray) -> str | None:
        """Why a decoded H x W x C ``image`` is not what this pipeline is for (another dtype
        than ``input_dtype``, or another channel count than a run requires), or None."""
        kind = self._kind()
        return kind.mismatch(image) if kind is not None else None

    def apply(self, image: Any, *, dtype_ok: bool = False) -> np.ndarray:
        """Apply the pipeline to decoded pixels: an H x W x C (or H x W) array or an
        N x H x W x C batch, in the pipeline's colour (``imgprep.prepare_image`` converts
        other colours and bit depths, and decodes paths and bytes); the resize applies, then
        the steps.

        The array's dtype must be the pipeline's ``input_dtype`` (the stats' dtype when it has
        statistics, else ``bit_depth``'s; without either, any numeric dtype): a float array on
        0-1 given to a pipeline fitted on uint8 pixels would give nonsense silently.
        ``dtype_ok=True`` says the conversion is intended and skips that check.

        Raises:
            InputError: a dtype other than the pipeline's (without ``dtype_ok``), a channel
                count other than its colour's, or a shape that is not H x W x C or
                N x H x W x C.
        """
        array = np.asarray(image)
        if array.ndim == 4:
            return np.stack([self.apply(single, dtype_ok=dtype_ok) for single in array])
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise InputError(f"expected H x W x C or N x H x W x C, got shape {array.shape}")
        wanted = _CHANNELS.get(self.decode.color)
        if wanted is not None and array.shape[-1] != wanted:
            raise InputError(
                f"Pipeline.apply: the array has {array.shape[-1]} channel(s) but this pipeline's "
                f"color is {self.decode.color} ({wanted}); convert it first, as "
                "imgprep.prepare_image does"
            )
        self.check_input(array, "the array", dtype_ok)
        return self.apply_array(self.resize(array))

    def check_input(self, array: np.ndarray, name: str, dtype_ok: bool) -> None:
        """Refuse ``array`` (named ``name`` in the message) of another dtype than the
        pipeline's input (see ``apply``), unless ``dtype_ok``."""
        if dtype_ok:
            return
        expected = self.input_dtype
        if expected is None:  # no statistics and no bit depth: any numeric array, as before
            if array.dtype.kind in "biuf":
                return
            wanted, why = " or ".join(DECODED_DTYPES), "the dtypes images decode to"
        elif array.dtype.name == expected:
            return
        elif self.expect is None and self.stats is not None:
            wanted, why = expected, "the dtype its statistics were computed on"
        elif self.expect is None:
            wanted, why = expected, f"bit_depth={self.decode.bit_depth}"
        else:
            wanted, why = expected, "the dtype of the run's images"
        raise InputError(
            f"Pipeline.apply: {name} is {array.dtype.name} but this pipeline takes {wanted} "
            f"pixels ({why}); pass {wanted} pixels as decoded, or dtype_ok=True if the "
            "conversion is intended"
        )

    def resize(self, array: np.ndarray) -> np.ndarray:
        """``array`` at the pipeline's size (itself without one), as decoding resizes."""
        if self.decode.size is None:
            return array
        return F.resize(
            array,
            size=self.decode.size,
            mode=self.decode.resize_mode,
            resample=self.decode.resample,
            pad_value=self.decode.pad_value,
            backend=self.decode.resize_backend,
        )

    def describe(self) -> dict[str, Any]:
        """Every parameter, including the concrete numbers of each step (JSON-ready)."""
        return {
            "options": self.options.to_dict(),
            "steps": [{"step": step.name, **step.params()} for step in self.steps],
        }

    def to_config(self) -> dict[str, Any]:
        """The config-file keys this pipeline was built from (defaults left out; the stats
        file is given beside it): ``imgprep.pipeline_from_config`` of a file holding them,
        with the same statistics, gives the same steps."""
        return self.options.to_config()


def _cast(image: np.ndarray, dtype: str) -> np.ndarray:
    try:
        return F.cast(image, dtype=dtype)
    except F.CastError as exc:
        raise InputError(f"{option('dtype')} {dtype}: {exc}") from None


def _cast_into(out: np.ndarray, values: np.ndarray) -> None:
    try:
        F.cast_into(out, values)
    except F.CastError as exc:
        raise InputError(f"{option('dtype')} {out.dtype.name}: {exc}") from None
