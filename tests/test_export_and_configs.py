"""Normalization arguments for other libraries, and every shipped config file."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.api import pipeline_from_config, pipeline_from_hdf5, prepare_image
from imgprep.cli import main
from imgprep.errors import InputError
from imgprep.export import normalization_args, normalization_code
from imgprep.run.stats_pass import compute_stats
from tests.conftest import make_dataset, reference_stats

CONFIGS = sorted((Path(__file__).parent.parent / "configs").glob("*.toml"))


def test_arguments_are_on_each_library_scale(dataset):
    root, arrays = dataset
    stats = compute_stats([str(root)])
    ref = reference_stats(list(arrays.values()))
    torch = normalization_args(stats, "torchvision")
    np.testing.assert_allclose(torch["mean"], ref["mean"] / 255, rtol=1e-12)
    np.testing.assert_allclose(torch["std"], ref["std"] / 255, rtol=1e-12)
    keras = normalization_args(stats, "keras")
    np.testing.assert_allclose(keras["mean"], ref["mean"], rtol=1e-12)
    np.testing.assert_allclose(keras["variance"], ref["std"] ** 2, rtol=1e-12)
    album = normalization_args(stats, "albumentations")
    assert album["max_pixel_value"] == 255.0
    np.testing.assert_allclose(album["mean"], ref["mean"] / 255, rtol=1e-12)
    glob = normalization_args(stats, "torchvision", scope="global")
    assert glob["mean"] == [pytest.approx(ref["global_mean"] / 255, rel=1e-12)]
    with pytest.raises(InputError, match="unknown framework"):
        normalization_args(stats, "jax")


def test_code_lines_evaluate_to_the_arguments(dataset):
    root, _ = dataset
    stats = compute_stats([str(root)])
    line = normalization_code(stats, "keras")
    assert line.startswith("keras.layers.Normalization(mean=[")
    kwargs = eval("dict(" + line.split("(", 1)[1])  # the printed code is valid Python
    assert kwargs == normalization_args(stats, "keras")


def test_export_stats_command(dataset, tmp_path: Path):
    root, _ = dataset
    runner = CliRunner()
    path = tmp_path / "s.json"
    runner.invoke(main, ["fit-stats", str(root), "-o", str(path), "-q"])
    result = runner.invoke(main, ["export-stats", str(path)])
    assert result.exit_code == 0
    assert [line.split("(")[0] for line in result.stdout.splitlines()] == [
        "torchvision.transforms.Normalize",
        "keras.layers.Normalization",
        "albumentations.Normalize",
    ]
    as_json = runner.invoke(main, ["export-stats", str(path), "--for", "keras", "--json"])
    assert list(json.loads(as_json.stdout)) == ["keras"]
    missing = runner.invoke(main, ["export-stats", str(tmp_path / "none.json")])
    assert missing.exit_code == 2 and "stats file not found" in missing.stderr


@pytest.mark.parametrize("config", CONFIGS, ids=lambda p: p.name)
def test_every_shipped_config_runs(config: Path, tmp_path: Path, rng):
    root = tmp_path / "data"
    make_dataset(root, rng, classes=("x", "y"), per_class=3, shape=(40, 50, 3), ext=".jpg")
    out = tmp_path / "out.h5"
    result = CliRunner().invoke(
        main, ["transform", "--config", str(config), str(root), "-o", str(out), "-q"]
    )
    assert result.exit_code == 0, result.output
    pipeline = pipeline_from_hdf5(str(out))
    with h5py.File(out) as f:
        first = root / f["paths"][0].decode()
        np.testing.assert_array_equal(prepare_image(pipeline, str(first)), f["images"][0])
    assert pipeline_from_config(str(config), stats=pipeline.stats).describe() == pipeline.describe()


def test_a_config_may_give_the_split_as_a_list_and_the_seed_as_text(tmp_path, rng):
    from click.testing import CliRunner

    from imgprep.cli import main
    from tests.conftest import make_dataset

    make_dataset(tmp_path / "d", rng, per_class=5, shape=(4, 4, 3))
    config = tmp_path / "c.toml"
    config.write_text('split = ["train=0.8", "val=0.2"]\nseed = "7"\n')
    out = tmp_path / "o.h5"
    result = CliRunner().invoke(
        main, ["transform", str(tmp_path / "d"), "-o", str(out), "-q", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    import h5py

    with h5py.File(out) as handle:
        assert (len(handle["train/images"]), len(handle["val/images"])) == (8, 2)


def test_export_stats_global_scope(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    path = tmp_path / "s.json"
    runner.invoke(main, ["fit-stats", str(root), "-q", "-o", str(path)])
    result = runner.invoke(
        main, ["export-stats", str(path), "--for", "keras", "--stats-scope", "global", "--json"]
    )
    assert result.exit_code == 0
    pixels = np.stack(list(arrays.values())).astype(np.float64)
    keras = json.loads(result.stdout)["keras"]
    assert keras["mean"] == [pytest.approx(pixels.mean(), rel=1e-12)]
    assert keras["variance"] == [pytest.approx(pixels.var(), rel=1e-12)]
