"""Options as frozen, validated dataclasses (their TOML parser is ``config_file.py``).

``DecodeSettings`` is the pre-processing that defines the space images and statistics live
in: statistics are only meaningful for the images they were computed on (the same colour
conversion, the same size, the same resize rule). It is frozen, validated when built (never
halfway through a run), written into every stats file, and compared by later runs so that a
mismatch is refused instead of silently applied. ``PipelineOptions`` adds what a user chooses
after decoding (rescale, centre, standardize, ZCA, dtype).

A TOML config is read by ``config_file.load_config`` (keys and their TOML types checked)
and turned into ``PipelineOptions`` by ``config_file.pipeline_options``, the one mapping from
config keys to options, used by ``imgprep transform --config`` and
``imgprep.pipeline_from_config`` alike; ``PipelineOptions.to_config`` is its inverse.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from imgprep.errors import InputError, option
from imgprep.values import shown

COLOR_MODES = ("keep", "grayscale", "rgb", "rgba")
RESIZE_MODES = ("stretch", "fit", "fill")
RESAMPLE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box")
EXIF_MODES = ("apply", "ignore")
BIT_DEPTHS = (8, 16)  # --bit-depth: what integer images are scaled to (imgprep.io.bitdepth)

MAX_OUTPUT_PIXELS = 89_478_485  # Pillow's decompression-bomb limit, for outputs too
_SIZE_RE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """Parse ``WxH`` (width first, as Pillow and ImageMagick) into ``(width, height)``.

    Note that Keras' ``target_size`` is ``(height, width)``: ``--size 32x64`` is Keras'
    ``target_size=(64, 32)``.
    """
    match = _SIZE_RE.match(text)
    if not match:
        raise InputError(f"invalid size {text!r}: expected WIDTHxHEIGHT, for example 224x224")
    width, height = int(match.group(1)), int(match.group(2))
    if width < 1 or height < 1:
        raise InputError(f"invalid size {text!r}: width and height must be at least 1")
    return width, height


@dataclass(frozen=True)
class DecodeSettings:
    """How a file becomes an H x W x C array.

    Attributes:
        color: ``keep`` (the file's own channels: L, LA, RGB or RGBA; 16-bit and float
            grayscale stay single-channel), ``grayscale`` (Pillow's ITU-R 601-2 luma, as
            Keras), ``rgb`` or ``rgba``. Default ``keep``, so MNIST stays one channel.
        size: ``(width, height)`` to resize to, or None to keep each image's size.
        resize_mode: ``stretch`` (ignore aspect ratio, as Keras), ``fit`` (keep aspect ratio,
            pad with ``pad_value``) or ``fill`` (keep aspect ratio, centre-crop).
        resample: Pillow filter. Pillow antialiases when shrinking with every filter but
            ``nearest``. Default ``bilinear``; Keras' ``load_img`` uses ``nearest``.
        pad_value: value of the padding in ``fit`` mode, in every channel.
        exif: ``apply`` rotates/flips JPEG/TIFF/WebP photos as their EXIF orientation says
            (as a viewer shows them); ``ignore`` keeps the stored pixel order, as Keras.
        jpeg_draft: when resizing a JPEG down, let libjpeg decode it at a reduced scale
            (1/2, 1/4 or 1/8) that still leaves at least twice the pixels the resize needs
            (Pillow's ``thumbnail`` uses the same margin), then resize. Much faster for
            photos; the result differs from a full decode + resize by about one grey level
            on average (see the README). Only applies with ``size``.
        bit_depth: None (the default) keeps each image's depth, and a run refuses images of
            another dtype than its first; 8 or 16 converts every integer image exactly to
            that depth (16 to 8: ``round(v / 257)``; 8 to 16: ``v * 257``) after the mode
            rules and before resizing, so a folder of mixed depths gives one scale. Float
            images are refused with it (see ``imgprep.io.bitdepth``). Part of the space:
            statistics computed with one value are refused by runs with another.
    """

    color: str = "keep"
    size: tuple[int, int] | None = None
    resize_mode: str = "stretch"
    resample: str = "bilinear"
    pad_value: float = 0
    exif: str = "apply"
    jpeg_draft: bool = True
    bit_depth: int | None = None

    def __post_init__(self) -> None:
        _check_choice("color", self.color, COLOR_MODES)
        _check_choice("resize_mode", self.resize_mode, RESIZE_MODES)
        _check_choice("resample", self.resample, RESAMPLE_FILTERS)
        _check_choice("exif", self.exif, EXIF_MODES)
        if self.size is not None:
            if len(self.size) != 2 or min(self.size) < 1:
                raise InputError(f"invalid size {self.size!r}: expected (width, height) >= 1")
            object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))
            if self.size[0] * self.size[1] > MAX_OUTPUT_PIXELS:
                raise InputError(
                    f"size {self.size[0]}x{self.size[1]} is above the limit of "
                    f"{MAX_OUTPUT_PIXELS:,} pixels per image"
                )
        pad = float(self.pad_value)
        if not math.isfinite(pad):
            raise InputError(f"invalid pad_value {self.pad_value!r}: must be a finite number")
        object.__setattr__(self, "pad_value", int(pad) if pad.is_integer() else pad)
        if self.bit_depth is not None and (
            isinstance(self.bit_depth, bool) or self.bit_depth not in BIT_DEPTHS
        ):
            raise InputError(f"invalid bit_depth {self.bit_depth!r}: choose 8 or 16")

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict; ``size`` is ``[width, height]`` or null. ``bit_depth`` is
        written only when set, so files of runs without it keep their bytes."""
        data = asdict(self)
        data["size"] = list(self.size) if self.size is not None else None
        if self.bit_depth is None:
            del data["bit_depth"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DecodeSettings:
        """Inverse of ``to_dict``; unknown keys are an error that names them."""
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise InputError(f"unknown decode setting(s) {', '.join(unknown)}")
        values = dict(data)
        size = values.get("size")
        if size is not None:
            if not isinstance(size, list | tuple) or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in size
            ):
                raise InputError(f"invalid size {size!r}: expected [width, height]")
            values["size"] = tuple(size)
        for key in ("color", "resize_mode", "resample", "exif"):
            if key in values and not isinstance(values[key], str):
                raise InputError(f"invalid {key} {values[key]!r}")
        depth = values.get("bit_depth")
        if depth is not None and (isinstance(depth, bool) or not isinstance(depth, int)):
            raise InputError(f"invalid bit_depth {depth!r}: choose 8 or 16")
        if "pad_value" in values and (
            isinstance(values["pad_value"], bool)
            or not isinstance(values["pad_value"], int | float)
        ):
            raise InputError(f"invalid pad_value {values['pad_value']!r}: expected a number")
        return cls(**values)

    def space(self) -> dict[str, Any]:
        """The settings that change pixels: what two sets of statistics must share.

        The resize filter, mode and JPEG drafting matter only with a size, the pad value
        only in ``fit`` mode; other values are recorded but never make two runs differ.
        """
        space: dict[str, Any] = {"color": self.color, "exif": self.exif, "size": self.size}
        if self.bit_depth is not None:
            space["bit_depth"] = self.bit_depth
        if self.size is not None:
            space.update(
                resize_mode=self.resize_mode, resample=self.resample, jpeg_draft=self.jpeg_draft
            )
            if self.resize_mode == "fit":
                space["pad_value"] = self.pad_value
        return space

    def same_space(self, other: DecodeSettings) -> bool:
        """Whether images decoded with ``other`` are identical to images decoded with this."""
        return self.space() == other.space()

    def describe(self) -> str:
        """One line for messages: ``color=keep size=28x28 resize_mode=stretch ...``."""
        size = f"{self.size[0]}x{self.size[1]}" if self.size else "original"
        depth = f" bit_depth={self.bit_depth}" if self.bit_depth is not None else ""
        return (
            f"color={self.color} size={size} resize_mode={self.resize_mode} "
            f"resample={self.resample} pad_value={self.pad_value} exif={self.exif} "
            f"jpeg_draft={self.jpeg_draft}{depth}"
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"invalid {name} {value!r}: choose one of {', '.join(choices)}")


NORMALIZE_MODES = ("samplewise", "featurewise")
STATS_SCOPES = ("channel", "global")
OUTPUT_DTYPES = ("auto", "uint8", "uint16", "float16", "float32")
KERAS_EPSILON = 1e-6


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
        zca: ZCA-whiten with the matrix of the statistics (``fit-stats --zca``).
        clip_percentiles: (LO, HI): clip each channel to the training set's exact LO-th and
            HI-th percentiles before anything else (robust normalization); featurewise
            statistics are then those of the clipped pixels.
    """

    decode: DecodeSettings = field(default_factory=DecodeSettings)
    rescale: float | None = None
    center: str | None = None
    standardize: str | None = None
    stats_scope: str | None = None
    epsilon: float = KERAS_EPSILON
    dtype: str = "auto"
    zca: bool = False
    clip_percentiles: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        if self.clip_percentiles is not None:
            object.__setattr__(self, "clip_percentiles", parse_clip(self.clip_percentiles))
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
        if self.rescale is not None and not math.isfinite(self.rescale):
            raise InputError(f"invalid rescale {self.rescale!r}: must be a finite number")
        if not self.epsilon >= 0:
            raise InputError(f"invalid epsilon {self.epsilon!r}: must be >= 0")
        if not math.isfinite(self.epsilon):  # std + inf: every pixel 0, silently
            raise InputError(f"invalid epsilon {self.epsilon!r}: must be a finite number")
        if self.zca and (self.center is not None or self.standardize is not None):
            raise InputError(
                f"{option('zca')} cannot be combined with {option('center')} "
                f"or {option('standardize')}: ZCA centres with its "
                "own per-pixel mean, and it was fitted on images after rescale only"
            )
        if self.zca and self.clip_percentiles is not None:
            raise InputError(
                f"{option('clip-percentiles')} cannot be combined with {option('zca')}: "
                "the ZCA fit is of unclipped pixels"
            )
        if self.makes_floats and self.dtype in ("uint8", "uint16"):
            raise InputError(
                f"{option('dtype')} {self.dtype} after "
                f"rescale/centre/standardize would clip or round the "
                f"values; use {option('dtype')} float32 or float16"
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
        return self.featurewise or self.zca or self.clip_percentiles is not None

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
            raise InputError(f"unknown option(s) {', '.join(shown(key) for key in unknown)}")
        values = dict(data)
        decode = values.get("decode", {})
        if not isinstance(decode, dict):
            raise InputError(f"invalid decode {shown(decode)}: expected an object")
        values["decode"] = DecodeSettings.from_dict(decode)
        for key in ("center", "standardize", "stats_scope", "dtype"):
            if key in values and not (
                isinstance(values[key], str) or (values[key] is None and key != "dtype")
            ):
                raise InputError(f"invalid {key} {shown(values[key])}: expected a name")
        for key in ("rescale", "epsilon"):
            if key in values and not (values[key] is None and key == "rescale"):
                values[key] = finite(key, values[key])
        if "zca" in values and not isinstance(values["zca"], bool):
            raise InputError(f"invalid zca {shown(values['zca'])}: expected true or false")
        if values.get("clip_percentiles") is not None:
            values["clip_percentiles"] = parse_clip(values["clip_percentiles"])
        return cls(**values)

    @classmethod
    def from_fields(cls, values: Mapping[str, Any]) -> PipelineOptions:
        """The options from field values by name, decode settings' among them (missing ones
        take the defaults)."""
        decode = {k: v for k, v in values.items() if k in DecodeSettings.__dataclass_fields__}
        others = {k: v for k, v in values.items() if k not in decode}
        return cls(decode=DecodeSettings(**decode), **others)

    def to_config(self) -> dict[str, Any]:
        """The config-file keys that give these options, defaults left out (TOML-ready: no
        None): ``pipeline_options(options.to_config()) == options``."""
        values, defaults = _option_values(self), _option_values(PipelineOptions())
        config = {}
        for key, name in OPTION_OF_KEY.items():
            if values[name] != defaults[name]:
                value = values[name]
                config[key] = list(value) if isinstance(value, tuple) else value
        return config


def _option_values(options: PipelineOptions) -> dict[str, Any]:
    """Every option by field name, the decode settings' beside the others."""
    top = {name: getattr(options, name) for name in options.__dataclass_fields__}
    return {**top, **asdict(options.decode)}


# The config-file key of each option (the ``transform`` option names without ``--``).
OPTION_OF_KEY = {
    "color": "color", "size": "size", "resize-mode": "resize_mode", "resample": "resample",
    "pad-value": "pad_value", "exif": "exif", "jpeg-draft": "jpeg_draft",
    "bit-depth": "bit_depth", "rescale": "rescale", "center": "center",
    "standardize": "standardize", "stats-scope": "stats_scope", "epsilon": "epsilon",
    "dtype": "dtype", "zca": "zca", "clip-percentiles": "clip_percentiles",
}  # fmt: skip


def parse_clip(value: object) -> tuple[float, float]:
    """``"2,98"``, ``[2, 98]`` -> (2.0, 98.0): two percentiles, 0 <= LO < HI <= 100."""
    parts = value.split(",") if isinstance(value, str) else value
    try:
        low, high = (float(v) for v in parts if not isinstance(v, bool))  # type: ignore[union-attr]
    except (TypeError, ValueError):
        raise InputError(f"invalid clip_percentiles {shown(value)}: expected LO,HI") from None
    if not 0 <= low < high <= 100:  # NaN fails too
        raise InputError(f"invalid clip_percentiles {shown(value)}: expected 0 <= LO < HI <= 100")
    return low, high


def parse_rescale(value: object) -> float:
    """A number or a fraction such as ``1/255`` (as Keras users write it)."""
    if isinstance(value, bool):
        raise InputError(f"invalid rescale {value!r}: expected a number such as 1/255")
    if isinstance(value, int | float):
        return float(value)
    text = str(value).strip()
    try:
        if "/" in text:
            numerator, denominator = text.split("/", 1)
            return float(numerator) / float(denominator)
        return float(text)
    except (ValueError, ZeroDivisionError) as exc:
        raise InputError(f"invalid rescale {value!r}: expected a number such as 1/255") from exc


def finite(key: str, value: Any) -> float:
    """A finite float from an int or float (not a bool, not text), naming ``key`` if not."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(f"invalid {key} {shown(value)}: expected a number")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond float range (JSON allows 10**400)
        number = math.inf
    if not math.isfinite(number):
        raise InputError(f"invalid {key} {shown(value)}: must be a finite number")
    return number
