"""The OpenCV fast path for plain 8-bit PNGs: same pixels as Pillow, or not taken at all."""

from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError
from imgprep.io import decode as decoding
from imgprep.io.decode import decode_file
from imgprep.io.png_fast import SIGNATURE, simple_png
from tests.conftest import png_bytes

SETTINGS = [
    DecodeSettings(),
    DecodeSettings(color="rgb"),
    DecodeSettings(color="grayscale"),
    DecodeSettings(color="rgba"),
    DecodeSettings(size=(9, 7)),
    DecodeSettings(size=(16, 16), resize_mode="fit", pad_value="7"),
    DecodeSettings(size=(5, 11), resize_mode="fill", resample="lanczos"),
]


def chunk(kind: bytes, data: bytes, *, crc: int | None = None) -> bytes:
    value = zlib.crc32(kind + data) & 0xFFFFFFFF if crc is None else crc
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", value)


def with_chunk_before_idat(png: bytes, extra: bytes) -> bytes:
    """``png`` (IHDR first) with ``extra`` inserted right after IHDR."""
    ihdr_end = 8 + 12 + 13
    return png[:ihdr_end] + extra + png[ihdr_end:]


@pytest.mark.parametrize("mode, channels", [("L", 1), ("RGB", 3), ("RGBA", 4)])
def test_plain_pngs_take_the_fast_path_and_give_the_stored_pixels(tmp_path, rng, mode, channels):
    array = rng.integers(0, 256, (13, 17, channels), dtype=np.uint8)
    info = PngImagePlugin.PngInfo()
    info.add_text("comment", "harmless")
    info.add(b"gAMA", (45455).to_bytes(4, "big"))
    path = tmp_path / "x.png"
    Image.fromarray(array[:, :, 0] if channels == 1 else array, mode).save(path, pnginfo=info)
    data = path.read_bytes()
    assert simple_png(data) == (17, 13, channels)
    got = decode_file(str(path), DecodeSettings()).array
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, array)
    for settings in SETTINGS:  # every option gives what Pillow alone gives
        pillow = decoding._decode_source(io.BytesIO(data), str(path), settings)
        fast = decode_file(str(path), settings).array
        assert fast.dtype == pillow.dtype
        np.testing.assert_array_equal(fast, pillow, err_msg=str(settings))


def test_what_needs_interpreting_is_left_to_pillow(tmp_path, rng):
    gray = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(gray).save(buffer, format="PNG")
    plain = buffer.getvalue()
    assert simple_png(plain) == (5, 6, 1)
    for mode in ("P", "LA", "1", "I;16"):
        buffer = io.BytesIO()
        Image.fromarray(gray).convert(mode).save(buffer, format="PNG")
        assert simple_png(buffer.getvalue()) is None, mode
    cases = {
        "transparency": chunk(b"tRNS", b"\x00\x07"),
        "ICC profile": chunk(b"iCCP", b"p\x00\x00" + zlib.compress(b"profile")),
        "animation": chunk(b"acTL", b"\x00\x00\x00\x01\x00\x00\x00\x00"),
        "broken CRC": chunk(b"tEXt", b"k\x00v", crc=1),
    }
    for name, extra in cases.items():
        assert simple_png(with_chunk_before_idat(plain, extra)) is None, name
    interlaced = bytearray(plain)
    interlaced[8 + 8 + 12] = 1  # the IHDR interlace byte (its CRC is then wrong too)
    assert simple_png(bytes(interlaced)) is None
    assert simple_png(b"GIF89a") is None and simple_png(SIGNATURE) is None


def test_bomb_limit_is_left_to_pillow(monkeypatch, rng):
    buffer = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (10, 10), dtype=np.uint8)).save(buffer, format="PNG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 99)
    assert simple_png(buffer.getvalue()) is None


def test_a_corrupt_image_still_gets_pillows_error(tmp_path):
    rows = b"".join(b"\x00" + bytes([y] * 4) for y in range(4))
    good = png_bytes(4, 4, 8, 0, rows)
    idat = good.index(b"IDAT")
    length = struct.unpack(">I", good[idat - 4 : idat])[0]
    data = bytearray(good)
    data[idat + 4 : idat + 4 + length] = b"\xff" * length  # not zlib data, CRC unchanged
    path = tmp_path / "bad.png"
    path.write_bytes(bytes(data))
    assert simple_png(bytes(data)) == (4, 4, 1)  # the header looks fine: OpenCV is tried
    with pytest.raises(DecodeError, match="corrupt or truncated image"):
        decode_file(str(path), DecodeSettings())
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good[: idat + 10])
    with pytest.raises(DecodeError, match="corrupt or truncated image"):
        decode_file(str(truncated), DecodeSettings())
