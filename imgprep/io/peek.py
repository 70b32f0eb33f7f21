"""How many bytes a file will decode to, from its header alone (no pixel data read).

Why: a transform task must hold about 4 MiB of rows, whatever the files are. When the rows
may differ in size (a PNG tree without ``--size``), a count of files says nothing about the
memory a task needs: six 9,400 x 9,400 RGBA PNGs are 2 MB on disk and 2.1 GB decoded. So the
batcher asks each file's header for its width, height and pixel format first.

Cost, measured on this VM over 1,000 28 x 28 gray PNGs (warm cache, one process): 9 us per
file for a PNG (the 33 bytes up to IHDR's CRC, parsed here) and 45 us for other formats
(``PIL.Image.open`` without ``load``). The batcher reads the headers lazily, as tasks are
submitted, so with ``--workers`` 2 and more it runs beside the workers' decoding.

Only regular files are opened, without blocking (a FIFO named ``x.png`` must not hang the
run; the decoder reports it), and Pillow only with the plugin its extension names, so no
plugin that shells out can be reached from here.
"""

from __future__ import annotations

import os
import stat
import warnings

from PIL import Image

from imgprep.io.decoded_formats import FORMAT_OF_EXTENSION
from imgprep.io.remote import is_url

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# PNG colour type -> channels after decoding (a palette may carry transparency: RGBA)
_PNG_CHANNELS = {0: 1, 2: 3, 3: 4, 4: 2, 6: 4}
# Pillow mode -> (channels, bytes per sample) after decoding (see imgprep.io.decode)
_MODE_LAYOUT = {
    "1": (1, 1), "L": (1, 1), "LA": (2, 1), "La": (2, 1), "P": (4, 1), "PA": (4, 1),
    "RGB": (3, 1), "RGBX": (3, 1), "YCbCr": (3, 1), "LAB": (3, 1), "HSV": (3, 1),
    "CMYK": (3, 1), "RGBA": (4, 1), "RGBa": (4, 1),
    "I;16": (1, 2), "I;16B": (1, 2), "I;16L": (1, 2), "I;16N": (1, 2), "I": (1, 2),
    "F": (1, 4),
}  # fmt: skip
_HEADER_FAILURES = (OSError, SyntaxError, ValueError, EOFError, IndexError)
_COLOR_CHANNELS = {"grayscale": 1, "rgb": 3, "rgba": 4}


def decoded_layout(path: str) -> tuple[int, int, int, int] | None:
    """(width, height, channels, bytes per sample) of ``path`` as decoded with colour
    ``keep``, from its header; None when that is unknown (a URL, not a regular file, an
    unreadable header: the decoder then says what is wrong, or decodes what Pillow can)."""
    if is_url(path):
        return None
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_BINARY", 0))
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        head = os.pread(fd, 33, 0)
        if head[:8] == _PNG_SIGNATURE and head[12:16] == b"IHDR" and len(head) == 33:
            width = int.from_bytes(head[16:20], "big")
            height = int.from_bytes(head[20:24], "big")
            depth, colour = head[24], head[25]
            if colour in _PNG_CHANNELS:
                return width, height, _PNG_CHANNELS[colour], 2 if depth == 16 else 1
        return _pillow_layout(fd, path)
    except OSError:
        return None
    finally:
        os.close(fd)


def _pillow_layout(fd: int, path: str) -> tuple[int, int, int, int] | None:
    name = FORMAT_OF_EXTENSION.get(os.path.splitext(path)[1].lower())
    if name is None:
        return None
    with os.fdopen(os.dup(fd), "rb") as handle:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", Image.DecompressionBombWarning)
                with Image.open(handle, formats=[name]) as image:
                    channels, itemsize = _MODE_LAYOUT.get(image.mode, (4, 4))
                    width, height = image.size
        except (*_HEADER_FAILURES, Image.DecompressionBombError):
            return None
    return width, height, channels, itemsize


def decoded_size(path: str, color: str) -> tuple[int, str] | None:
    """(values, dtype name) of ``path``'s decoded array under colour option ``color`` (an
    upper bound for palette images), or None when the header does not say."""
    layout = decoded_layout(path)
    if layout is None:
        return None
    width, height, channels, itemsize = layout
    dtype = {1: "uint8", 2: "uint16"}.get(itemsize, "float32")
    return width * height * _COLOR_CHANNELS.get(color, channels), dtype
