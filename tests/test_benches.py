"""The benchmark scripts' own cases still run against the library (they are not part of the
timed suite, and a changed signature once broke one unnoticed). Each case runs on a few
generated files, in process; the figures themselves are not checked, the arithmetic is."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from PIL import Image

import imgprep

BENCH = Path(__file__).resolve().parent.parent / "bench"


@pytest.fixture
def benches(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))


@pytest.fixture
def digits(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray]:
    """Two class folders of 28x28 grayscale PNGs, as the MNIST tree the benches write."""
    root = tmp_path / "digits"
    arrays = []
    for label in range(2):
        (root / str(label)).mkdir(parents=True)
        for index in range(5):
            array = rng.integers(0, 256, (28, 28), dtype=np.uint8)
            Image.fromarray(array, "L").save(root / str(label) / f"{label}{index:04d}.png")
            arrays.append(array)
    return root, np.stack(arrays)


@pytest.fixture
def photos(tmp_path: Path, rng: np.random.Generator) -> Path:
    root = tmp_path / "photos"
    for label in ("a", "b"):
        (root / label).mkdir(parents=True)
        for index in range(2):
            array = rng.integers(0, 256, (60 + index, 80, 3), dtype=np.uint8)
            Image.fromarray(array).save(root / label / f"{index:04d}.jpg", quality=90)
    return root


def test_fit_stats_bench_cases(benches, digits):
    import fit_stats_bench

    root, arrays = digits
    assert fit_stats_bench.child_decode(root)["pixels"] == arrays.size
    assert fit_stats_bench.child_decode2(root)["pixels"] == arrays.size
    result = fit_stats_bench.child_numpy(root)
    assert result["mean"] == pytest.approx(arrays.mean(dtype=np.float64), rel=1e-12)
    assert result["std"] == pytest.approx(arrays.std(dtype=np.float64), rel=1e-12)


def test_transform_bench_scripts(benches, digits, photos, tmp_path):
    import transform_bench

    root, _ = digits
    transform_bench.child_mnist_script(root, tmp_path / "m.h5")
    with h5py.File(tmp_path / "m.h5") as handle:
        images = handle["images"][:]
    assert images.shape == (10, 28, 28, 1)
    assert abs(float(images.mean())) < 1e-5 and float(images.std()) == pytest.approx(1, abs=1e-4)
    assert transform_bench.child_photo_decode(photos)["images"] == 4
    for script in (transform_bench.child_photo_script, transform_bench.child_photo_script_stats):
        out = tmp_path / f"{script.__name__}.h5"
        assert script(photos, out)["images"] == 4
        with h5py.File(out) as handle:
            assert handle["images"].shape == (4, 224, 224, 3)
    with h5py.File(tmp_path / "child_photo_script_stats.h5") as handle:
        normalized = handle["images"][:].reshape(-1, 3)
    np.testing.assert_allclose(normalized.mean(axis=0), 0, atol=1e-4)


@pytest.mark.dask
def test_dask_bench_driver_cost(benches, digits, tmp_path):
    pytest.importorskip("dask")
    import dask_bench

    root, _ = digits
    stats = tmp_path / "stats.json"
    imgprep.write_stats(imgprep.compute_stats([str(root)]), str(stats))
    result = dask_bench.child_driver_cost(root, stats, tmp_path)
    assert result["images"] == 10 and result["plan_s"] >= 0


def test_augment_ops_bench_imgprep_cases(benches, rng):
    import augment_ops_bench

    images = [rng.integers(0, 256, (224, 224, 3), dtype=np.uint8) for _ in range(2)]
    cases = augment_ops_bench.imgprep_cases(images)
    assert {name for name, _ in cases} == {
        *augment_ops_bench.OPERATIONS,
        augment_ops_bench.WHOLE_SET,
        *augment_ops_bench.EXTRA_OPTIONS,
        "imgprep float32 round trip",
    }
    outputs = {name: case() for (name, _), case in cases.items()}
    for name, out in outputs.items():
        shape = (200, 200, 3) if name == "random crop 200x200" else (224, 224, 3)
        assert out.dtype == np.uint8 and out.shape == shape
    np.testing.assert_array_equal(outputs["imgprep float32 round trip"], images[1])
    luma = np.asarray(Image.fromarray(images[1]).convert("L"))
    np.testing.assert_array_equal(outputs["grayscale"], np.repeat(luma[:, :, None], 3, axis=2))
    contrast = (images[1] - images[1].mean(axis=(0, 1))) * 1.2 + images[1].mean(axis=(0, 1))
    # float32 kernel against this float64 formula: a tie may round either way, hence atol 1
    np.testing.assert_allclose(outputs["contrast"], np.clip(np.rint(contrast), 0, 255), atol=1)
    times = {("hue", "imgprep"): [3.0, 1.0, 2.0], ("hue", "albumentations"): [4.0, 5.0]}
    (row,) = augment_ops_bench.summarize(times)
    assert row.imgprep == (1.0, 2.0) and row.albumentations == (4.0, 4.5) and row.ratio == 0.25


def test_duplicates_bench_cases(benches, digits, photos):
    import duplicates_bench

    _, arrays = digits
    images = [Image.open(path).convert("RGB") for path in sorted(photos.glob("*/*.jpg"))]
    result = duplicates_bench.quality(images, arrays)
    assert len(result["photo_pairs"]) == 6 and len(result["digit_pairs"]) == 45
    assert set(result["recall"]) == set(duplicates_bench.EDITS)
    assert (result["recall"]["jpeg 90"] <= 64).all()
    lines = duplicates_bench.search_speed(arrays, 3, 4)
    assert lines[0].startswith("profiles of 13 digits")
    assert "13 hashes, near 4, with splits" in lines[2]


def test_resize_bench_cases_and_pixel_errors(benches, photos, tmp_path):
    """The three commands run and write what ``pixel_errors`` compares; the script's rows
    are Pillow's full-decode bilinear exactly, Pillow's backend within the draft's
    rounding, OpenCV's within its bound."""
    import subprocess

    import resize_bench

    for command in resize_bench.cases(photos, tmp_path).values():
        subprocess.run(command, check=True)
    errors = resize_bench.pixel_errors(photos, tmp_path)
    assert errors["script"] == (0.0, 0, 0)
    assert errors["imgprep pillow"] == (0.0, 0, 0)  # photos under 2x the size: no draft
    mean, p99, largest = errors["imgprep opencv"]  # enlarging: both interpolate linearly
    assert 0 < mean < 0.3 and p99 == largest == 1  # (0.21, 1, 1 here): rounding only
    assert errors["Pillow bicubic (for scale)"][0] > 5  # random pixels: filters disagree
