"""Profiles (pixel digest, perceptual hash) and the duplicate search, against references."""

from __future__ import annotations

import io
import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from imgprep.duplicates import MAX_NEAR, find_duplicates
from imgprep.profile import (
    PROFILE_DTYPE,
    Profiler,
    hamming,
    mean_and_constant,
    phashes,
    pixel_digest,
    thumbnail,
)


def _dct_phash(thumb: np.ndarray) -> int:
    """pHash from its definition, with an explicit DCT-II sum (no matrix shortcut)."""
    n = np.arange(32)
    coefficients = np.empty((8, 8))
    for u, v in itertools.product(range(8), range(8)):
        cu = np.cos(np.pi * u * (2 * n + 1) / 64)
        cv = np.cos(np.pi * v * (2 * n + 1) / 64)
        coefficients[u, v] = 4 * np.sum(thumb * cu[:, None] * cv[None, :])
    bits = (coefficients > np.median(coefficients)).ravel()
    return int("".join("1" if bit else "0" for bit in bits), 2)


def test_the_hash_is_the_dct_phash_of_the_area_thumbnail(rng):
    images = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in
              [(28, 28, 1), (300, 200, 3), (65, 97, 4), (32, 32, 1)]]  # fmt: skip
    thumbs = [thumbnail(image).astype(np.float64) for image in images]
    assert [int(h) for h in phashes(np.stack(thumbs))] == [_dct_phash(t) for t in thumbs]
    # an RGB thumbnail is the ITU-R 601-2 luma of the area-averaged image
    rgb = images[1]
    import cv2

    factor = 200 // 32
    reduced = cv2.resize(rgb[: 300 // factor * factor, : 200 // factor * factor],
                         (200 // factor, 300 // factor), interpolation=cv2.INTER_AREA)  # fmt: skip
    small = cv2.resize(reduced, (32, 32), interpolation=cv2.INTER_AREA).astype(np.float64)
    np.testing.assert_allclose(thumbnail(rgb), small @ [0.299, 0.587, 0.114], rtol=1e-12)


def test_a_re_encoded_or_resized_photo_stays_near_and_a_different_one_does_not(rng):
    from PIL import ImageDraw, ImageFilter

    canvas = Image.new("RGB", (160, 120), (90, 120, 60))
    draw = ImageDraw.Draw(canvas)
    for _ in range(8):  # a scene of shapes: low frequencies a hash can hold on to
        x, y = rng.integers(0, 140), rng.integers(0, 100)
        w, h = rng.integers(15, 60, 2)
        draw.ellipse((x, y, x + w, y + h), fill=tuple(int(v) for v in rng.integers(0, 256, 3)))
    scene = np.asarray(canvas.filter(ImageFilter.GaussianBlur(2)))
    buffer = io.BytesIO()
    Image.fromarray(scene).save(buffer, "JPEG", quality=60)
    jpeg = np.asarray(Image.open(buffer))
    half = np.asarray(Image.fromarray(scene).resize((80, 60), Image.LANCZOS))
    other = rng.integers(0, 256, scene.shape, dtype=np.uint8)
    hashes = phashes(np.stack([thumbnail(x) for x in (scene, jpeg, half, other)]).astype(float))
    distances = hamming(hashes[:1], hashes)
    assert distances[0] == 0 and distances[1] <= 4 and distances[2] <= 4 and distances[3] > 16


def test_digest_is_of_the_pixels_dtype_and_shape():
    image = np.arange(12, dtype=np.uint8).reshape(2, 2, 3)
    assert pixel_digest(image) == pixel_digest(image.copy())
    assert pixel_digest(image) != pixel_digest(image.reshape(2, 3, 2))
    assert pixel_digest(image) != pixel_digest(image.astype(np.uint16))
    assert pixel_digest(image[:, ::-1]) == pixel_digest(np.ascontiguousarray(image[:, ::-1]))
    assert len(pixel_digest(image)) == 16


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.int16, np.bool_])
def test_mean_and_constant_against_numpy(rng, dtype):
    image = rng.integers(0, 2 if dtype == np.bool_ else 200, (9, 7, 3)).astype(dtype)
    mean, constant = mean_and_constant(image)
    assert mean == pytest.approx(image.astype(np.float64).mean(), rel=1e-12)
    assert constant is False
    assert mean_and_constant(np.full((4, 4, 6), 3, dtype=dtype)) == (pytest.approx(
        1.0 if dtype == np.bool_ else 3.0), True)  # fmt: skip


def test_profiler_rows(rng):
    profiler = Profiler()
    images = [rng.integers(0, 256, (5 + i, 6, 3), dtype=np.uint8) for i in range(3)]
    for index, image in zip((4, 7, 9), images, strict=True):
        profiler.add(index, image)
    rows = profiler.rows()
    assert rows.dtype == PROFILE_DTYPE
    assert rows["index"].tolist() == [4, 7, 9] and rows["height"].tolist() == [5, 6, 7]
    assert rows["digest"].tolist() == [pixel_digest(image) for image in images]
    expected = phashes(np.stack([thumbnail(image) for image in images]).astype(float))
    assert rows["phash"].tolist() == expected.tolist()
    assert len(Profiler().rows()) == 0


def _brute_force_pairs(hashes: np.ndarray, near: int) -> set[tuple[int, int]]:
    return {
        (a, b)
        for a, b in itertools.combinations(range(len(hashes)), 2)
        if bin(int(hashes[a]) ^ int(hashes[b])).count("1") <= near
    }


@settings(max_examples=40, deadline=None)
@given(
    seeds=st.lists(st.integers(0, 2**64 - 1), min_size=1, max_size=12),
    flips=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 63)), max_size=30),
    near=st.integers(0, 8),
)
def test_near_pairs_equal_a_brute_force_search(seeds, flips, near):
    """Every pair of distinct hashes within ``near`` bits is found, and only those."""
    hashes = [seeds[i % len(seeds)] for i in range(12)]
    for index, bit in flips:
        hashes[index] ^= 1 << bit
    hashes = np.array(hashes, dtype=np.uint64)
    digests = np.array([i.to_bytes(16, "big") for i in range(12)], dtype="S16")
    report = find_duplicates(digests, hashes, near=near)
    unique = sorted(set(hashes.tolist()))
    first_of = {h: int(np.flatnonzero(hashes == h)[0]) for h in unique}
    expected = set()
    for a, b in _brute_force_pairs(np.array(unique, dtype=np.uint64), near):
        expected.add(tuple(sorted((first_of[unique[a]], first_of[unique[b]]))))
    for h in unique:  # distinct images with one hash: pairs at distance 0 with its first
        rows = np.flatnonzero(hashes == h).tolist()
        expected.update((rows[0], other) for other in rows[1:])
    found = report.near_pairs
    assert set(zip(found["first"].tolist(), found["second"].tolist(), strict=True)) == expected
    assert len(found) == len(expected)
    for first, second, distance, exact, _ in found.tolist():
        assert distance == bin(int(hashes[first]) ^ int(hashes[second])).count("1")
        assert not exact


def test_exact_groups_and_leaks_across_splits():
    digests = np.array([b"a" * 16, b"b" * 16, b"a" * 16, b"c" * 16, b"d" * 16, b"b" * 16], "S16")
    hashes = np.array([0b1111, 0b0011, 0b1111, 1 << 40, 0b0111, 0b0011], dtype=np.uint64)
    splits = ["train", "val", "test", "val", "test", "test"]
    report = find_duplicates(digests, hashes, splits, near=1)
    assert report.exact_groups == [[0, 2], [1, 5]] and report.exact_images == 4
    near = [(p["first"], p["second"], p["distance"], p["count"]) for p in report.near_pairs]
    assert near == [(0, 4, 1, 2), (1, 4, 1, 2)]  # 0b0111 is 1 bit from 0b1111 and 0b0011
    crossing = [(p["first"], p["second"], p["distance"], p["exact"]) for p in report.cross_split]
    # test 2: identical to train 0; test 4: 1 bit from train 0; test 5: identical to val 1
    assert crossing == [(2, 0, 0, True), (4, 0, 1, False), (5, 1, 0, True)]
    assert [(p["first"], p["second"]) for p in report.leaks] == [(2, 0), (4, 0)]


def test_ten_thousand_copies_of_one_frame_are_one_group_and_no_pairs():
    digests = np.array([b"x" * 16] * 10_000, dtype="S16")
    hashes = np.zeros(10_000, dtype=np.uint64)
    report = find_duplicates(digests, hashes, ["train"] * 5_000 + ["test"] * 5_000, near=4)
    assert len(report.exact_groups) == 1 and report.exact_images == 10_000
    assert len(report.near_pairs) == 0
    assert len(report.leaks) == 5_000 and (report.leaks["second"] == 0).all()
    assert report.leaks["first"].tolist() == list(range(5_000, 10_000))


def test_near_out_of_range_is_refused():
    with pytest.raises(ValueError, match="near must be in"):
        find_duplicates(np.zeros(1, "S16"), np.zeros(1, np.uint64), near=MAX_NEAR + 1)


def test_large_buckets_are_searched_block_by_block(rng):
    """300 hashes sharing their lowest 16 bits (one bucket of 300 in the first piece) plus
    near copies: the same pairs as a brute-force search."""
    low = np.uint64(0xBEEF)
    hashes = (rng.integers(0, 2**48, 300, dtype=np.uint64) << np.uint64(16)) | low
    flipped = hashes[:100] ^ (np.uint64(1) << rng.integers(16, 64, 100).astype(np.uint64))
    hashes = np.concatenate([hashes, flipped])
    digests = np.array([i.to_bytes(16, "big") for i in range(len(hashes))], dtype="S16")
    report = find_duplicates(digests, hashes, near=3)
    found = set(zip(report.near_pairs["first"].tolist(), report.near_pairs["second"].tolist(),
                    strict=True))  # fmt: skip
    assert found == _brute_force_pairs(hashes, 3)
    assert len(found) >= 100


def test_only_flat_images_and_no_images_at_all():
    digests = np.array([b"a" * 16, b"b" * 16, b"a" * 16], dtype="S16")
    flat = np.ones(3, dtype=bool)
    report = find_duplicates(digests, np.zeros(3, np.uint64), ["train", "val", "val"], near=4,
                             flat=flat)  # fmt: skip
    assert report.exact_groups == [[0, 2]] and len(report.near_pairs) == 0
    assert [(p["first"], p["second"]) for p in report.leaks] == [(2, 0)]
    empty = find_duplicates(np.zeros(0, "S16"), np.zeros(0, np.uint64), [], near=4)
    assert empty.images == 0 and len(empty.near_pairs) == 0 and len(empty.cross_split) == 0


def test_small_images_profiled_in_batches_give_the_same_rows(rng, monkeypatch):
    """MNIST- and CIFAR-size images are profiled per batch; the rows are those of profiling
    each alone (means, constancy, hashes), whatever the mix of shapes and channels."""
    import imgprep.profile as profile

    shapes = [(28, 28, 1), (32, 32, 3), (17, 31, 1), (32, 32, 4), (9, 9, 2), (40, 30, 3)]
    images = [rng.integers(0, 256, shapes[i % len(shapes)], dtype=np.uint8) for i in range(300)]
    images[5] = np.full((32, 32, 3), 9, dtype=np.uint8)  # constant

    def profiled() -> np.ndarray:
        profiler = Profiler()
        for index, image in enumerate(images):
            profiler.add(index, image)
        return profiler.rows()

    batched = profiled()
    monkeypatch.setattr(profile, "_batched", lambda image: False)
    alone = profiled()
    assert batched.tobytes() == alone.tobytes()
    assert batched["constant"][5] and not batched["constant"][4]


def test_hamming_without_numpy_2s_bitwise_count(monkeypatch, rng):
    """NumPy 1's path (a 16-bit popcount table, built on first use) counts the same bits."""
    import imgprep.profile as profile

    a = rng.integers(0, 2**63, 500, dtype=np.uint64) * np.uint64(2)
    b = rng.integers(0, 2**63, 500, dtype=np.uint64) + np.uint64(1)
    expected = np.array([bin(int(x) ^ int(y)).count("1") for x, y in zip(a, b, strict=True)])
    np.testing.assert_array_equal(profile.hamming(a, b), expected)

    class OldNumpy:
        def __getattr__(self, name):
            if name == "bitwise_count":
                raise AttributeError(name)
            return getattr(np, name)

    monkeypatch.setattr(profile, "np", OldNumpy())
    np.testing.assert_array_equal(profile.hamming(a, b), expected)
