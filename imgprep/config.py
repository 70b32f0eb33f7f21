"""Decode settings: the pre-processing that defines the space images and statistics live in.

Statistics are only meaningful for the images they were computed on: the same colour
conversion, the same size, the same resize rule. ``DecodeSettings`` is that definition. It is
frozen, validated when built (never halfway through a run), written into every stats file, and
compared by later runs so that a mismatch is refused instead of silently applied.
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import asdict, dataclass
from typing import Any

from imgprep.errors import InputError
from imgprep.io.bitdepth import BIT_DEPTHS

COLOR_MODES = ("keep", "grayscale", "rgb", "rgba")
RESIZE_MODES = ("stretch", "fit", "fill")
RESAMPLE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box")
EXIF_MODES = ("apply", "ignore")

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


# --------------------------------------------------------------------------- config files

PIPELINE_KEYS = (
    "color", "size", "resize-mode", "resample", "pad-value", "exif", "jpeg-draft", "rescale",
    "center", "standardize", "stats-scope", "epsilon", "dtype", "stats", "zca", "bit-depth",
)  # fmt: skip
RUN_KEYS = (
    "allow-stats-mismatch", "format", "compression", "split", "seed", "workers", "batch-size",
    "on-error", "quiet", "overwrite",
)  # fmt: skip
# The augmentation plan's keys; each operation's keys (and their kinds) come from
# imgprep.augment.registry, read when a config is loaded (not at import: fit-stats and
# inspect never load the augmentation code).
AUGMENT_PLAN_KEYS = ("copies", "keep-original", "preview")


def config_keys() -> tuple[str, ...]:
    """Every key a TOML pipeline may hold: the pipeline's, the run's and augmentation's."""
    from imgprep.augment.registry import option_keys

    return PIPELINE_KEYS + RUN_KEYS + option_keys() + AUGMENT_PLAN_KEYS


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


def load_config(path: str) -> dict[str, object]:
    """Read a TOML pipeline; keys are the ``transform`` option names without ``--``.

    A relative ``stats`` path is resolved against the config file's folder. An unknown key is
    an error that names it and suggests the closest valid key; a key of the wrong TOML type
    (``stats = 5``, ``zca = "yes"``) is an error that names it. Only a regular file of at most
    1 MiB of UTF-8 text is read (``imgprep.io.bounded``): a FIFO or a device given as a config
    is refused instead of blocking or filling memory.
    """
    import difflib

    from imgprep.io.bounded import CONFIG_LIMIT, read_regular_file

    try:
        import tomllib
    except ModuleNotFoundError:  # Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]

    raw = read_regular_file(path, limit=CONFIG_LIMIT, what="config file")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise InputError(
            f"{path}: not a TOML config (not UTF-8 text: byte 0x{raw[exc.start]:02x} at "
            f"offset {exc.start})"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: invalid TOML ({exc})") from exc
    except RecursionError:
        raise InputError(f"{path}: invalid TOML (nested too deeply)") from None
    from imgprep.augment.registry import OPTIONS

    keys = config_keys()
    for key in data:
        if key not in keys:
            close = difflib.get_close_matches(key.replace("_", "-"), keys, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise InputError(f"{path}: unknown key {key!r}{hint}")
    augment_kinds = {option.key: option.kind for option in OPTIONS}
    for key, value in data.items():
        _check_config_type(path, key, value, augment_kinds.get(key))
    stats = data.get("stats")
    if isinstance(stats, str) and not os.path.isabs(stats):
        data["stats"] = os.path.join(os.path.dirname(os.path.abspath(path)), stats)
    return data


_TEXT_KEYS = frozenset({
    "color", "resize-mode", "resample", "exif", "center", "standardize", "stats-scope", "dtype",
    "format", "compression", "on-error", "preview",
})  # fmt: skip
_FLAG_KEYS = frozenset({
    "jpeg-draft", "zca", "allow-stats-mismatch", "quiet", "overwrite", "keep-original",
})  # fmt: skip
_INTEGER_KEYS = frozenset({"seed", "workers", "batch-size", "copies", "bit-depth"})
_NUMBER_KEYS = frozenset({"pad-value", "epsilon"})


def _check_config_type(path: str, key: str, value: object, augment_kind: str | None) -> None:
    """Refuse a value whose TOML type cannot be meant (``stats = 5`` is not a path).

    ``augment_kind`` is the kind of an augmentation option's key (number, flag, range or
    choice, as its operation declares it), None for other keys.
    """
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if key == "stats":
        ok, wanted = isinstance(value, str), "a file path (a string)"
    elif key in _TEXT_KEYS or augment_kind == "choice":
        ok, wanted = isinstance(value, str), "a string"
    elif key in _FLAG_KEYS or augment_kind == "flag":
        ok, wanted = isinstance(value, bool), "true or false"
    elif key in _INTEGER_KEYS:  # "7" too: the command line's parser converts it, as before
        ok = (isinstance(value, int) and not isinstance(value, bool)) or isinstance(value, str)
        wanted = "an integer"
    elif key == "split":  # "train=0.8,val=0.2" or ["train=0.8", "val=0.2"]
        ok = isinstance(value, str) or (
            isinstance(value, list) and all(isinstance(v, str) for v in value)
        )
        wanted = 'a string "NAME=F,..." or a list of "NAME=F" strings'
    elif key in _NUMBER_KEYS or augment_kind == "number":
        ok, wanted = number, "a number"
    elif key == "rescale":
        ok, wanted = number or isinstance(value, str), 'a number or a fraction such as "1/255"'
    elif key == "size":
        ok = isinstance(value, str) or (
            isinstance(value, list)
            and len(value) == 2
            and all(isinstance(v, int) and not isinstance(v, bool) for v in value)
        )
        wanted = 'a string "WxH" or [width, height]'
    elif augment_kind == "range":  # a number, "LO,HI" or [LO, HI]
        ok = (
            number
            or isinstance(value, str)
            or (
                isinstance(value, list)
                and all(isinstance(v, int | float) and not isinstance(v, bool) for v in value)
            )
        )
        wanted = "a number or [LO, HI]"
    else:  # checked where it is used
        return
    if not ok:
        shown = repr(value) if len(repr(value)) <= 60 else repr(value)[:57] + "..."
        raise InputError(f"{path}: key {key!r} must be {wanted}, got {shown}")
