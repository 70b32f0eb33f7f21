"""EXIF orientation: the stored pixels turned as a viewer shows them (``--exif apply``)."""

from __future__ import annotations

import struct

from PIL import Image, ImageOps

_EXIF_FORMATS = frozenset({"JPEG", "MPO", "TIFF", "WEBP"})


def apply_exif(image: Image.Image) -> Image.Image:
    """Transpose as the EXIF orientation tag says; a dict lookup for files without EXIF."""
    if image.format not in _EXIF_FORMATS and "exif" not in image.info:
        return image
    if orientation(image) in (None, 1):
        return image
    return ImageOps.exif_transpose(image)


def orientation(image: Image.Image) -> object:
    """The EXIF orientation tag, or 1 when the EXIF block cannot be parsed.

    An unreadable block states no orientation: Pillow already reads a JPEG's that way (and
    viewers show such a file as stored), whereas the same block in a PNG or WebP raised
    ``SyntaxError`` and refused the whole image as "corrupt or truncated".
    """
    try:
        return image.getexif().get(0x0112, 1)
    except (SyntaxError, ValueError, EOFError, OSError, struct.error):
        return 1
