"""The decoded formats table (imgprep.io.decoded_formats): what discovery, decoding and peek
accept is what Pillow registers for those formats, and nothing else."""

from __future__ import annotations


def test_the_extension_table_is_pillows_registry_for_the_decoded_formats():
    """FORMAT_OF_EXTENSION is written out (no Image.init() at import): it must say what
    Pillow itself registers for the formats imgprep decodes."""
    from PIL import Image

    from imgprep.io.decoded_formats import DECODED_FORMATS, FORMAT_OF_EXTENSION

    Image.init()
    registered = {
        extension.lower(): "JPEG" if name == "MPO" else name
        for extension, name in Image.registered_extensions().items()
        if ("JPEG" if name == "MPO" else name) in DECODED_FORMATS
    }
    assert registered == FORMAT_OF_EXTENSION
