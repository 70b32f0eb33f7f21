"""Every registered step: its shape and dtype contract, its input untouched, its numbers against
NumPy, its recorded parameters, and the config round trip (to_config -> the one parser -> the
same step)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from imgprep.config import PipelineOptions
from imgprep.config_file import load_config, pipeline_options
from imgprep.errors import ImgprepError, InputError
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from imgprep.stats.zca import ZcaFit
from imgprep.transforms.pipeline import Pipeline
from imgprep.transforms.steps import (
    ELEMENTWISE,
    STEP_TYPES,
    FittedWhitening,
    ZcaWhiten,
    build_steps,
)

SHAPE = (9, 7, 3)
DIMENSION = 9 * 7 * 3


def stats_with_zca(images: np.ndarray) -> Stats:
    """Statistics of ``images`` whose ``zca`` names a (fake) sidecar fitted at rescale 1/255."""
    acc = MomentAccumulator()
    acc.update(list(images))
    zca = {
        "file": "s.zca.npz",
        "sha256": "0" * 64,
        "zca_epsilon": 1e-6,
        "rescale": 1 / 255,
        "shape": list(SHAPE),
        "dimension": DIMENSION,
        "images": len(images),
        "exact": True,
    }
    stats = Stats(acc, dtype=images.dtype.name, zca=zca)
    stats.source_images = list(images)  # type: ignore[attr-defined]  # for expected()
    return stats


def whitening(rng: np.random.Generator) -> FittedWhitening:
    """A random fit (mean, W) held in memory: the step's numbers are checkable."""
    mean = rng.normal(size=DIMENSION)
    matrix = rng.normal(size=(DIMENSION, DIMENSION))
    ones = np.ones(DIMENSION)
    return FittedWhitening(ZcaFit(SHAPE, mean, matrix, ones, 1e-6, 1 / 255, 1, True), "/x.npz")


# One config per registered step: the keys that select it (the test below checks that every
# registered step has one, so a new step cannot be added without its round trip).
CONFIGS = {
    "clip_percentiles": {"clip-percentiles": [2.0, 98.5]},
    "rescale": {"rescale": 1 / 255},
    "samplewise_center": {"center": "samplewise", "stats-scope": "channel"},
    "samplewise_standardize": {"standardize": "samplewise", "epsilon": 1e-3},
    "zca": {"rescale": 1 / 255, "zca": True},
    "featurewise_center": {"center": "featurewise", "stats-scope": "global"},
    "featurewise_standardize": {"standardize": "featurewise", "rescale": 0.5, "dtype": "float16"},
}


def expected(name: str, image: np.ndarray, stats: Stats, fit: ZcaFit) -> np.ndarray:
    """The step's numbers, written independently in float64."""
    x = image.astype(np.float64)
    if name == "clip_percentiles":  # each channel's exact percentiles of every stats pixel
        pixels = np.stack(stats.source_images).reshape(-1, x.shape[-1])
        low, high = np.percentile(pixels, [2.0, 98.5], axis=0, method="inverted_cdf")
        return np.clip(x, low, high)
    if name == "rescale":
        return x / 255
    if name == "samplewise_center":
        return x - x.mean(axis=(0, 1))
    if name == "samplewise_standardize":
        return x / (x.std() + 1e-3)
    if name == "zca":
        return ((x.reshape(-1) / 255 - fit.mean) @ fit.whitening).reshape(x.shape)
    if name == "featurewise_center":
        return x - stats.global_mean
    return x / (np.asarray(stats.std) * 0.5 + 1e-6)


def test_every_registered_step_has_a_config():
    assert set(CONFIGS) == set(STEP_TYPES)


def test_the_registry_is_in_the_documented_order():
    assert list(STEP_TYPES) == [
        "clip_percentiles",
        "rescale",
        "samplewise_center",
        "samplewise_standardize",
        "zca",
        "featurewise_center",
        "featurewise_standardize",
    ]


@pytest.mark.parametrize("name", list(STEP_TYPES))
def test_every_step_contract_and_config_round_trip(name, rng, tmp_path: Path):
    images = rng.integers(0, 256, (4, *SHAPE), dtype=np.uint8)
    stats, source = stats_with_zca(images), whitening(rng)
    options = pipeline_options(CONFIGS[name])
    pipeline = Pipeline(options, stats, whitening=source)
    (step,) = [step for step in pipeline.steps if step.name == name]
    assert isinstance(step, STEP_TYPES[name])
    image = images[0]
    before = image.copy()
    incoming = image.astype(np.float64) / 255 if name == "zca" else image  # after rescale
    out = step(incoming)
    kept = name == "clip_percentiles"  # a clip keeps the pixels' dtype
    assert out.shape == image.shape and out.dtype == (image.dtype if kept else np.float64)
    np.testing.assert_array_equal(image, before)  # the input is left alone
    np.testing.assert_allclose(out, expected(name, image, stats, source.fit), rtol=1e-12)
    assert type(step)(**step.params()) == step  # the recorded parameters rebuild it
    json.dumps(step.params())  # and are JSON-ready
    if isinstance(step, ELEMENTWISE):  # the in-place form gives the very same numbers
        work = image.astype(np.float64)
        step.apply_inplace(work)
        assert work.tobytes() == step(image).astype(np.float64).tobytes()
    else:
        assert not hasattr(step, "apply_inplace")
    # to_config gives the keys the pipeline came from; through a TOML file and the one
    # parser they give the very same steps.
    config = pipeline.to_config()
    assert config == CONFIGS[name]
    path = tmp_path / "p.toml"
    path.write_text("".join(f"{key} = {json.dumps(value)}\n" for key, value in config.items()))
    again = pipeline_options(load_config(str(path)))
    assert again == options
    assert build_steps(again, stats, source) == pipeline.steps


def test_default_options_give_no_steps_and_an_empty_config():
    assert PipelineOptions().to_config() == {}
    assert build_steps(PipelineOptions(), None) == []


def test_featurewise_numbers_are_scaled_into_the_rescaled_space(rng):
    images = rng.integers(0, 256, (4, *SHAPE), dtype=np.uint8)
    stats = stats_with_zca(images)
    options = PipelineOptions(rescale=-0.5, center="featurewise", standardize="featurewise")
    center, standardize = build_steps(options, stats)[1:]
    np.testing.assert_allclose(center.mean, np.asarray(stats.mean) * -0.5, rtol=1e-15)
    np.testing.assert_allclose(standardize.std, np.asarray(stats.std) * 0.5, rtol=1e-15)


def test_zca_refuses_another_rescale_and_stats_without_a_fit(rng):
    images = rng.integers(0, 256, (4, *SHAPE), dtype=np.uint8)
    stats = stats_with_zca(images)
    with pytest.raises(InputError) as info:
        build_steps(PipelineOptions(zca=True, rescale=0.5), stats, whitening(rng))
    assert info.value.for_command_line() == (
        "ZCA was fitted with --rescale 0.00392157; pass the same --rescale (got 0.5)"
    )
    stats.zca = None
    with pytest.raises(InputError) as info:
        build_steps(PipelineOptions(zca=True), stats)
    assert str(info.value) == "'zca' needs 'stats' STATS.json written by fit-stats 'zca'"
    assert info.value.for_command_line() == (
        "--zca needs --stats STATS.json written by fit-stats --zca"
    )


def test_zca_refuses_an_image_of_another_shape(rng):
    step = ZcaWhiten("/x.npz", "0" * 64, 1e-6, DIMENSION, SHAPE, source=whitening(rng))
    with pytest.raises(InputError) as info:
        step(np.zeros((7, 9, 3)))
    assert info.value.for_command_line() == (
        "ZCA was fitted on 9x7x3 (HxWxC) images, this one is 7x9x3; pass --size and --color "
        "as for fit-stats"
    )
    with pytest.raises(ImgprepError, match="has no whitening source"):
        ZcaWhiten("/x.npz", "0" * 64, 1e-6, DIMENSION, SHAPE)(np.zeros(SHAPE))


def test_a_per_channel_step_refuses_another_channel_count(rng):
    images = rng.integers(0, 256, (4, 9, 7, 2), dtype=np.uint8)
    acc = MomentAccumulator()
    acc.update(list(images))
    (step,) = build_steps(PipelineOptions(center="featurewise"), Stats(acc))
    with pytest.raises(ImgprepError) as info:
        step(np.zeros(SHAPE))
    assert info.value.for_command_line() == (
        "featurewise mean has 2 channel(s) but the image has 3; compute the stats with the "
        "same --color"
    )
