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
    info.add_text("Comment", "harmless")
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


def rebuilt(
    width: int,
    height: int,
    rows: bytes,
    *,
    before: bytes = b"",
    after: bytes = b"",
    idat: bytes | None = None,
) -> bytes:
    """A grayscale PNG built chunk by chunk, with extra chunks before and after IDAT."""
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    data = zlib.compress(rows) if idat is None else idat
    return (
        SIGNATURE
        + chunk(b"IHDR", header)
        + before
        + chunk(b"IDAT", data)
        + after
        + chunk(b"IEND", b"")
    )


def small_window(data: bytes) -> bytes:
    """A valid zlib stream whose header declares a 512-byte window (libpng assumes 32 KiB)."""
    packer = zlib.compressobj(wbits=9)
    return packer.compress(data) + packer.flush()


def test_damaged_or_unusual_files_are_left_to_pillow():
    rows = b"".join(b"\x00" + bytes(range(y, y + 3)) for y in range(2))
    assert simple_png(rebuilt(3, 2, rows)) == (3, 2, 1)
    exif = chunk(b"eXIf", b"MM\x00*\x00\x00\x00\x08\x00\x00")
    xmp = chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + b"x" * 100)
    refused = {
        "EXIF after the image data": rebuilt(3, 2, rows, after=exif),
        "compressed or international text": rebuilt(3, 2, rows, before=xmp),
        "a short gAMA": rebuilt(3, 2, rows, before=chunk(b"gAMA", b"\x00\x01")),
        "an empty sRGB": rebuilt(3, 2, rows, before=chunk(b"sRGB", b"")),
        "a short pHYs": rebuilt(3, 2, rows, before=chunk(b"pHYs", b"\x00" * 5)),
        "gAMA and sRGB": rebuilt(
            3, 2, rows, before=chunk(b"sRGB", b"\x00") + chunk(b"gAMA", (45455).to_bytes(4, "big"))
        ),
        "an APNG frame without acTL": rebuilt(3, 2, rows, after=chunk(b"fdAT", b"\x00" * 8)),
        "rows missing": rebuilt(3, 2, rows[:-4]),
        "rows left over": rebuilt(3, 2, rows + b"\x00abc"),
        "a bad filter type": rebuilt(3, 2, b"\x07" + rows[1:]),
        "data after the zlib stream": rebuilt(3, 2, rows, idat=zlib.compress(rows) + b"xx"),
        "no IEND": rebuilt(3, 2, rows)[:-12],
        "a tEXt keyword Pillow reads": rebuilt(3, 2, rows, before=chunk(b"tEXt", b"exif\x00MM")),
        "a tEXt without keyword end": rebuilt(3, 2, rows, before=chunk(b"tEXt", b"Comment")),
        "IEND with data": rebuilt(3, 2, rows)[:-12] + chunk(b"IEND", b"x"),
        "a gAMA over 2^31": rebuilt(3, 2, rows, before=chunk(b"gAMA", b"\x80\x00\x00\x01")),
        "a small zlib window": rebuilt(3, 2, rows, idat=small_window(rows)),
        "larger than the fast path pays for": rebuilt(100, 100, b"\x00" * 10100),
        "a duplicate pHYs": rebuilt(3, 2, rows, before=chunk(b"pHYs", b"\x00" * 9) * 2),
        "pHYs after the image data": rebuilt(3, 2, rows, after=chunk(b"pHYs", b"\x00" * 9)),
        "IDAT interrupted": rebuilt(
            3,
            2,
            rows,
            idat=zlib.compress(rows)[:5],
            after=chunk(b"tEXt", b"k\x00v") + chunk(b"IDAT", zlib.compress(rows)[5:]),
        ),
    }
    assert zlib.decompress(small_window(rows)) == rows
    for name, data in refused.items():
        assert simple_png(data) is None, name
    text = chunk(b"tEXt", b"Comment\x00hi")
    before = text + chunk(b"pHYs", b"\x00" * 8 + b"\x01") + chunk(b"sBIT", b"\x08")
    after = text + text + chunk(b"tIME", b"\x07\xea\x0b\x17\x11\x1e\x00")
    assert simple_png(rebuilt(3, 2, rows, before=before, after=after)) == (3, 2, 1)


def test_the_fast_path_array_is_read_only_like_pillows(tmp_path, rng):
    path = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (4, 4), dtype=np.uint8)).save(path)
    array = decode_file(str(path), DecodeSettings()).array
    assert not array.flags.writeable


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
    assert simple_png(bytes(data)) is None  # left to Pillow, which names the problem
    with pytest.raises(DecodeError, match="corrupt or truncated image"):
        decode_file(str(path), DecodeSettings())
    truncated = tmp_path / "cut.png"
    truncated.write_bytes(good[: idat + 10])
    with pytest.raises(DecodeError, match="corrupt or truncated image"):
        decode_file(str(truncated), DecodeSettings())


def test_a_pad_value_the_pixels_cannot_hold_names_the_file(tmp_path, rng):
    from imgprep.errors import InputError

    path = tmp_path / "x.png"
    Image.fromarray(rng.integers(0, 256, (4, 6), dtype=np.uint8)).save(path)
    assert simple_png(path.read_bytes()) is not None
    settings = DecodeSettings(size=(8, 8), resize_mode="fit", pad_value="300")
    with pytest.raises(InputError, match=r"x\.png\)$"):
        decode_file(str(path), settings)
