"""Options as frozen, validated dataclasses (their TOML parser is ``config_file.py``).

``DecodeSettings`` (``imgprep.decode_settings``, re-exported here) is the pre-processing
that defines the space images and statistics live in. ``PipelineOptions`` adds what a user
chooses after decoding (rescale, centre, standardize, ZCA, dtype).

A TOML config is read by ``config_file.load_config`` (keys and their TOML types checked)
and turned into ``PipelineOptions`` by ``config_file.pipeline_options``, the one mapping from
config keys to options, used by ``imgprep transform --config`` and
``imgprep.pipeline_from_config`` alike; ``PipelineOptions.to_config`` is its inverse.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from imgprep.decode_settings import (  # noqa: F401 (re-exported: every option in one place)
    BIT_DEPTHS,
    COLOR_MODES,
    EXIF_MODES,
    MAX_OUTPUT_PIXELS,
    RESAMPLE_FILTERS,
    RESIZE_BACKENDS,
    RESIZE_MODES,
    DecodeSettings,
    parse_size,
)
from imgprep.errors import InputError, option
from imgprep.values import shown

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
    "bit-depth": "bit_depth", "resize-backend": "resize_backend", "rescale": "rescale",
    "center": "center",
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
