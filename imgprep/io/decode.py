"""Pillow file -> H x W x C NumPy array, with documented colour, 16-bit and EXIF rules.

The mode and colour rules (which Pillow mode becomes which channels and dtype, and how
``color`` converts it) are ``imgprep.io.colour``'s; this module opens the file, checks it,
and applies them.

``bit_depth`` (``--bit-depth 8|16``) then converts integer images exactly to one depth, after
the mode and colour rules and before resizing (16 to 8 bits: ``round(v / 257)``; 8 to 16:
``v * 257``); a float image is refused with it. See ``imgprep.io.bitdepth``.

16-bit *colour* files, which Pillow can only decode to 8 bits, are refused with a clear error.

GIF and other multi-frame files: the first frame. EXIF orientation is applied by default
(``exif="apply"``) so photos are seen as a viewer shows them; ``exif="ignore"`` keeps the
stored pixel order, as Keras. Images above Pillow's decompression-bomb limit
(``PIL.Image.MAX_IMAGE_PIXELS``, 89,478,485 pixels by default) are refused before decoding.
"""

from __future__ import annotations

import contextlib
import io
import math
import os
import stat
import warnings
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np
from PIL import Image, UnidentifiedImageError

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError, InputError
from imgprep.io.bitdepth import float_refused, to_bit_depth
from imgprep.io.colour import MODE_OF_COLOR, SIXTEEN_BIT_MODES, image_to_array, image_to_pil
from imgprep.io.decoded_formats import DECODED_FORMATS, DECODED_FORMATS_TEXT, FORMAT_OF_EXTENSION
from imgprep.io.jpeg_fast import decode_jpeg, draft_scale, fast_readable, maybe_jpeg
from imgprep.io.orientation import apply_exif, orientation
from imgprep.io.png_fast import MODES as PNG_MODES
from imgprep.io.png_fast import decode_simple_png, simple_png
from imgprep.io.remote import is_url, read_url
from imgprep.transforms.functional import PadValueError, resize, resize_pil

_OPEN_FLAGS = (
    os.O_RDONLY
    | getattr(os, "O_NONBLOCK", 0)
    | getattr(os, "O_NOCTTY", 0)
    | getattr(os, "O_BINARY", 0)
)
_READ_WHOLE_BYTES = 64 << 20  # smaller files are read in one call, larger ones streamed
_FORMAT_OF_EXTENSION = {ext: (name,) for ext, name in FORMAT_OF_EXTENSION.items()}
_DRAFT_MARGIN = 2.0  # drafted images keep at least this many times the pixels needed
_DECODE_FAILURES = (OSError, SyntaxError, ValueError, EOFError, zlib.error, IndexError)


def decode_image(path: str, settings: DecodeSettings | None = None) -> np.ndarray:
    """Read ``path`` and return an H x W x C array (uint8, uint16 or float32).

    Raises:
        DecodeError: the file is empty, unreadable, not an image, truncated, corrupt, a
            decompression bomb, or of a kind the rules above refuse. The message names the
            file and the reason.
    """
    with bomb_warnings_silenced():
        return decode_file(path, settings or DecodeSettings()).array


@contextlib.contextmanager
def bomb_warnings_silenced() -> Iterator[None]:
    """Silence Pillow's ``DecompressionBombWarning`` (oversized images are refused by
    ``decode_file`` anyway) and its other warnings about a damaged file ("Tag data larger
    than file", "Corrupt EXIF data", ...): each file is decoded or refused with one line, and
    Python's two-line warnings on stderr (even with ``--quiet``) would only look like a
    traceback. Entered once per batch, since entering it costs microseconds."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        warnings.filterwarnings("ignore", category=UserWarning, module=r"PIL(\.|$)")
        yield


@dataclass(frozen=True)
class DecodedFile:
    """A decoded image and the size and modification time of its file (for provenance)."""

    array: np.ndarray
    size: int
    mtime_ns: int


def decode_file(path: str, settings: DecodeSettings) -> DecodedFile:
    """``decode_image`` for batch code: four system calls per file, no warnings context.

    Small files are read whole with ``os.open``/``fstat``/``read``/``close``: on this kind of
    virtual machine that costs 6 us per file against 12 us for ``open()`` + ``read()``, whose
    buffered file object adds system calls of its own; the ``fstat`` also gives the size and
    modification time recorded in the provenance. Batch code wraps many calls in one
    ``bomb_warnings_silenced()``. A URL (``s3://...``) is read whole through fsspec.
    """
    if is_url(path):
        data, mtime_ns = read_url(path)
        if not data:
            raise DecodeError(path, "empty file (0 bytes)")
        array = _decode_bytes(data, path, settings)
        return DecodedFile(array=array, size=len(data), mtime_ns=mtime_ns)
    try:
        # O_NONBLOCK: opening a FIFO for reading would wait for a writer forever (and a
        # terminal would become the controlling one); fstat below refuses both at once.
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise DecodeError(path, f"cannot read: {exc.strerror or exc}") from exc
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise DecodeError(path, "not a regular file")
        if info.st_size == 0:
            raise DecodeError(path, "empty file (0 bytes)")
        if info.st_size <= _READ_WHOLE_BYTES:
            array = _decode_bytes(_read_all(fd, info.st_size), path, settings)
        else:
            array = _decode_source(os.fdopen(fd, "rb", closefd=False), path, settings)
    finally:
        os.close(fd)
    return DecodedFile(array=array, size=info.st_size, mtime_ns=info.st_mtime_ns)


def _decode_bytes(data: bytes, path: str, settings: DecodeSettings) -> np.ndarray:
    """A whole file's bytes: the common PNG and JPEG through OpenCV (``png_fast``,
    ``jpeg_fast``), the rest Pillow."""
    fast = _decode_fast_png(data, path, settings)
    if fast is None and maybe_jpeg(data):
        fast = _decode_fast_jpeg(data, path, settings)
    return fast if fast is not None else _decode_source(io.BytesIO(data), path, settings)


def _decode_fast_jpeg(data: bytes, path: str, settings: DecodeSettings) -> np.ndarray | None:
    """``jpeg_fast``'s pixels when Pillow's header allows it, with Pillow's bomb check, EXIF
    rule and colour conversions around them; None sends the file to Pillow."""
    try:
        image = Image.open(io.BytesIO(data), formats=("JPEG",))
    except (UnidentifiedImageError, Image.DecompressionBombError, *_DECODE_FAILURES):
        return None  # Pillow's own path gives the error
    if not fast_readable(image) or not _keeps_mode(settings, image.mode):
        return None
    _check_bomb(path, image)
    scale: int | None = 1
    if settings.size is not None and settings.jpeg_draft:
        full = image.size
        _draft(image, settings)
        scale = draft_scale(full, image.size)  # libjpeg's DCT scaling, as Pillow asks it
    if scale is None or (settings.exif == "apply" and orientation(image) not in (None, 1)):
        return None
    return _fast_result(decode_jpeg(data, image, scale), settings, path)


def _decode_fast_png(data: bytes, path: str, settings: DecodeSettings) -> np.ndarray | None:
    """``png_fast``'s array when the file and the colour option allow it, else None. Colour
    conversions stay Pillow's (its luma rounding is the contract), resizing as Pillow's."""
    header = simple_png(data)
    if header is None:
        return None
    mode = PNG_MODES[header[2]]
    if not _keeps_mode(settings, mode):
        return None
    return _fast_result(decode_simple_png(data, header), settings, path)


def _keeps_mode(settings: DecodeSettings, mode: str) -> bool:
    """Whether ``color`` asks no conversion of ``mode``'s pixels: conversions stay Pillow's
    (its luma rounding is the contract), so only such files take a fast decoder."""
    return settings.color == "keep" or MODE_OF_COLOR[settings.color] == mode


def _fast_result(
    array: np.ndarray | None, settings: DecodeSettings, path: str
) -> np.ndarray | None:
    """A fast decoder's 8-bit pixels (None: it gave none) after the rules that follow
    decoding: the bit depth, then the resize (of the array: for Pillow's backend ``resize``
    hands 8-bit L, LA, RGB and RGBA arrays to Pillow as the image they are)."""
    if array is None:
        return None
    array = to_bit_depth(array, settings.bit_depth)
    if settings.size is None:
        return array
    return _resized(lambda keep: resize(array, **keep), settings, path)


def _decode_source(source: BinaryIO, path: str, settings: DecodeSettings) -> np.ndarray:
    """The decoding rules above, applied to an open file's bytes (fully loaded on return)."""
    return _decode_image(lambda: _open(source, path), path, settings, draft=True)


def _decode_image(
    opener: Callable[[], Image.Image], path: str, settings: DecodeSettings, *, draft: bool
) -> np.ndarray:
    """The rules on the image ``opener`` gives: bomb and depth checks, the JPEG draft (when
    ``draft``: a file opened here), EXIF, mode and colour, resize, bit depth."""
    try:
        image = opener()
        _check_bomb(path, image)
        _refuse_16bit_colour(path, image)
        if draft and settings.jpeg_draft and settings.size is not None and image.format == "JPEG":
            _draft(image, settings)
        image.load()
        if settings.exif == "apply":
            image = apply_exif(image)
        array = (
            None if settings.size is not None else image_to_array(image, settings.color, path=path)
        )
    except DecodeError:
        raise
    except Image.DecompressionBombError as exc:
        raise DecodeError(path, f"decompression bomb refused: {exc}") from exc
    except UnidentifiedImageError as exc:
        raise DecodeError(
            path, f"not an image imgprep reads (it reads {DECODED_FORMATS_TEXT})"
        ) from exc
    except _DECODE_FAILURES as exc:
        raise DecodeError(path, f"corrupt or truncated image ({_short(exc)})") from exc
    if array is None:  # outside the try: our own errors are not "corrupt image"
        array = _decode_resized(image, settings, path)
    else:
        array = _to_depth(array, settings, path)
    if array.dtype.kind == "f" and not np.isfinite(array).all():
        raise DecodeError(path, "float image contains NaN or infinite values")
    return array


def decode_bytes(data: bytes, settings: DecodeSettings, *, name: str = "<bytes>") -> np.ndarray:
    """A whole file's bytes decoded exactly as ``decode_file`` decodes the file (same fast
    path, JPEG draft and rules): what ``Pipeline.apply`` needs to match ``transform``."""
    if not data:
        raise DecodeError(name, "empty file (0 bytes)")
    with bomb_warnings_silenced():
        return _decode_bytes(data, name, settings)


def decode_pil(
    image: Image.Image, settings: DecodeSettings, *, name: str = "<image>"
) -> np.ndarray:
    """An image the caller opened with Pillow, decoded by the same rules as a file (EXIF,
    mode, colour, bit depth, resize), except the JPEG draft: the image is already opened at
    full scale, so a resized JPEG can differ from ``decode_file`` of its file (see
    ``DecodeSettings.jpeg_draft``)."""
    with bomb_warnings_silenced():
        return _decode_image(lambda: image, name, settings, draft=False)


def _to_depth(array: np.ndarray, settings: DecodeSettings, path: str) -> np.ndarray:
    """The bit-depth rule on a decoded array; a float image is a decode error under it."""
    if settings.bit_depth is not None and array.dtype.kind == "f":
        raise DecodeError(path, float_refused(array.dtype.name))
    return to_bit_depth(array, settings.bit_depth)


def _read_all(fd: int, size: int) -> bytes:
    """``size`` bytes from ``fd`` (fewer if the file shrank meanwhile)."""
    data = os.read(fd, size)
    if len(data) == size or not data:
        return data
    chunks = [data]
    remaining = size - len(data)
    while remaining > 0:
        chunk = os.read(fd, remaining)
        if not chunk:
            break
        chunks.append(chunk)
        remaining -= len(chunk)
    return b"".join(chunks)


def _open(source: BinaryIO, path: str) -> Image.Image:
    """``Image.open`` limited to ``DECODED_FORMATS``, trying the format the extension names
    first.

    Without a hint Pillow asks each registered plugin in turn whether it accepts the file,
    which costs about 18 us per file before PNG's turn comes (a fifth of a 28x28 PNG's whole
    decode). A misnamed file (a JPEG called .png) still opens: on a miss, the other decoded
    formats are tried. No other plugin is ever asked (see ``DECODED_FORMATS``).
    """
    hint = _FORMAT_OF_EXTENSION.get(os.path.splitext(path)[1].lower())
    if hint is not None:
        try:
            return Image.open(source, formats=hint)
        except UnidentifiedImageError:
            source.seek(0)
    return Image.open(source, formats=DECODED_FORMATS)


def _decode_resized(image: Image.Image, settings: DecodeSettings, path: str) -> np.ndarray:
    """Colour-convert (and convert the bit depth), then resize 8-bit images as PIL images (no
    full-size array copy); a pad value the pixels cannot hold is a usage error naming the
    file."""
    converted = image_to_pil(image, settings.color)
    if converted is not None and settings.bit_depth in (None, 8):
        return _resized(lambda keep: resize_pil(converted, **keep), settings, path)
    array = _to_depth(image_to_array(image, settings.color, path=path), settings, path)
    return _resized(lambda keep: resize(array, **keep), settings, path)


def _resized(
    resizer: Callable[[dict[str, Any]], np.ndarray], settings: DecodeSettings, path: str
) -> np.ndarray:
    """``resizer`` called with the settings' resize arguments; a pad value the pixels
    cannot hold is a usage error naming the file."""
    assert settings.size is not None
    keep = {
        "size": settings.size,
        "mode": settings.resize_mode,
        "resample": settings.resample,
        "pad_value": settings.pad_value,
        "backend": settings.resize_backend,
    }
    try:
        return resizer(keep)
    except PadValueError as exc:
        raise InputError(f"{exc} ({path})") from None


def _draft(image: Image.Image, settings: DecodeSettings) -> None:
    """Ask libjpeg for a reduced-scale decode keeping 2x the pixels the resize needs."""
    assert settings.size is not None
    width, height = image.size
    target_w, target_h = settings.size
    if settings.exif == "apply" and orientation(image) in (5, 6, 7, 8):
        target_w, target_h = target_h, target_w  # the stored image is rotated by 90 degrees
    if settings.resize_mode == "stretch":
        need_w, need_h = target_w, target_h
    else:
        pick = min if settings.resize_mode == "fit" else max
        scale = pick(target_w / width, target_h / height)
        need_w, need_h = math.ceil(width * scale), math.ceil(height * scale)
    request = (math.ceil(_DRAFT_MARGIN * need_w), math.ceil(_DRAFT_MARGIN * need_h))
    if request[0] < width and request[1] < height:
        image.draft(image.mode, request)


def _check_bomb(path: str, image: Image.Image) -> None:
    limit = Image.MAX_IMAGE_PIXELS
    width, height = image.size
    if limit is not None and width * height > limit:
        raise DecodeError(
            path,
            f"decompression bomb refused: {width}x{height} = {width * height:,} pixels is above "
            f"Pillow's limit of {limit:,} (PIL.Image.MAX_IMAGE_PIXELS)",
        )


def _refuse_16bit_colour(path: str, image: Image.Image) -> None:
    """Refuse colour images stored with more than 8 bits per sample.

    Pillow opens them as 8-bit RGB/RGBA/LA and would drop the low bits without a word:
    16-bit PNG (``RGB;16B``), TIFF (raw or compressed: BitsPerSample > 8) and PPM with a
    maxval above 255. 16-bit grayscale (``I;16``) is read exactly and is not affected.
    """
    if image.mode in SIXTEEN_BIT_MODES or image.mode in ("I", "F"):
        return
    tile = getattr(image, "tile", None) or []
    args = tile[0].args if tile else None
    rawmode = (
        args if isinstance(args, str) else (args[0] if isinstance(args, tuple) and args else None)
    )
    wide = isinstance(rawmode, str) and ";16" in rawmode
    bits = getattr(image, "tag_v2", {}).get(258) if image.format == "TIFF" else None
    if isinstance(bits, tuple | list | int):
        wide = wide or max(bits if isinstance(bits, tuple | list) else (bits,)) > 8
    if image.format == "PPM" and isinstance(args, tuple) and len(args) > 1:
        wide = wide or (isinstance(args[1], int) and args[1] > 255)
    if wide:
        raise DecodeError(
            path,
            f"{image.mode} image with more than 8 bits per sample: Pillow can only decode it to "
            "8 bits, and imgprep does not truncate silently; convert it to 8-bit, or to 16-bit "
            "grayscale, first",
        )


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text if len(text) <= 120 else text[:117] + "..."
