"""Small plain PNGs decoded by OpenCV's libpng: the same pixels as Pillow, 1.5x faster.

Why: decoding is most of what ``fit-stats`` and ``transform`` cost per file. On the 60,000
MNIST digits (28 x 28 grayscale PNGs) Pillow takes 40 us per file from bytes in memory;
checking the file here takes 11 us and OpenCV's ``imdecode`` 10.5 us, with identical arrays
for all of them (measured here; about 20 us less per file in ``decode_file``; OpenCV is
already a dependency, for augmentation). PNG is lossless, so two correct decoders
agree exactly; what could differ is how each *interprets* a file, and which damaged files
each accepts, so only files with nothing to interpret and nothing wrong take this path:

- small: at most ``MAX_ROW_BYTES`` (4 KiB) of pixel rows and ``MAX_FILE_BYTES`` (64 KiB) of
  file (MNIST- and CIFAR-size images, where Pillow's fixed cost per file dominates; for
  larger images Pillow is faster, see ``MAX_ROW_BYTES``);
- 8-bit grayscale, RGB or RGBA (colour types 0, 2, 6), not interlaced;
- IHDR first, then only these chunks besides the image data, each well-formed as both
  libraries require, once each, where libpng expects them: ``pHYs``, ``sBIT``, ``bKGD``,
  ``gAMA`` and ``sRGB`` (not both, since libpng warns when they disagree) before the image
  data, ``tEXt`` (with a keyword Pillow does not interpret: the PNG specification's, such as
  ``Comment`` or ``Software``, or ImageMagick's ``date:...``; at most 64) and ``tIME``
  anywhere; neither library applies any of them to the pixels;
- one run of IDAT chunks holding exactly one zlib stream (32 KiB window, as libpng assumes)
  with exactly the rows the header announces, each with a valid filter type, and an empty
  IEND; every chunk's CRC valid.

Everything else (palette, transparency, ICC profile, EXIF, compressed text, animation, a
damaged file) goes to Pillow, which gives the usual conversions and error messages. Since a
file that takes this path is one libpng has nothing to say about, nothing reaches stderr.
"""

from __future__ import annotations

import struct
import zlib

import numpy as np
from PIL import Image

SIGNATURE = b"\x89PNG\r\n\x1a\n"
_CHANNELS = {0: 1, 2: 3, 6: 4}  # PNG colour type -> channels
MODES = {1: "L", 3: "RGB", 4: "RGBA"}
_ALLOWED_AFTER_IMAGE_DATA = frozenset({b"tEXt", b"tIME"})
# Where this path wins: Pillow's fixed cost per file (about 30 us) dominates only small
# images; checking and inflating the rows twice loses from about 4 KiB of rows on (measured:
# 28x28 gray 24 vs 35 us, 32x32 RGB 48 vs 51 us, 64x64 RGB 143 vs 115 us, 224x224 RGB 2.3 vs
# 1.8 ms). Small files also keep libpng's per-file limits (text chunks, sizes) out of reach.
MAX_ROW_BYTES = 4096
MAX_FILE_BYTES = 65536
MAX_TEXT_CHUNKS = 64
# tEXt keywords Pillow does not interpret (it reads some, e.g. "exif", "interlace", "bbox",
# "XML:com.adobe.xmp", into its own image info): the PNG specification's, and ImageMagick's.
_PLAIN_KEYWORDS = frozenset(
    {
        b"Title", b"Author", b"Description", b"Copyright", b"Creation Time", b"Software",
        b"Disclaimer", b"Warning", b"Source", b"Comment",
    }
)  # fmt: skip


def simple_png(data: bytes) -> tuple[int, int, int] | None:
    """(width, height, channels) when ``data`` is a PNG this module decodes exactly.

    About 12 us for a 28 x 28 digit, most of it inflating the image data once to check it
    (libpng inflates it again; together still half of Pillow's time).
    """
    size = len(data)
    if not 45 <= size <= MAX_FILE_BYTES or data[:8] != SIGNATURE or data[12:16] != b"IHDR":
        return None
    if zlib.crc32(data[12:29]) != int.from_bytes(data[29:33], "big"):
        return None
    header = _header(data[16:29])
    if header is None:
        return None
    position = 33
    image_data: list[bytes] = []
    after_image_data = False
    seen: set[bytes] = set()
    texts = 0
    while True:
        if position + 12 > size:
            return None  # no IEND
        length, kind = struct.unpack_from(">I4s", data, position)
        end = position + 12 + length
        if end > size:
            return None
        if zlib.crc32(data[position + 4 : end - 4]) != int.from_bytes(data[end - 4 : end], "big"):
            return None
        if kind == b"IDAT":
            if after_image_data:
                return None  # image data interrupted by another chunk
            image_data.append(data[position + 8 : end - 4])
        elif kind == b"IEND":
            if length:
                return None
            break
        elif (
            (kind == b"tEXt" or kind not in seen)  # libpng warns about duplicates
            and (kind != b"tEXt" or (texts := texts + 1) <= MAX_TEXT_CHUNKS)
            and (not image_data or kind in _ALLOWED_AFTER_IMAGE_DATA)  # ... and out of place
            and _harmless(kind, data[position + 8 : end - 4], header[2], seen)
        ):
            seen.add(kind)
            after_image_data = bool(image_data)
        else:
            return None
        position = end
    if not image_data or image_data[0][:1] != b"\x78":
        return None  # zlib with the 32 KiB window libpng assumes (Python accepts others)
    width, height, channels = header
    stream = image_data[0] if len(image_data) == 1 else b"".join(image_data)
    if not _rows_complete(stream, 1 + width * channels, height):
        return None
    return header


def _header(body: bytes) -> tuple[int, int, int] | None:
    if len(body) != 13:
        return None
    width, height, depth, colour, method, filtering, interlace = struct.unpack(">IIBBBBB", body)
    if depth != 8 or colour not in _CHANNELS or method or filtering or interlace:
        return None
    channels = _CHANNELS[colour]
    if width == 0 or height == 0 or height * (1 + width * channels) > MAX_ROW_BYTES:
        return None
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and width * height > limit:
        return None  # Pillow refuses it with the usual message
    return width, height, channels


def _harmless(kind: bytes, body: bytes, channels: int, seen: set[bytes]) -> bool:
    """An ancillary chunk that changes no pixel and that both libraries read silently."""
    length = len(body)
    if kind == b"pHYs":
        return length == 9 and body[8] <= 1
    if kind == b"tEXt":
        keyword, separator, _ = body[:80].partition(b"\0")
        return bool(separator) and (keyword in _PLAIN_KEYWORDS or keyword.startswith(b"date:"))
    if kind == b"tIME":
        if length != 7:
            return False
        month, day, hour, minute, second = body[2:7]
        return 1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 60
    if kind == b"sBIT":
        return length == channels and all(1 <= bits <= 8 for bits in body)
    if kind == b"bKGD":
        return length == (2 if channels == 1 else 6) and not any(body[0::2])
    if kind == b"gAMA":
        gamma = int.from_bytes(body, "big")
        return length == 4 and 0 < gamma < 1 << 31 and b"sRGB" not in seen
    if kind == b"sRGB":
        return length == 1 and body[0] <= 3 and b"gAMA" not in seen
    return False


def _rows_complete(stream: bytes, stride: int, height: int) -> bool:
    """One zlib stream inflating to exactly ``height`` rows of ``stride`` bytes, each row
    starting with a filter type 0-4 (anything else is an error in libpng)."""
    expected = stride * height
    inflater = zlib.decompressobj()
    try:
        rows = inflater.decompress(stream, expected + 1)
    except zlib.error:
        return False
    if len(rows) != expected or not inflater.eof or inflater.unused_data:
        return False
    return max(rows[::stride]) <= 4


def decode_simple_png(data: bytes, header: tuple[int, int, int]) -> np.ndarray | None:
    """The H x W x C array of a PNG ``simple_png`` accepted, in RGB(A) order, or None if
    OpenCV cannot decode it (Pillow then reports why)."""
    import cv2

    array = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    width, height, channels = header
    if array is None or array.dtype != np.uint8:
        return None
    if channels == 1:
        if array.ndim != 2:
            return None
        array = array[:, :, None]
    elif array.ndim != 3 or array.shape[2] != channels:
        return None
    elif channels == 3:
        array = cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    else:
        array = cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    if array.shape[:2] != (height, width):
        return None
    array.flags.writeable = False  # as Pillow's arrays: nothing downstream writes in place
    return array
