"""Decoding rules: modes, colour conversion, 16-bit, EXIF, formats and every bad-file path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError
from imgprep.io.decode import decode_image
from tests.conftest import png16_rgb, png_bytes, write_image


def decode(path: Path, **settings: object) -> np.ndarray:
    return decode_image(str(path), DecodeSettings(**settings))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("shape", "mode"), [((9, 7), "L"), ((9, 7, 3), "RGB"), ((9, 7, 4), "RGBA"), ((9, 7, 2), "LA")]
)
def test_keep_returns_the_stored_pixels(tmp_path: Path, rng: np.random.Generator, shape, mode):
    array = rng.integers(0, 256, shape, dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array, mode)
    out = decode(path)
    assert out.dtype == np.uint8
    assert out.shape == (9, 7, shape[2] if len(shape) == 3 else 1)
    np.testing.assert_array_equal(out.reshape(array.shape), array)


@pytest.mark.parametrize("ext", [".bmp", ".tif", ".webp", ".ppm", ".gif"])
def test_lossless_formats_round_trip(tmp_path: Path, rng: np.random.Generator, ext: str):
    if ext == ".gif":  # palette format: use few colours so it is lossless
        array = np.repeat(rng.integers(0, 4, (6, 5, 1), dtype=np.uint8) * 60, 3, axis=2)
        save: dict[str, object] = {}
    else:
        array = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
        save = {"lossless": True} if ext == ".webp" else {}
    path = write_image(tmp_path / f"a{ext}", array, **save)
    np.testing.assert_array_equal(decode(path, color="rgb"), array)


def test_pgm_is_single_channel(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    path = write_image(tmp_path / "a.pgm", array)
    np.testing.assert_array_equal(decode(path)[:, :, 0], array)


def test_grayscale_is_itu_r_601_2_luma(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array)
    out = decode(path, color="grayscale")[:, :, 0].astype(np.int64)
    r, g, b = (array[:, :, i].astype(np.int64) for i in range(3))
    expected = (r * 299 + g * 587 + b * 114) / 1000
    assert out.shape == (16, 16)
    assert np.abs(out - expected).max() <= 0.5 + 1e-9  # the luma, rounded to the nearest integer


def test_grayscale_matches_keras_load_img_rule(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (8, 8, 4), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array, "RGBA")
    expected = np.asarray(Image.open(path).convert("L"))  # what Keras' load_img does
    np.testing.assert_array_equal(decode(path, color="grayscale")[:, :, 0], expected)


def test_rgb_from_grayscale_replicates(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (5, 4), dtype=np.uint8)
    out = decode(write_image(tmp_path / "a.png", array), color="rgb")
    assert out.shape == (5, 4, 3)
    for c in range(3):
        np.testing.assert_array_equal(out[:, :, c], array)


def test_rgba_adds_opaque_alpha(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (5, 4, 3), dtype=np.uint8)
    out = decode(write_image(tmp_path / "a.png", array), color="rgba")
    np.testing.assert_array_equal(out[:, :, :3], array)
    assert (out[:, :, 3] == 255).all()


def test_palette_without_transparency_becomes_rgb(tmp_path: Path):
    image = Image.new("P", (4, 3))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "p.png")
    out = decode(tmp_path / "p.png")
    assert out.shape == (3, 4, 3)
    assert out[0, 0].tolist() == [10, 20, 30]
    assert out[1, 1].tolist() == [200, 100, 50]


def test_palette_with_transparency_becomes_rgba(tmp_path: Path):
    image = Image.new("P", (4, 3))
    image.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    image.putpixel((1, 1), 1)
    image.save(tmp_path / "p.png", transparency=0)
    out = decode(tmp_path / "p.png")
    assert out.shape == (3, 4, 4)
    assert out[0, 0].tolist() == [10, 20, 30, 0]
    assert out[1, 1].tolist() == [200, 100, 50, 255]


def test_bilevel_becomes_0_and_255(tmp_path: Path):
    image = Image.new("1", (3, 2))
    image.putpixel((0, 0), 1)
    image.save(tmp_path / "b.png")
    out = decode(tmp_path / "b.png")
    assert out.dtype == np.uint8
    assert out[:, :, 0].tolist() == [[255, 0, 0], [0, 0, 0]]


def test_cmyk_becomes_rgb_as_pillow_converts(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    Image.fromarray(array, "CMYK").save(tmp_path / "c.tif")
    expected = np.asarray(Image.fromarray(array, "CMYK").convert("RGB"))
    np.testing.assert_array_equal(decode(tmp_path / "c.tif"), expected)


def test_16bit_grayscale_keeps_all_16_bits(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 65536, (7, 6), dtype=np.uint16)
    array[0, 0] = 65535
    path = tmp_path / "g16.png"
    Image.fromarray(array).save(path)
    out = decode(path)
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[:, :, 0], array)
    rgb = decode(path, color="rgb")
    assert rgb.dtype == np.uint16 and rgb.shape == (7, 6, 3)
    np.testing.assert_array_equal(rgb[:, :, 2], array)
    rgba = decode(path, color="rgba")
    assert (rgba[:, :, 3] == 65535).all()
    np.testing.assert_array_equal(decode(path, color="grayscale")[:, :, 0], array)


def test_16bit_colour_png_is_refused_not_truncated(tmp_path: Path, rng: np.random.Generator):
    path = tmp_path / "c16.png"
    path.write_bytes(png16_rgb(rng.integers(0, 65536, (3, 4, 3), dtype=np.uint16)))
    with pytest.raises(DecodeError, match="more than 8 bits per sample"):
        decode(path)


def test_float_tiff_stays_float32(tmp_path: Path, rng: np.random.Generator):
    array = rng.normal(size=(5, 6)).astype(np.float32)
    Image.fromarray(array, "F").save(tmp_path / "f.tif")
    out = decode(tmp_path / "f.tif")
    assert out.dtype == np.float32
    np.testing.assert_array_equal(out[:, :, 0], array)


def test_gif_takes_the_first_frame(tmp_path: Path):
    frames = [Image.new("L", (4, 4), value) for value in (30, 200)]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    out = decode(tmp_path / "anim.gif", color="grayscale")
    assert (out == 30).all()


def _exif_jpeg(path: Path, orientation: int) -> np.ndarray:
    """A 16x8 (W x H) JPEG whose left half is black and right half white."""
    array = np.zeros((8, 16, 3), dtype=np.uint8)
    array[:, 8:] = 255
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(array).save(path, exif=exif, quality=100)
    return array


def test_exif_orientation_is_applied_by_default(tmp_path: Path):
    path = tmp_path / "rotated.jpg"
    _exif_jpeg(path, orientation=6)  # stored landscape, displayed rotated 90 degrees clockwise
    out = decode(path, color="grayscale")[:, :, 0]
    assert out.shape == (16, 8)
    # Rotated clockwise: the stored left (black) half becomes the top.
    assert out[:6].mean() < 20 and out[10:].mean() > 235


def test_exif_orientation_can_be_ignored_as_keras(tmp_path: Path):
    path = tmp_path / "rotated.jpg"
    _exif_jpeg(path, orientation=6)
    out = decode(path, color="grayscale", exif="ignore")[:, :, 0]
    assert out.shape == (8, 16)
    assert out[:, :6].mean() < 20 and out[:, 10:].mean() > 235


def test_resize_happens_after_colour(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array)
    out = decode(path, color="grayscale", size=(15, 10), resample="bilinear")
    gray = Image.open(path).convert("L").resize((15, 10), Image.Resampling.BILINEAR)
    np.testing.assert_array_equal(out[:, :, 0], np.asarray(gray))


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file (0 bytes)"),
        (b"this is text, not a picture\n", "not an image imgprep reads"),
    ],
)
def test_bad_files_name_the_reason(tmp_path: Path, content: bytes, reason: str):
    path = tmp_path / "bad.jpg"
    path.write_bytes(content)
    with pytest.raises(DecodeError) as info:
        decode(path)
    assert info.value.path == str(path)
    assert reason in info.value.reason
    assert str(info.value).startswith(str(path) + ": ")


def test_truncated_png_is_reported(tmp_path: Path, rng: np.random.Generator):
    good = write_image(tmp_path / "good.png", rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
    data = good.read_bytes()
    path = tmp_path / "truncated.png"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="corrupt or truncated"):
        decode(path)


def test_missing_file_is_reported(tmp_path: Path):
    with pytest.raises(DecodeError, match="cannot read"):
        decode(tmp_path / "nope.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path: Path):
    path = tmp_path / "bomb.png"  # header claims 20000 x 20000 pixels; no real data needed
    path.write_bytes(png_bytes(20000, 20000, 1, 0, b"\x00"))
    with pytest.raises(DecodeError, match="decompression bomb refused"):
        decode(path)


def test_32bit_integer_image_out_of_16bit_range_is_refused(tmp_path: Path):
    array = np.array([[0, 70000]], dtype=np.int32)
    Image.fromarray(array, "I").save(tmp_path / "i.tif")
    with pytest.raises(DecodeError, match=r"outside 0..65535"):
        decode(tmp_path / "i.tif")


def test_32bit_integer_image_in_range_becomes_uint16(tmp_path: Path):
    array = np.array([[0, 65535], [7, 300]], dtype=np.int32)
    Image.fromarray(array, "I").save(tmp_path / "i.tif")
    out = decode(tmp_path / "i.tif")
    assert out.dtype == np.uint16
    np.testing.assert_array_equal(out[:, :, 0], array)


def test_misnamed_file_still_decodes(tmp_path: Path, rng: np.random.Generator):
    array = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    path = tmp_path / "really-a-bmp.png"
    Image.fromarray(array).save(path, format="BMP")
    np.testing.assert_array_equal(decode(path), array)


def test_large_files_are_streamed_with_the_same_result(tmp_path: Path, rng, monkeypatch):
    array = rng.integers(0, 256, (40, 30, 3), dtype=np.uint8)
    path = write_image(tmp_path / "a.png", array)
    monkeypatch.setattr("imgprep.io.decode._READ_WHOLE_BYTES", 16)
    np.testing.assert_array_equal(decode(path), array)


def test_a_directory_is_not_an_image(tmp_path: Path):
    with pytest.raises(DecodeError, match="not a regular file"):
        decode(tmp_path)


def _large_photo(path: Path, rng: np.random.Generator) -> None:
    """A 1600 x 1200 JPEG with smooth structure (a gradient and blobs) and mild noise."""
    y, x = np.mgrid[0:1200, 0:1600]
    base = 128 + 60 * np.sin(x / 90.0) * np.cos(y / 70.0) + rng.normal(0, 4, (1200, 1600))
    rgb = np.stack([base, base[::-1], base[:, ::-1]], axis=-1).clip(0, 255).astype(np.uint8)
    Image.fromarray(rgb).save(path, quality=92)


def test_jpeg_draft_is_used_when_shrinking_and_stays_close(tmp_path: Path, rng, monkeypatch):
    from PIL import JpegImagePlugin

    path = tmp_path / "big.jpg"
    _large_photo(path, rng)
    calls: list[tuple[int, int]] = []
    original = JpegImagePlugin.JpegImageFile.draft

    def spy(self, mode, size):
        calls.append(size)
        return original(self, mode, size)

    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", spy)
    fast = decode(path, color="rgb", size=(200, 150))
    # twice the pixels the resize needs (asked by the JPEG fast path, then by Pillow's own)
    assert calls and set(calls) == {(400, 300)}
    count = len(calls)
    exact = decode(path, color="rgb", size=(200, 150), jpeg_draft=False)
    assert len(calls) == count
    difference = np.abs(fast.astype(int) - exact.astype(int))
    assert fast.shape == exact.shape == (150, 200, 3)
    assert difference.mean() < 1.0 and np.percentile(difference, 99) <= 3


def test_jpeg_draft_not_used_without_resize_or_for_small_shrinks(tmp_path: Path, rng, monkeypatch):
    from PIL import JpegImagePlugin

    path = tmp_path / "big.jpg"
    _large_photo(path, rng)
    calls: list[object] = []
    monkeypatch.setattr(JpegImagePlugin.JpegImageFile, "draft", lambda *a: calls.append(a))
    decode(path, color="rgb")
    decode(path, color="rgb", size=(1000, 800))
    assert calls == []


def _tiff16_rgb_deflate(array: np.ndarray) -> bytes:
    """A deflate-compressed 16-bit RGB TIFF (Pillow cannot write one), built by hand."""
    import struct
    import zlib

    height, width, _ = array.shape
    data = zlib.compress(array.astype("<u2").tobytes())
    ifd_offset, count = 8, 9
    bits_offset = ifd_offset + 2 + count * 12 + 4
    data_offset = bits_offset + 6
    entries = [
        (256, 3, 1, width), (257, 3, 1, height), (258, 3, 3, bits_offset), (259, 3, 1, 8),
        (262, 3, 1, 2), (273, 4, 1, data_offset), (277, 3, 1, 3), (278, 3, 1, height),
        (279, 4, 1, len(data)),
    ]  # fmt: skip
    out = b"II*\0" + struct.pack("<IH", ifd_offset, count)
    for tag, kind, n, value in entries:
        if kind == 3 and n == 1:
            out += struct.pack("<HHIHH", tag, kind, n, value, 0)
        else:
            out += struct.pack("<HHII", tag, kind, n, value)
    return out + struct.pack("<I", 0) + struct.pack("<HHH", 16, 16, 16) + data


@pytest.mark.parametrize("kind", ["tiff-deflate", "ppm", "tiff-raw"])
def test_other_16bit_colour_files_are_refused_not_truncated(tmp_path: Path, rng, kind):
    array = rng.integers(256, 65536, (3, 4, 3), dtype=np.uint16)
    if kind == "tiff-deflate":
        path = tmp_path / "c16.tif"
        path.write_bytes(_tiff16_rgb_deflate(array))
    elif kind == "ppm":
        path = tmp_path / "c16.ppm"
        path.write_bytes(b"P6\n4 3\n65535\n" + array.astype(">u2").tobytes())
    else:
        path = tmp_path / "c16raw.tif"
        path.write_bytes(
            _tiff16_rgb_deflate(array).replace(
                b"\x03\x01\x03\x00\x01\x00\x00\x00\x08\x00",
                b"\x03\x01\x03\x00\x01\x00\x00\x00\x01\x00",
            )
        )
    with pytest.raises(DecodeError, match="more than 8 bits per sample"):
        decode(path)


def test_float_image_with_nan_is_refused(tmp_path: Path):
    array = np.ones((3, 3), np.float32)
    array[1, 1] = np.nan
    Image.fromarray(array, "F").save(tmp_path / "nan.tif")
    with pytest.raises(DecodeError, match="NaN or infinite"):
        decode(tmp_path / "nan.tif")
