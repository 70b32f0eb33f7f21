"""imgprep.api: pipelines from config, stats and HDF5 files; images from paths, bytes, PIL
images and arrays; the ZCA sidecar a pipeline loads lazily."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

import imgprep
from imgprep.api import (
    SidecarWhitening,
    pipeline_from_config,
    pipeline_from_hdf5,
    pipeline_from_stats,
    prepare_image,
    zca_whitening,
)
from imgprep.cli import main
from imgprep.config import DecodeSettings, PipelineOptions
from imgprep.io.stats_io import read_stats, write_stats
from imgprep.run.stats_pass import compute_stats
from imgprep.transforms.pipeline import Pipeline
from imgprep.transforms.steps import STEP_TYPES
from tests.conftest import stats_of, write_image
from tests.transforms.test_steps import CONFIGS


def test_the_api_is_exported_from_imgprep():
    assert imgprep.pipeline_from_config is pipeline_from_config
    assert imgprep.pipeline_from_hdf5 is pipeline_from_hdf5
    assert imgprep.pipeline_from_stats is pipeline_from_stats
    assert imgprep.prepare_image is prepare_image
    assert imgprep.PipelineOptions is PipelineOptions
    assert {"pipeline_from_config", "prepare_image"} <= set(imgprep.__all__)


def test_prepare_image_takes_a_path_pil_image_array_and_batch(tmp_path: Path, images):
    gray = np.stack(
        [
            np.asarray(Image.fromarray(i).convert("L").resize((5, 4), Image.Resampling.BILINEAR))
            for i in images
        ]
    )[..., None]
    options = PipelineOptions(
        decode=DecodeSettings(color="grayscale", size=(5, 4)), center="featurewise"
    )
    pipeline = Pipeline(options, stats_of(gray))
    path = tmp_path / "a.png"
    Image.fromarray(images[0]).save(path)
    from_path = prepare_image(pipeline, str(path))
    expected = gray[0].astype(np.float64) - float(gray.astype(np.float64).mean())
    assert from_path.tobytes() == expected.astype(np.float32).tobytes()
    assert prepare_image(pipeline, path).tobytes() == from_path.tobytes()  # a PathLike too
    assert prepare_image(pipeline, path.read_bytes()).tobytes() == from_path.tobytes()
    np.testing.assert_array_equal(prepare_image(pipeline, Image.open(path)), from_path)
    np.testing.assert_array_equal(prepare_image(pipeline, images[0]), from_path)  # RGB -> L
    batch = prepare_image(pipeline, images[:2])
    assert batch.shape == (2, 4, 5, 1)
    np.testing.assert_array_equal(batch[0], from_path)


def test_pipeline_from_stats_uses_the_files_space(tmp_path: Path, images):
    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    settings = DecodeSettings(color="grayscale", size=(4, 3))
    stats = compute_stats([str(tmp_path)], settings=settings)
    path = tmp_path / "s.json"
    write_stats(stats, str(path))
    pipeline = pipeline_from_stats(str(path), rescale=1 / 255)
    assert pipeline.decode == settings
    out = np.stack([prepare_image(pipeline, str(tmp_path / f"{i}.png")) for i in range(6)])
    assert out.shape == (6, 3, 4, 1)
    assert abs(float(out.astype(np.float64).mean())) < 1e-6
    assert abs(float(out.astype(np.float64).std()) - 1) < 1e-4


@pytest.fixture
def zca_stats(tmp_path: Path, rng) -> Path:
    """A stats file with a ZCA sidecar, fitted at rescale 1/255 on 9 x 7 x 3 images."""
    folder = tmp_path / "d"
    for index in range(40):
        write_image(folder / f"{index:02d}.png", rng.integers(0, 256, (9, 7, 3), dtype=np.uint8))
    out = tmp_path / "s.json"
    args = ["fit-stats", str(folder), "-q", "-o", str(out), "--zca", "--rescale", "1/255"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("name", list(STEP_TYPES))
def test_a_config_file_round_trips_for_every_registered_step(name, tmp_path, zca_stats):
    config = tmp_path / "p.toml"
    lines = [f"{key} = {json.dumps(value)}\n" for key, value in CONFIGS[name].items()]
    config.write_text("".join(lines) + f'stats = "{zca_stats.name}"\n')  # beside the config
    pipeline = pipeline_from_config(str(config))
    assert name in [step.name for step in pipeline.steps]
    assert pipeline.to_config() == CONFIGS[name]
    again = tmp_path / "again.toml"
    again.write_text("".join(f"{k} = {json.dumps(v)}\n" for k, v in pipeline.to_config().items()))
    assert pipeline_from_config(str(again), stats=str(zca_stats)).describe() == (
        pipeline.describe()
    )


def test_the_sidecar_travels_as_its_path_and_loads_once_per_process(zca_stats, rng):
    stats = read_stats(str(zca_stats))
    source = zca_whitening(stats)
    assert isinstance(source, SidecarWhitening)
    assert source.path == str(zca_stats.parent / "s.zca.npz")  # beside the stats file
    assert source.shape == (9, 7, 3) and source.sha256 == stats.zca["sha256"]
    first = source.load()
    assert source.load() is first  # loaded once
    assert first.whitening.shape == (189, 189)
    shipped = pickle.dumps(source)
    assert len(shipped) < 1000  # the path and checksum, never the 189 x 189 matrix
    assert pickle.loads(shipped).load().whitening.tobytes() == first.whitening.tobytes()
    assert zca_whitening(stats_of(rng.integers(0, 9, (2, 3, 3, 1), dtype=np.uint8))) is None
    pipeline = pipeline_from_stats(stats, rescale=1 / 255, center=None, standardize=None)
    assert [step.name for step in pipeline.steps] == ["rescale"]  # no --zca: no sidecar read


def test_a_transform_output_gives_back_its_pipeline(tmp_path: Path, zca_stats):
    out = tmp_path / "o.h5"
    folder = zca_stats.parent / "d"
    args = ["transform", str(folder), "-q", "-o", str(out), "--zca", "--rescale", "1/255"]
    result = CliRunner().invoke(main, [*args, "--stats", str(zca_stats)])
    assert result.exit_code == 0, result.output
    pipeline = pipeline_from_hdf5(str(out))
    assert pipeline.to_config() == {"rescale": 1 / 255, "zca": True}
    with h5py.File(out) as handle:
        rel = handle["paths"][0].decode()
        row = handle["images"][0]
        recorded = json.loads(handle.attrs["pipeline"])
    assert json.loads(json.dumps(pipeline.describe())) == recorded
    assert prepare_image(pipeline, str(folder / rel)).tobytes() == row.tobytes()


def test_every_public_name_exists():
    for name in imgprep.__all__:
        assert hasattr(imgprep, name), name
    assert imgprep.pipeline_from_hdf5 and imgprep.normalization_args
