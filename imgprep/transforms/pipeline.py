"""Pipeline: the documented order of steps, built from options and statistics.

Order: decode -> colour -> resize (both in ``DecodeSettings``) -> rescale -> samplewise
centre -> samplewise standardize -> featurewise centre -> featurewise standardize -> cast.
It is Keras' ``ImageDataGenerator.standardize`` order, with two documented differences:
featurewise statistics come from a stats file (computed on decoded pixels, then multiplied
by the rescale factor, which equals Keras fitted on rescaled data), and the arithmetic is
done in float64 before the final cast.

Defaults follow Keras: featurewise statistics per channel, samplewise statistics over the
whole image (all channels together). ``stats_scope`` forces one scope for both.
"""

from __future__ import annotations

import copy
import math
import os
from dataclasses import asdict, dataclass, field
from typing import Any, ClassVar

import numpy as np
from PIL import Image

from imgprep.config import DecodeSettings
from imgprep.errors import ImgprepError, InputError
from imgprep.io.bitdepth import PixelKind, dtype_of_depth, to_bit_depth
from imgprep.io.decode import (
    decode_bytes,
    decode_image,
    decode_pil,
    image_to_array,
    replicate_gray,
)
from imgprep.io.stats_io import read_stats
from imgprep.stats.file import Stats
from imgprep.transforms import functional as F
from imgprep.values import shown as _shown

NORMALIZE_MODES = ("samplewise", "featurewise")
STATS_SCOPES = ("channel", "global")
OUTPUT_DTYPES = ("auto", "uint8", "uint16", "float16", "float32")
DECODED_DTYPES = ("uint8", "uint16", "float32")  # what decoding gives (see imgprep.io.decode)
KERAS_EPSILON = 1e-6
_SLICE_BYTES = 32 << 20  # float64 working memory of one stacked slice in apply_many


@dataclass(frozen=True)
class Rescale:
    """Multiply by ``factor``."""

    name: ClassVar[str] = "rescale"
    factor: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return F.rescale(image, factor=self.factor)

    def apply_inplace(self, work: np.ndarray) -> None:
        np.multiply(work, self.factor, out=work)


@dataclass(frozen=True)
class SamplewiseCenter:
    """Subtract the image's own mean (``global``: all channels, as Keras)."""

    name: ClassVar[str] = "samplewise_center"
    scope: str

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return F.center(image, mean=F.image_mean(image, scope=self.scope))


@dataclass(frozen=True)
class SamplewiseStandardize:
    """Divide by the image's own std + epsilon."""

    name: ClassVar[str] = "samplewise_standardize"
    scope: str
    epsilon: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        std = F.image_std(image, scope=self.scope)
        return F.standardize(image, std=std, epsilon=self.epsilon)


@dataclass(frozen=True)
class FeaturewiseCenter:
    """Subtract the dataset mean (one value, or one per channel)."""

    name: ClassVar[str] = "featurewise_center"
    mean: tuple[float, ...]

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _check_channels(image, self.mean, "mean")
        return F.center(image, mean=np.array(self.mean))

    def apply_inplace(self, work: np.ndarray) -> None:
        _check_channels(work, self.mean, "mean")
        np.subtract(work, np.array(self.mean), out=work)


@dataclass(frozen=True)
class FeaturewiseStandardize:
    """Divide by the dataset std + epsilon (one value, or one per channel)."""

    name: ClassVar[str] = "featurewise_standardize"
    std: tuple[float, ...]
    epsilon: float

    def __call__(self, image: np.ndarray) -> np.ndarray:
        _check_channels(image, self.std, "std")
        return F.standardize(image, std=np.array(self.std), epsilon=self.epsilon)

    def apply_inplace(self, work: np.ndarray) -> None:
        _check_channels(work, self.std, "std")
        np.divide(work, np.array(self.std, dtype=np.float64) + self.epsilon, out=work)


@dataclass(frozen=True)
class ZcaWhiten:
    """(x - per-pixel mean) @ W on the flattened image, W from a ``fit-stats --zca`` sidecar.

    The step records the sidecar's path and SHA-256, not the D x D matrix: each worker
    process loads and checks it once, instead of receiving it with every batch.
    """

    name: ClassVar[str] = "zca"
    sidecar: str
    sha256: str
    zca_epsilon: float
    dimension: int
    shape: tuple[int, ...] = ()

    def __call__(self, image: np.ndarray) -> np.ndarray:
        fit = self._fit()
        if tuple(image.shape) != tuple(self.shape or fit.shape):
            fitted = "x".join(str(v) for v in (self.shape or fit.shape))
            raise InputError(
                f"ZCA was fitted on {fitted} (HxWxC) images, this one is "
                f"{'x'.join(str(v) for v in image.shape)}; pass --size and --color as for fit-stats"
            )
        flat = image.reshape(-1).astype(np.float64)
        return ((flat - fit.mean) @ fit.whitening).reshape(image.shape)

    def _fit(self) -> Any:
        loaded = self.__dict__.get("_loaded")
        if loaded is None:
            from imgprep.io.zca_sidecar import read_sidecar as load_sidecar

            loaded = load_sidecar(self.sidecar, self.sha256, shape=self.shape or None)
            object.__setattr__(self, "_loaded", loaded)
        return loaded

    def __getstate__(self) -> dict[str, Any]:
        return {key: value for key, value in self.__dict__.items() if key != "_loaded"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        for key, value in state.items():
            object.__setattr__(self, key, value)


@dataclass(frozen=True)
class Cast:
    """Convert to the output dtype."""

    name: ClassVar[str] = "cast"
    dtype: str

    def __call__(self, image: np.ndarray) -> np.ndarray:
        return F.cast(image, dtype=self.dtype)


STEP_TYPES = {
    step.name: step
    for step in (
        Rescale,
        SamplewiseCenter,
        SamplewiseStandardize,
        FeaturewiseCenter,
        FeaturewiseStandardize,
        ZcaWhiten,
        Cast,
    )
}


def _check_channels(image: np.ndarray, values: tuple[float, ...], what: str) -> None:
    if len(values) not in (1, image.shape[-1]):
        raise ImgprepError(
            f"featurewise {what} has {len(values)} channel(s) but the image has "
            f"{image.shape[-1]}; compute the stats with the same --color"
        )


@dataclass(frozen=True)
class PipelineOptions:
    """What a user chooses, on the command line or in a config file.

    Attributes:
        decode: colour and resize settings.
        rescale: factor applied first, as Keras' ``rescale`` (None: none).
        center: ``samplewise``, ``featurewise`` or None.
        standardize: ``samplewise``, ``featurewise`` or None.
        stats_scope: ``channel`` or ``global`` for every statistic, or None for Keras'
            defaults (featurewise per channel, samplewise over the whole image).
        epsilon: added to every std before dividing (Keras: 1e-6).
        dtype: output dtype; ``auto`` keeps the decoded dtype when no step makes floats,
            float32 otherwise.
    """

    decode: DecodeSettings = field(default_factory=DecodeSettings)
    rescale: float | None = None
    center: str | None = None
    standardize: str | None = None
    stats_scope: str | None = None
    epsilon: float = KERAS_EPSILON
    dtype: str = "auto"
    zca: bool = False

    def __post_init__(self) -> None:
        for key, value, choices in (
            ("center", self.center, NORMALIZE_MODES),
            ("standardize", self.standardize, NORMALIZE_MODES),
            ("stats_scope", self.stats_scope, STATS_SCOPES),
        ):
            if value is not None and value not in choices:
                raise InputError(f"invalid {key} {value!r}: choose one of {', '.join(choices)}")
        if self.dtype not in OUTPUT_DTYPES:
            raise InputError(
                f"invalid dtype {self.dtype!r}: choose one of {', '.join(OUTPUT_DTYPES)}"
            )
        if self.rescale is not None and not np.isfinite(self.rescale):
            raise InputError(f"invalid rescale {self.rescale!r}: must be a finite number")
        if not self.epsilon >= 0:
            raise InputError(f"invalid epsilon {self.epsilon!r}: must be >= 0")
        if not math.isfinite(self.epsilon):  # std + inf: every pixel 0, silently
            raise InputError(f"invalid epsilon {self.epsilon!r}: must be a finite number")
        if self.zca and (self.center is not None or self.standardize is not None):
            raise InputError(
                "--zca cannot be combined with --center or --standardize: ZCA centres with its "
                "own per-pixel mean, and it was fitted on images after rescale only"
            )
        if self.makes_floats and self.dtype in ("uint8", "uint16"):
            raise InputError(
                f"--dtype {self.dtype} after rescale/centre/standardize would clip or round the "
                "values; use --dtype float32 or float16"
            )

    @property
    def makes_floats(self) -> bool:
        return (
            self.rescale is not None
            or self.center is not None
            or self.standardize is not None
            or self.zca
        )

    @property
    def featurewise(self) -> bool:
        """Whether a step centres or standardizes with dataset statistics."""
        return "featurewise" in (self.center, self.standardize)

    @property
    def needs_stats(self) -> bool:
        return self.featurewise or self.zca

    def scope(self, mode: str) -> str:
        if self.stats_scope is not None:
            return self.stats_scope
        return "channel" if mode == "featurewise" else "global"

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["decode"] = self.decode.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> PipelineOptions:
        """Inverse of ``to_dict``; the dict may come from a file someone sent (an HDF5
        ``pipeline`` attribute), so every key and type is checked and named when wrong.

        Raises:
            InputError: not an object, an unknown key, or a value of the wrong type.
        """
        if not isinstance(data, dict):
            raise InputError(f"options must be an object, not {type(data).__name__}")
        unknown = sorted(set(data) - set(cls.__dataclass_fields__))
        if unknown:
            raise InputError(f"unknown option(s) {', '.join(_shown(key) for key in unknown)}")
        values = dict(data)
        decode = values.get("decode", {})
        if not isinstance(decode, dict):
            raise InputError(f"invalid decode {_shown(decode)}: expected an object")
        values["decode"] = DecodeSettings.from_dict(decode)
        for key in ("center", "standardize", "stats_scope", "dtype"):
            if key in values and not (
                isinstance(values[key], str) or (values[key] is None and key != "dtype")
            ):
                raise InputError(f"invalid {key} {_shown(values[key])}: expected a name")
        for key in ("rescale", "epsilon"):
            if key in values and not (values[key] is None and key == "rescale"):
                values[key] = _finite(key, values[key])
        if "zca" in values and not isinstance(values["zca"], bool):
            raise InputError(f"invalid zca {_shown(values['zca'])}: expected true or false")
        return cls(**values)


class Pipeline:
    """Options plus statistics, turned into concrete steps; applies them to images.

    Build one from options (``Pipeline(options, stats)``), a config file
    (``Pipeline.from_config``) or an HDF5 output (``Pipeline.from_hdf5``), then call
    ``apply`` on a path, a PIL image, an H x W x C array or an N x H x W x C batch. The
    numbers are exactly those ``imgprep transform`` writes.
    """

    def __init__(self, options: PipelineOptions, stats: Stats | None = None) -> None:
        if options.needs_stats and stats is None:
            raise InputError(
                "featurewise centring or standardization, or --zca, needs statistics (--stats)"
            )
        self.options = options
        self.stats = stats
        self.steps = build_steps(options, stats)
        self.expect: PixelKind | None = None  # a run's rule for every image (see expecting)

    @classmethod
    def unfitted(cls, options: PipelineOptions) -> Pipeline:
        """The options' pipeline before its statistics exist (decoding and augmentation only;
        used to write raw rows while the statistics are being computed)."""
        pipeline = cls.__new__(cls)
        pipeline.options = options
        pipeline.stats = None
        pipeline.steps = []
        pipeline.expect = None
        return pipeline

    @classmethod
    def from_config(cls, path: str, stats: Stats | str | None = None) -> Pipeline:
        """From a TOML config (see ``configs/``); ``stats`` overrides the config's file."""
        return pipeline_from_config(path, stats)

    @classmethod
    def from_stats(
        cls,
        stats: Stats | str,
        *,
        rescale: float | None = None,
        center: str | None = "featurewise",
        standardize: str | None = "featurewise",
        stats_scope: str | None = None,
        epsilon: float = KERAS_EPSILON,
        dtype: str = "auto",
    ) -> Pipeline:
        """A pipeline that applies a stats file in the space it was computed in.

        Colour, size and resize settings come from the file, so new images are prepared
        exactly as the images the statistics describe; by default featurewise centring and
        standardization, as Keras' ``featurewise_center`` + ``featurewise_std_normalization``.
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
        )
        return cls(options, loaded)

    @classmethod
    def from_hdf5(cls, path: str, *, allow_external: bool = False) -> Pipeline:
        """The pipeline an ``imgprep transform`` HDF5 file was written with (for prediction).

        A file whose images read other files (external storage or links, virtual sources
        outside its folder) is refused unless ``allow_external=True``.
        """
        return pipeline_from_hdf5(path, allow_external=allow_external)

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
        normalization of a written split runs through here without restacking images)."""
        if not self._elementwise or len(block) < 2:
            return np.stack([self.apply_array(image) for image in block])
        out = np.empty(block.shape, dtype=self.output_dtype(block.dtype))
        per_slice = max(1, _SLICE_BYTES // max(1, block[0].size * 8))  # float64 intermediates
        in_place = bool(self.steps) and all(hasattr(s, "apply_inplace") for s in self.steps)
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

    @property
    def _elementwise(self) -> bool:
        """Whether every step acts on each value alone (no samplewise reduction, no ZCA)."""
        return not any(
            isinstance(s, SamplewiseCenter | SamplewiseStandardize | ZcaWhiten) for s in self.steps
        )

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
        """Apply the whole pipeline to a path, the bytes of a file, a PIL image, an H x W x C
        array or an N x H x W x C batch.

        Bit-identical results with ``transform`` need a path or the file's bytes: those are
        decoded exactly as ``transform`` decodes the file. A PIL image gets the same EXIF,
        colour, bit-depth and resize rules, but it is already opened at full scale, so a
        resized JPEG misses the JPEG draft (``jpeg_draft``) and can differ slightly.

        An array is taken as decoded pixels: the colour and bit-depth rules and the resize
        apply, then the steps. Its dtype must be the pipeline's ``input_dtype`` (the stats'
        dtype when it has statistics, else ``bit_depth``'s; without either, one of the
        dtypes decoding gives: uint8, uint16, float32): a float array on 0-1 given to a
        pipeline fitted on uint8 pixels would give nonsense silently. ``dtype_ok=True``
        says the conversion is intended and skips that check (for every kind of input).

        Raises:
            InputError: a dtype other than the pipeline's (without ``dtype_ok``), or a shape
                that is not H x W x C or N x H x W x C.
            DecodeError: a path or bytes that cannot be decoded.
        """
        if isinstance(image, str):
            return self._checked(decode_image(image, self.decode), image, dtype_ok)
        if isinstance(image, bytes | bytearray | memoryview):
            decoded = decode_bytes(bytes(image), self.decode)
            return self._checked(decoded, "the bytes given", dtype_ok)
        if isinstance(image, Image.Image):
            return self._checked(decode_pil(image, self.decode), "the PIL image", dtype_ok)
        array = np.asarray(image)
        if array.ndim == 4:
            return np.stack([self.apply(single, dtype_ok=dtype_ok) for single in array])
        if array.ndim == 2:
            array = array[:, :, None]
        if array.ndim != 3:
            raise InputError(f"expected H x W x C or N x H x W x C, got shape {array.shape}")
        array = _convert_colour(array, self.decode.color)
        if self.decode.bit_depth is not None and array.dtype in (np.uint8, np.uint16):
            array = to_bit_depth(array, self.decode.bit_depth)  # as decoding does
        self._check_dtype(array, "the array", dtype_ok)
        return self.apply_array(self._prepare(array))

    def _checked(self, decoded: np.ndarray, name: str, dtype_ok: bool) -> np.ndarray:
        self._check_dtype(decoded, name, dtype_ok)
        return self.apply_array(decoded)

    def _check_dtype(self, array: np.ndarray, name: str, dtype_ok: bool) -> None:
        """Refuse ``array`` of another dtype than the pipeline's input (see ``apply``)."""
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

    def _prepare(self, array: np.ndarray) -> np.ndarray:
        if self.decode.size is None:
            return array
        return F.resize(
            array,
            size=self.decode.size,
            mode=self.decode.resize_mode,
            resample=self.decode.resample,
            pad_value=self.decode.pad_value,
        )

    def describe(self) -> dict[str, Any]:
        """Every parameter, including the concrete numbers of each step (JSON-ready)."""
        return {
            "options": self.options.to_dict(),
            "steps": [{"step": step.name, **asdict(step)} for step in self.steps],
        }


def _cast(image: np.ndarray, dtype: str) -> np.ndarray:
    try:
        return F.cast(image, dtype=dtype)
    except F.CastError as exc:
        raise InputError(f"--dtype {dtype}: {exc}") from None


def _cast_into(out: np.ndarray, values: np.ndarray) -> None:
    try:
        F.cast_into(out, values)
    except F.CastError as exc:
        raise InputError(f"--dtype {out.dtype.name}: {exc}") from None


def build_steps(options: PipelineOptions, stats: Stats | None) -> list[Any]:
    """The concrete steps, with featurewise numbers scaled into the rescaled space."""
    steps: list[Any] = []
    factor = 1.0 if options.rescale is None else float(options.rescale)
    if options.rescale is not None:
        steps.append(Rescale(factor))
    if options.center == "samplewise":
        steps.append(SamplewiseCenter(options.scope("samplewise")))
    if options.standardize == "samplewise":
        steps.append(SamplewiseStandardize(options.scope("samplewise"), options.epsilon))
    if options.zca:
        steps.append(_zca_step(options, stats))
    if stats is not None and options.featurewise:
        if options.scope("featurewise") == "channel":
            mean, std = stats.mean, stats.std
        else:
            mean, std = np.array([stats.global_mean]), np.array([stats.global_std])
        if options.center == "featurewise":
            steps.append(FeaturewiseCenter(tuple((mean * factor).tolist())))
        if options.standardize == "featurewise":
            std_values = tuple((std * abs(factor)).tolist())
            steps.append(FeaturewiseStandardize(std_values, options.epsilon))
    return steps


def _zca_step(options: PipelineOptions, stats: Stats | None) -> ZcaWhiten:
    """The ZCA step of a stats file fitted with ``fit-stats --zca`` at the same rescale."""
    described = stats.zca if stats is not None else None
    if not described:
        raise InputError("--zca needs --stats STATS.json written by fit-stats --zca")
    fitted = float(described["rescale"])
    wanted = 1.0 if options.rescale is None else float(options.rescale)
    if not np.isclose(fitted, wanted, rtol=1e-12, atol=0):
        raise InputError(
            f"ZCA was fitted with --rescale {fitted:g}; pass the same --rescale (got {wanted:g})"
        )
    sidecar = described.get("path") or described["file"]
    if stats is not None and stats.source_path and not os.path.isabs(sidecar):
        sidecar = os.path.join(os.path.dirname(os.path.abspath(stats.source_path)), sidecar)
    return ZcaWhiten(
        sidecar=os.path.abspath(sidecar),
        sha256=str(described["sha256"]),
        zca_epsilon=float(described["zca_epsilon"]),
        dimension=int(described["dimension"]),
        shape=tuple(int(v) for v in described["shape"]),
    )


def _convert_colour(array: np.ndarray, color: str) -> np.ndarray:
    """Apply the colour rule to an already decoded array (prediction-time input)."""
    channels = array.shape[-1]
    if color == "keep":
        return array
    if array.dtype == np.uint8 and channels in (1, 2, 3, 4):
        plane = array[:, :, 0] if channels == 1 else array
        pil = Image.fromarray(np.ascontiguousarray(plane))  # L, LA, RGB or RGBA
        return image_to_array(pil, color)
    wanted = {"grayscale": 1, "rgb": 3, "rgba": 4}[color]
    if channels == wanted:
        return array
    if channels == 1:
        opaque = 1.0 if array.dtype.kind == "f" else np.iinfo(array.dtype).max
        return replicate_gray(array, color, opaque=opaque)
    raise InputError(f"cannot convert a {channels}-channel {array.dtype} array to {color}")


def options_from_mapping(data: dict[str, Any]) -> PipelineOptions:
    """PipelineOptions from config-file keys (``color``, ``resize-mode``, ``rescale``, ...).

    Raises:
        InputError: a value of the wrong type, naming the key.
    """
    from imgprep.config import parse_rescale, parse_size

    size = data.get("size")
    if isinstance(size, str):
        size = parse_size(size)
    elif isinstance(size, list | tuple):
        if len(size) != 2 or not all(isinstance(v, int) and not isinstance(v, bool) for v in size):
            raise InputError(f"invalid size {_shown(size)}: expected [width, height]")
        size = (int(size[0]), int(size[1]))
    elif size is not None:
        raise InputError(f"invalid size {_shown(size)}: expected WxH or [width, height]")
    for key in ("color", "resize-mode", "resample", "exif", "dtype"):
        if key in data and not isinstance(data[key], str):
            raise InputError(f"invalid {key} {_shown(data[key])}: expected a name")
    for key in ("jpeg-draft", "zca"):
        if key in data and not isinstance(data[key], bool):
            raise InputError(f"invalid {key} {_shown(data[key])}: expected true or false")
    decode = DecodeSettings(
        color=str(data.get("color", "keep")),
        size=size,
        resize_mode=str(data.get("resize-mode", "stretch")),
        resample=str(data.get("resample", "bilinear")),
        pad_value=_finite("pad-value", data.get("pad-value", 0)),
        exif=str(data.get("exif", "apply")),
        jpeg_draft=bool(data.get("jpeg-draft", True)),
        bit_depth=data.get("bit-depth"),  # type: ignore[arg-type]  (DecodeSettings checks it)
    )
    rescale = data.get("rescale")
    return PipelineOptions(
        decode=decode,
        rescale=None if rescale is None else parse_rescale(rescale),
        center=data.get("center"),  # type: ignore[arg-type]
        standardize=data.get("standardize"),  # type: ignore[arg-type]
        stats_scope=data.get("stats-scope"),  # type: ignore[arg-type]
        epsilon=_finite("epsilon", data.get("epsilon", KERAS_EPSILON)),
        dtype=str(data.get("dtype", "auto")),
        zca=bool(data.get("zca", False)),
    )


def _finite(key: str, value: Any) -> float:
    """A finite float from an int or float (not a bool, not text), naming ``key`` if not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"invalid {key} {_shown(value)}: expected a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows 10**400)
        number = math.inf
    if not math.isfinite(number):
        raise InputError(f"invalid {key} {_shown(value)}: must be a finite number")
    return number


def pipeline_from_config(path: str, stats: Stats | str | None = None) -> Pipeline:
    """A Pipeline from a TOML config; ``stats`` (object or path) overrides the config's.

    Both files are read bounded (``load_config``: a regular file of at most 1 MiB, its keys'
    types checked; ``read_stats``: at most 256 MiB, every number checked).
    """
    from imgprep.config import load_config

    data = load_config(path)
    source = stats if stats is not None else data.get("stats")
    if source is not None and not isinstance(source, str | os.PathLike | Stats):
        raise InputError(f"stats must be a Stats object or a file path, not {source!r}")
    loaded = read_stats(os.fspath(source)) if isinstance(source, str | os.PathLike) else source
    return Pipeline(options_from_mapping(data), loaded)


def pipeline_from_hdf5(path: str, *, allow_external: bool = False) -> Pipeline:
    """The Pipeline an ``imgprep transform`` HDF5 output was written with.

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
        raise ImgprepError(f"{where}: {exc}") from exc
    stats = Stats.from_dict(stats_data, source=path) if stats_data else None
    for step in steps:
        if step.get("step") == "zca" and stats is not None and stats.zca:
            sidecar = step.get("sidecar")
            if not isinstance(sidecar, str):
                raise ImgprepError(f"{where}: the zca step's 'sidecar' must be a path")
            chosen = _zca_sidecar_of(path, sidecar, allow_external=allow_external)
            stats.zca = {**stats.zca, "path": chosen}  # the sidecar the run used
    return Pipeline(options, stats)


def _zca_sidecar_of(path: str, recorded: str, *, allow_external: bool) -> str:
    """The ZCA sidecar of the HDF5 file ``path``, whose pipeline records ``recorded`` (the
    absolute path the run used): the file of that name beside ``path``, where a copied
    dataset keeps it; the recorded path itself only with ``allow_external`` (the file may
    come from someone else). Its SHA-256 is checked when it is loaded, either way."""
    from imgprep.io.bounded import is_bare_name, path_beside

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
