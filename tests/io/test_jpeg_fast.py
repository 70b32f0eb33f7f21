"""The JPEG fast path (``imgprep.io.jpeg_fast``): Pillow's pixels bit for bit, or Pillow itself."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

import imgprep.io.decode as decode_module
from imgprep.config import DecodeSettings
from imgprep.errors import DecodeError
from imgprep.io.decode import decode_file
from imgprep.run.stats_pass import compute_stats


def _photo(rng, width: int = 61, height: int = 47) -> Image.Image:
    """A smooth scene with edges: chroma and luma both carry detail, as in photos."""
    canvas = Image.new("RGB", (width, height), tuple(int(v) for v in rng.integers(0, 256, 3)))
    draw = ImageDraw.Draw(canvas)
    for _ in range(6):
        x, y = int(rng.integers(0, width)), int(rng.integers(0, height))
        box = (x, y, x + int(rng.integers(1, width + 4)), y + int(rng.integers(1, height + 4)))
        draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    noise = rng.integers(-12, 13, (height, width, 3))
    array = np.clip(np.asarray(canvas.filter(ImageFilter.GaussianBlur(1))) + noise, 0, 255)
    return Image.fromarray(array.astype(np.uint8))


VARIANTS = {
    "4:4:4": {"subsampling": 0},
    "4:2:2": {"subsampling": 1},
    "4:2:0": {"subsampling": 2},
    "progressive": {"progressive": True},
    "optimized": {"optimize": True, "quality": 90},
    "quality 30": {"quality": 30},
    "quality 97": {"quality": 97, "subsampling": 0},
}
SETTINGS = [
    DecodeSettings(),
    DecodeSettings(color="rgb"),
    DecodeSettings(bit_depth=16),
    DecodeSettings(exif="ignore"),
    DecodeSettings(size=(20, 30), jpeg_draft=False),
    DecodeSettings(size=(20, 30), resize_mode="fit", jpeg_draft=False),
]


def _pillow_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(decode_module, "maybe_jpeg", lambda data: False)


def _both(path: Path, settings: DecodeSettings, monkeypatch) -> tuple[np.ndarray, np.ndarray]:
    fast = decode_file(str(path), settings).array
    with monkeypatch.context() as patch:
        _pillow_only(patch)
        slow = decode_file(str(path), settings).array
    return fast, slow


def _spy(monkeypatch) -> list[int]:
    calls: list[int] = []
    original = decode_module.decode_jpeg

    def counted(data, image, scale=1):
        calls.append(scale)
        return original(data, image, scale)

    monkeypatch.setattr(decode_module, "decode_jpeg", counted)
    return calls


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("size", [(61, 47), (17, 23), (1, 1), (160, 8)])
def test_common_jpegs_decode_to_pillows_pixels(tmp_path, rng, monkeypatch, variant, size):
    path = tmp_path / "x.jpg"
    _photo(rng, *size).save(path, "JPEG", **VARIANTS[variant])
    calls = _spy(monkeypatch)
    for settings in SETTINGS:
        fast, slow = _both(path, settings, monkeypatch)
        assert fast.dtype == slow.dtype and fast.shape == slow.shape
        np.testing.assert_array_equal(fast, slow)
        assert fast.flags.writeable == slow.flags.writeable
    assert calls  # the fast path was taken


def test_grayscale_jpegs_too(tmp_path, rng, monkeypatch):
    path = tmp_path / "g.jpeg"
    _photo(rng).convert("L").save(path, "JPEG", quality=80)
    for settings in (DecodeSettings(), DecodeSettings(color="grayscale")):
        fast, slow = _both(path, settings, monkeypatch)
        assert fast.shape == (47, 61, 1)
        np.testing.assert_array_equal(fast, slow)


def _exif(orientation: int) -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    return exif.tobytes()


@pytest.mark.parametrize(
    "name, save, settings",
    [
        ("cmyk", lambda im, p: im.convert("CMYK").save(p, "JPEG"), DecodeSettings()),
        ("rotated", lambda im, p: im.save(p, "JPEG", exif=_exif(6)), DecodeSettings()),
        ("to grey", lambda im, p: im.save(p, "JPEG"), DecodeSettings(color="grayscale")),
        ("trailing", lambda im, p: p.write_bytes(_bytes(im) + b"\x00junk"), DecodeSettings()),
    ],
)
def test_what_pillow_interprets_is_left_to_pillow(tmp_path, rng, monkeypatch, name, save, settings):
    path = tmp_path / f"{name}.jpg"
    save(_photo(rng, 40, 30), path)
    calls = _spy(monkeypatch)
    fast, slow = _both(path, settings, monkeypatch)
    np.testing.assert_array_equal(fast, slow)
    assert calls == []


def test_an_upright_exif_photo_takes_the_fast_path(tmp_path, rng, monkeypatch):
    path = tmp_path / "upright.jpg"
    _photo(rng).save(path, "JPEG", exif=_exif(1))
    calls = _spy(monkeypatch)
    fast, slow = _both(path, DecodeSettings(), monkeypatch)
    np.testing.assert_array_equal(fast, slow)
    assert calls


def _bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG")
    return buffer.getvalue()


def test_a_truncated_jpeg_is_still_an_error(tmp_path, rng):
    data = _bytes(_photo(rng, 80, 60))
    path = tmp_path / "cut.jpg"
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(DecodeError, match="corrupt or truncated image"):
        decode_file(str(path), DecodeSettings())


def test_bomb_limit_is_checked_as_before(tmp_path, rng, monkeypatch):
    path = tmp_path / "big.jpg"
    _photo(rng, 40, 30).save(path, "JPEG")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 99)
    with pytest.raises(DecodeError, match="decompression bomb"):
        decode_file(str(path), DecodeSettings())


def test_statistics_of_a_jpeg_folder_are_byte_identical(tmp_path, rng, monkeypatch):
    for index, variant in enumerate(VARIANTS.values()):
        _photo(rng, 50 + index, 40).save(tmp_path / f"{index}.jpg", "JPEG", **variant)
    fast = compute_stats([str(tmp_path)], settings=DecodeSettings(color="rgb")).to_json()
    _pillow_only(monkeypatch)
    slow = compute_stats([str(tmp_path)], settings=DecodeSettings(color="rgb")).to_json()
    assert fast == slow


def test_corrupt_entropy_data_gives_the_same_pixels_on_both_paths(tmp_path, rng, monkeypatch):
    """libjpeg decodes past damaged scan data (both libraries use it the same way); only the
    warning it prints differs (README)."""
    data = bytearray(_bytes(_photo(rng, 80, 60)))
    for trial in range(8):
        damaged = bytearray(data)
        where = int(rng.integers(len(data) // 3, len(data) - 4))
        damaged[where] = int(rng.integers(0, 256))
        if trial % 2:
            damaged = damaged[:where] + damaged[where + 40 :]  # a gap; the EOI stays last
        path = tmp_path / f"damaged{trial}.jpg"
        path.write_bytes(bytes(damaged))
        try:
            fast, slow = _both(path, DecodeSettings(), monkeypatch)
        except DecodeError:
            with monkeypatch.context() as patch:
                _pillow_only(patch)
                with pytest.raises(DecodeError):
                    decode_file(str(path), DecodeSettings())
            continue
        np.testing.assert_array_equal(fast, slow)


def test_a_draft_at_full_scale_takes_the_fast_path(tmp_path, rng, monkeypatch):
    """With jpeg_draft (the default) and a photo under twice the target size, Pillow's draft
    keeps the full scale: the same pixels, decoded here."""
    path = tmp_path / "p.jpg"
    _photo(rng, 61, 47).save(path, "JPEG")
    for settings in (
        DecodeSettings(size=(40, 30)),
        DecodeSettings(size=(40, 30), resize_mode="fill"),
    ):
        calls = _spy(monkeypatch)
        fast, slow = _both(path, settings, monkeypatch)
        np.testing.assert_array_equal(fast, slow)
        assert calls


@pytest.mark.parametrize("variant", ["4:2:0", "4:4:4", "progressive", "quality 30"])
@pytest.mark.parametrize("size", [(320, 240), (333, 251), (97, 183)])
def test_drafted_jpegs_decode_to_pillows_reduced_pixels(tmp_path, rng, monkeypatch, variant, size):
    """A photo over twice the target size: Pillow drafts it at 1/2, 1/4 or 1/8 and OpenCV,
    asked for the same libjpeg scale, gives the same pixels (odd sides included: both round
    each side up)."""
    path = tmp_path / "big.jpg"
    _photo(rng, *size).save(path, "JPEG", **VARIANTS[variant])
    width, height = size
    scales: set[int] = set()
    for target in (
        (width // 4, height // 4),  # drafted at 1/2 (2x the pixels kept)
        (width // 8, height // 8),  # 1/4
        (max(1, width // 19), max(1, height // 19)),  # 1/8
    ):
        for mode in ("stretch", "fit", "fill"):
            settings = DecodeSettings(size=target, resize_mode=mode)
            calls = _spy(monkeypatch)
            fast, slow = _both(path, settings, monkeypatch)
            np.testing.assert_array_equal(fast, slow)
            assert len(calls) == 1  # on this path
            scales.add(calls[0])
    assert {2, 4} <= scales  # reduced decodes, not only full-scale ones
    gray = tmp_path / "gray.jpg"
    _photo(rng, *size).convert("L").save(gray, "JPEG")
    calls = _spy(monkeypatch)
    fast, slow = _both(gray, DecodeSettings(size=(width // 5, height // 5)), monkeypatch)
    np.testing.assert_array_equal(fast, slow)
    assert calls == [2]


def test_draft_scale_is_libjpegs_rounding():
    from imgprep.io.jpeg_fast import draft_scale

    assert draft_scale((333, 251), (333, 251)) == 1
    assert draft_scale((333, 251), (167, 126)) == 2
    assert draft_scale((333, 251), (42, 32)) == 8
    assert draft_scale((333, 251), (166, 126)) is None
