"""The image formats imgprep decodes, and the file extensions that name them.

One table for every module that opens or selects image files: discovery keeps the files a
directory holds by these extensions, the decoder and the header reader (``peek``) open each
file with only these Pillow plugins (the one its extension names first), and the output
formats refuse to write over a file named as an input image. Kept apart from all of them so
that none imports another for a constant.
"""

from __future__ import annotations

# The formats imgprep decodes, by Pillow's plugin names (JPEG also opens MPO, the camera
# JPEGs holding several pictures; PPM also reads PGM, PBM and PNM). Every ``Image.open``
# passes these as ``formats=``, so no other plugin ever sees a file: a PostScript file named
# x.png would otherwise make the EPS plugin run Ghostscript.
DECODED_FORMATS = ("PNG", "JPEG", "BMP", "GIF", "TIFF", "WEBP", "PPM")
DECODED_FORMATS_TEXT = "PNG, JPEG, BMP, GIF, TIFF, WebP or PPM/PGM/PBM"


# Every extension Pillow registers for one of ``DECODED_FORMATS``, with the plugin that opens
# it (.mpo: camera JPEGs, opened by the JPEG plugin). A table, not ``Image.init()`` at import:
# that loads all of Pillow's plugins (global state, and start-up time) to learn a constant;
# tests/io/test_decoded_formats.py checks the table against Pillow's own registry.
FORMAT_OF_EXTENSION = {
    ".bmp": "BMP", ".gif": "GIF",
    ".jfif": "JPEG", ".jpe": "JPEG", ".jpeg": "JPEG", ".jpg": "JPEG", ".mpo": "JPEG",
    ".apng": "PNG", ".png": "PNG",
    ".pbm": "PPM", ".pfm": "PPM", ".pgm": "PPM", ".pnm": "PPM", ".ppm": "PPM",
    ".tif": "TIFF", ".tiff": "TIFF", ".webp": "WEBP",
}  # fmt: skip
IMAGE_EXTENSIONS = frozenset(FORMAT_OF_EXTENSION)
