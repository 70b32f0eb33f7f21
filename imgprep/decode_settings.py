"""How a file becomes an array: ``DecodeSettings``, the pre-processing space.

Statistics are only meaningful for the images they were computed on (the same colour
conversion, the same size, the same resize rule), so these settings are frozen, validated
when built (never halfway through a run), written into every stats file, and compared by
later runs so that a mismatch is refused instead of silently applied
(``DecodeSettings.space``). ``imgprep.config`` re-exports every name here.
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

from imgprep.errors import InputError

COLOR_MODES = ("keep", "grayscale", "rgb", "rgba")
RESIZE_MODES = ("stretch", "fit", "fill")
RESAMPLE_FILTERS = ("nearest", "bilinear", "bicubic", "lanczos", "box")
RESIZE_BACKENDS = ("pillow", "opencv")  # as imgprep.transforms.fast_resize.BACKENDS
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
        resize_backend: ``pillow`` (the default: Pillow's pixels exactly) or ``opencv``
            (Pillow's ``bilinear`` approximated by two vectorized OpenCV passes: 0.39 grey
            levels from Pillow's on average, 3 at the 99th percentile, on real photos; only
            8-bit L and RGB images with ``bilinear``, the rest stays Pillow's; see
            ``imgprep.transforms.fast_resize``). Only applies with ``size``; part of the
            space, recorded only when ``opencv``.
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
    resize_backend: str = "pillow"

    def __post_init__(self) -> None:
        _check_choice("color", self.color, COLOR_MODES)
        _check_choice("resize_mode", self.resize_mode, RESIZE_MODES)
        _check_choice("resample", self.resample, RESAMPLE_FILTERS)
        _check_choice("exif", self.exif, EXIF_MODES)
        _check_choice("resize_backend", self.resize_backend, RESIZE_BACKENDS)
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
        if self.resize_backend == "pillow":
            del data["resize_backend"]
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
        for key in ("color", "resize_mode", "resample", "exif", "resize_backend"):
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
            if self.resize_backend != "pillow":
                space["resize_backend"] = self.resize_backend
        return space

    def same_space(self, other: DecodeSettings) -> bool:
        """Whether images decoded with ``other`` are identical to images decoded with this."""
        return self.space() == other.space()

    def describe(self) -> str:
        """One line for messages: ``color=keep size=28x28 resize_mode=stretch ...``."""
        size = f"{self.size[0]}x{self.size[1]}" if self.size else "original"
        depth = f" bit_depth={self.bit_depth}" if self.bit_depth is not None else ""
        backend = (
            f" resize_backend={self.resize_backend}" if self.resize_backend != "pillow" else ""
        )
        return (
            f"color={self.color} size={size} resize_mode={self.resize_mode} "
            f"resample={self.resample} pad_value={self.pad_value} exif={self.exif} "
            f"jpeg_draft={self.jpeg_draft}{depth}{backend}"
        )


def _check_choice(name: str, value: str, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(f"invalid {name} {value!r}: choose one of {', '.join(choices)}")
