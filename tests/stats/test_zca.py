"""ZCA whitening fitted by fit-stats --zca: textbook numbers, worker invariance, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from imgprep.errors import ImgprepError, InputError
from imgprep.io.zca_sidecar import read_zca
from imgprep.run.zca_pass import check_memory
from imgprep.stats.zca import ZcaAccumulator
from tests.conftest import write_image


def correlated_images(rng: np.random.Generator, count: int, shape=(4, 4, 3)) -> np.ndarray:
    """uint8 images whose pixels are correlated (a shared brightness plus noise)."""
    base = rng.integers(40, 200, (count, 1, 1, 1))
    noise = rng.integers(-40, 40, (count, *shape))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


def textbook_zca(images: np.ndarray, epsilon: float, rescale: float):
    x = images.reshape(len(images), -1).astype(np.float64) * rescale
    mean = x.mean(axis=0)
    sigma = (x - mean).T @ (x - mean) / len(x)  # ddof=0
    u, s, _ = np.linalg.svd(sigma)
    return mean, (u / np.sqrt(s + epsilon)) @ u.T


@pytest.fixture
def zca_dataset(tmp_path: Path, rng) -> tuple[Path, np.ndarray]:
    images = correlated_images(rng, 150)
    for index, image in enumerate(images):
        write_image(tmp_path / "d" / f"{index:03d}.png", image)
    return tmp_path / "d", images


def fit(runner: CliRunner, root: Path, out: Path, *args: str):
    return runner.invoke(main, ["fit-stats", str(root), "-q", "-o", str(out), "--zca", *args])


def test_whitening_matrix_equals_textbook_zca(zca_dataset, tmp_path: Path):
    root, images = zca_dataset
    out = tmp_path / "s.json"
    result = fit(CliRunner(), root, out, "--rescale", "1/255", "--zca-epsilon", "1e-5")
    assert result.exit_code == 0, result.output
    described = json.loads(out.read_text())["zca"]
    assert described["file"] == "s.zca.npz" and described["dimension"] == 48
    assert described["zca_epsilon"] == 1e-5 and described["exact"] is True
    fitted = read_zca(str(out), described)
    mean, whitening = textbook_zca(images, 1e-5, 1 / 255)
    np.testing.assert_allclose(fitted.mean, mean, rtol=1e-12)
    np.testing.assert_allclose(
        fitted.whitening, whitening, rtol=1e-6, atol=1e-6 * np.abs(whitening).max()
    )


def test_whitened_data_has_identity_covariance():
    rng = np.random.default_rng(3)
    images = correlated_images(rng, 2000, shape=(2, 2, 2))
    acc = ZcaAccumulator(shape=(2, 2, 2))
    acc.update(images[:700])
    acc.update(images[700:])
    zca = acc.fit(epsilon=1e-10)
    white = zca.whiten(images).reshape(len(images), -1)
    np.testing.assert_allclose(np.cov(white.T, bias=True), np.eye(8), atol=1e-6)


def test_sidecar_is_identical_for_one_and_two_workers(zca_dataset, tmp_path: Path):
    root, _ = zca_dataset
    runner = CliRunner()
    outputs = []
    for workers, batch in (("1", "256"), ("2", "7")):
        out = tmp_path / f"s{workers}.json"
        assert fit(runner, root, out, "-j", workers, "--batch-size", batch).exit_code == 0
        outputs.append((tmp_path / f"s{workers}.zca.npz").read_bytes())
    assert outputs[0] == outputs[1]


def test_too_large_a_dimension_is_refused_with_the_memory_needed():
    with pytest.raises(InputError, match=r"needs about 1,012.9 GiB .*pass a smaller 'size'"):
        check_memory(224 * 224 * 3, 1, available=16 * 2**30)
    check_memory(32 * 32 * 3, 2, available=16 * 2**30)


def test_usage_errors(zca_dataset, tmp_path: Path, rng):
    root, _ = zca_dataset
    runner = CliRunner()
    no_output = runner.invoke(main, ["fit-stats", str(root), "--zca"])
    assert no_output.exit_code == 2 and "--zca needs -o" in no_output.stderr
    rescale_alone = runner.invoke(main, ["fit-stats", str(root), "--rescale", "1/255"])
    assert (
        rescale_alone.exit_code == 2 and "--rescale only applies with --zca" in rescale_alone.stderr
    )
    write_image(tmp_path / "m/a.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    write_image(tmp_path / "m/b.png", rng.integers(0, 256, (5, 4, 3), dtype=np.uint8))
    mixed = fit(runner, tmp_path / "m", tmp_path / "m.json")
    assert mixed.exit_code == 2 and "ZCA needs every image to have one shape" in mixed.stderr
    assert not (tmp_path / "m.json").exists()


def test_a_tampered_sidecar_is_refused(zca_dataset, tmp_path: Path):
    root, _ = zca_dataset
    out = tmp_path / "s.json"
    assert fit(CliRunner(), root, out).exit_code == 0
    sidecar = tmp_path / "s.zca.npz"
    sidecar.write_bytes(sidecar.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(ImgprepError, match="checksum differs"):
        read_zca(str(out), json.loads(out.read_text())["zca"])


def test_merge_with_zca_is_a_usage_error(zca_dataset, tmp_path: Path):
    root, _ = zca_dataset
    runner = CliRunner()
    runner.invoke(main, ["fit-stats", str(root), "-q", "-o", str(tmp_path / "a.json")])
    result = runner.invoke(
        main, ["fit-stats", "--merge", str(tmp_path / "a.json"), str(tmp_path / "a.json"), "--zca"]
    )
    assert result.exit_code == 2 and "--zca cannot be used with --merge" in result.stderr


@pytest.mark.parametrize("epsilon", ["0", "inf", "-1"])
def test_epsilon_must_be_positive_and_finite(zca_dataset, tmp_path: Path, epsilon):
    root, _ = zca_dataset
    result = fit(CliRunner(), root, tmp_path / "e.json", f"--zca-epsilon={epsilon}")
    assert result.exit_code == 2 and "positive finite number" in result.stderr
    with pytest.raises(InputError, match="positive finite"):
        ZcaAccumulator(shape=(1, 1, 1)).fit(epsilon=float(epsilon))


def test_float_images_give_the_same_matrix_for_any_workers(tmp_path: Path, monkeypatch):
    from PIL import Image

    from imgprep.config import DecodeSettings
    from imgprep.io.discover import discover
    from imgprep.run.zca_pass import compute_zca

    rng = np.random.default_rng(5)
    for index in range(40):
        image = (rng.random((3, 3)) * 10.0 ** rng.integers(-3, 4)).astype(np.float32)
        Image.fromarray(image, "F").save(tmp_path / f"{index:02d}.tif")
    monkeypatch.setattr("imgprep.run.zca_pass.SHARE_IMAGES", 7)
    items = discover([str(tmp_path)]).items
    fits = [
        compute_zca(items, DecodeSettings(), (3, 3, 1), workers=workers).fit().whitening.tobytes()
        for workers in (1, 2, 3)
    ]
    assert fits[0] == fits[1] == fits[2]


def test_float_sidecar_does_not_depend_on_batch_size(tmp_path: Path):
    from PIL import Image

    rng = np.random.default_rng(9)
    for index in range(60):
        image = (rng.random((3, 3)) * 10.0 ** rng.integers(-3, 4)).astype(np.float32)
        Image.fromarray(image, "F").save(tmp_path / f"{index:02d}.tif")
    runner = CliRunner()
    sidecars = []
    for batch in ("3", "256"):
        out = tmp_path / f"b{batch}.json"
        result = runner.invoke(
            main, ["fit-stats", str(tmp_path), "-q", "--zca", "-o", str(out), "--batch-size", batch]
        )
        assert result.exit_code == 0, result.output
        sidecars.append((tmp_path / f"b{batch}.zca.npz").read_bytes())
    assert sidecars[0] == sidecars[1]
