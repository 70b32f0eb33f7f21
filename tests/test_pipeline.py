"""Pipeline steps against an independent NumPy reimplementation of Keras' arithmetic."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from imgprep.config import DecodeSettings, load_config, parse_rescale
from imgprep.errors import ImgprepError, InputError
from imgprep.stats.accumulator import MomentAccumulator
from imgprep.stats.file import Stats
from imgprep.transforms.pipeline import (
    STEP_TYPES,
    Cast,
    FeaturewiseCenter,
    FeaturewiseStandardize,
    Pipeline,
    PipelineOptions,
    Rescale,
    SamplewiseCenter,
    SamplewiseStandardize,
    ZcaWhiten,
    options_from_mapping,
)


def keras_standardize(x, *, rescale=None, sw_center=False, sw_std=False, mean=None, std=None):
    """ImageDataGenerator.standardize, as keras-preprocessing 1.1.2 writes it (float32)."""
    x = x.astype(np.float32).copy()
    if rescale:
        x *= rescale
    if sw_center:
        x -= np.mean(x, keepdims=True)
    if sw_std:
        x /= np.std(x, keepdims=True) + 1e-6
    if mean is not None:
        x -= mean
    if std is not None:
        x /= std + 1e-6
    return x


def keras_fit(x):
    """ImageDataGenerator.fit's featurewise statistics: per channel, float32 input."""
    x = x.astype(np.float32)
    return np.mean(x, axis=(0, 1, 2)).reshape(1, 1, -1), np.std(x, axis=(0, 1, 2)).reshape(1, 1, -1)


def stats_of(images: np.ndarray) -> Stats:
    acc = MomentAccumulator()
    acc.update(list(images))
    return Stats(acc, dtype=images.dtype.name)


@pytest.fixture
def images(rng) -> np.ndarray:
    return rng.integers(0, 256, (6, 9, 7, 3), dtype=np.uint8)


@pytest.mark.parametrize("rescale", [None, 1 / 255])
@pytest.mark.parametrize(
    ("center", "standardize"),
    [
        ("samplewise", None),
        (None, "samplewise"),
        ("samplewise", "samplewise"),
        ("featurewise", None),
        (None, "featurewise"),
        ("featurewise", "featurewise"),
        ("samplewise", "featurewise"),
    ],
)
def test_matches_keras_standardize_to_float32_precision(images, rescale, center, standardize):
    stats = stats_of(images)
    scaled = images.astype(np.float32) * (rescale or 1)
    mean, std = keras_fit(scaled)  # Keras fitted on the data as the model sees it
    options = PipelineOptions(rescale=rescale, center=center, standardize=standardize)
    pipeline = Pipeline(options, stats if options.needs_stats else None)
    for image in images:
        expected = keras_standardize(
            image,
            rescale=rescale,
            sw_center=center == "samplewise",
            sw_std=standardize == "samplewise",
            mean=mean if center == "featurewise" else None,
            std=std if standardize == "featurewise" else None,
        )
        out = pipeline.apply(image)
        assert out.dtype == np.float32
        np.testing.assert_allclose(out, expected, rtol=2e-5, atol=2e-6)


def test_featurewise_standardized_data_has_mean_0_std_1(images):
    pipeline = Pipeline(
        PipelineOptions(center="featurewise", standardize="featurewise"), stats_of(images)
    )
    out = np.stack([pipeline.apply_array(image) for image in images]).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=(0, 1, 2)), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=(0, 1, 2)), 1, atol=1e-6)


def test_global_scope_uses_whole_image_statistics(images):
    stats = stats_of(images)
    options = PipelineOptions(center="featurewise", standardize="featurewise", stats_scope="global")
    out = Pipeline(options, stats).apply_array(images[0])
    flat = images.astype(np.float64)
    expected = (images[0] - flat.mean()) / (flat.std() + 1e-6)
    np.testing.assert_allclose(out, expected.astype(np.float32), rtol=1e-6)


def test_samplewise_channel_scope(images):
    options = PipelineOptions(center="samplewise", standardize="samplewise", stats_scope="channel")
    out = Pipeline(options).apply_array(images[0]).astype(np.float64)
    np.testing.assert_allclose(out.mean(axis=(0, 1)), 0, atol=1e-6)
    np.testing.assert_allclose(out.std(axis=(0, 1)), 1, atol=1e-5)


def test_dtype_rules(images):
    assert Pipeline(PipelineOptions()).apply_array(images[0]).dtype == np.uint8
    np.testing.assert_array_equal(Pipeline(PipelineOptions()).apply_array(images[0]), images[0])
    assert Pipeline(PipelineOptions(rescale=0.5)).apply_array(images[0]).dtype == np.float32
    half = Pipeline(PipelineOptions(rescale=0.5, dtype="float16")).apply_array(images[0])
    assert half.dtype == np.float16
    with pytest.raises(InputError, match="--dtype uint8 after rescale"):
        PipelineOptions(rescale=0.5, dtype="uint8")


def test_featurewise_without_stats_is_refused():
    with pytest.raises(InputError, match="needs statistics"):
        Pipeline(PipelineOptions(center="featurewise"))


def test_channel_mismatch_between_stats_and_image_is_named(images):
    gray = stats_of(images[..., :1])
    pipeline = Pipeline(PipelineOptions(center="featurewise"), gray)
    assert pipeline.apply_array(images[0]).shape == (9, 7, 3)  # 1 value broadcasts
    two = stats_of(images[..., :2])
    with pytest.raises(ImgprepError, match="2 channel"):
        Pipeline(PipelineOptions(center="featurewise"), two).apply_array(images[0])


def _identity_sidecar() -> ZcaWhiten:
    """A real sidecar for 9 x 7 x 3 images: zero mean, W = 2 I (so the step is checkable)."""
    import tempfile

    from imgprep.io.zca_sidecar import write_sidecar
    from imgprep.stats.zca import ZcaFit

    dimension = 9 * 7 * 3
    fit = ZcaFit(
        (9, 7, 3),
        np.zeros(dimension),
        2 * np.eye(dimension),
        np.ones(dimension),
        1e-6,
        1.0,
        1,
        True,
    )
    path = os.path.join(tempfile.mkdtemp(prefix="imgprep-test-zca-"), "s.zca.npz")
    sha256 = write_sidecar(fit, path)
    return ZcaWhiten(sidecar=path, sha256=sha256, zca_epsilon=1e-6, dimension=dimension)


STEPS = [
    Rescale(1 / 255),
    SamplewiseCenter("global"),
    SamplewiseCenter("channel"),
    SamplewiseStandardize("global", 1e-6),
    FeaturewiseCenter((1.0, 2.0, 3.0)),
    FeaturewiseStandardize((4.0,), 1e-6),
    _identity_sidecar(),
    Cast("float32"),
]


def test_step_list_covers_every_registered_step():
    assert {type(step).name for step in STEPS} == set(STEP_TYPES)


@pytest.mark.parametrize("step", STEPS, ids=lambda s: f"{type(s).name}")
def test_every_step_keeps_shape_leaves_input_untouched_and_round_trips(step, images):
    image = images[0]
    before = image.copy()
    out = step(image)
    assert out.shape == image.shape
    assert out.dtype in (np.float64, np.float32)
    np.testing.assert_array_equal(image, before)
    assert type(step)(**asdict(step)) == step


def test_apply_accepts_path_pil_array_and_batch(tmp_path: Path, images):
    stats = stats_of(images)
    pipeline = Pipeline(
        PipelineOptions(
            decode=DecodeSettings(color="grayscale", size=(5, 4)), center="featurewise"
        ),
        stats_of(
            np.stack(
                [
                    np.asarray(
                        Image.fromarray(i).convert("L").resize((5, 4), Image.Resampling.BILINEAR)
                    )[:, :, None]
                    for i in images
                ]
            )
        ),
    )
    assert stats.channels == 3
    path = tmp_path / "a.png"
    Image.fromarray(images[0]).save(path)
    from_path = pipeline.apply(str(path))
    np.testing.assert_array_equal(pipeline.apply(Image.open(path)), from_path)
    np.testing.assert_array_equal(pipeline.apply(images[0]), from_path)
    batch = pipeline.apply(images[:2])
    assert batch.shape == (2, 4, 5, 1)
    np.testing.assert_array_equal(batch[0], from_path)


def test_config_keys_and_suggestions(tmp_path: Path):
    config = tmp_path / "p.toml"
    config.write_text(
        'color = "grayscale"\nrescale = "1/255"\ncenter = "samplewise"\nsize = "8x6"\n'
    )
    options = options_from_mapping(load_config(str(config)))
    assert options.decode.color == "grayscale" and options.decode.size == (8, 6)
    assert options.rescale == pytest.approx(1 / 255)
    config.write_text('colour = "grayscale"\n')
    with pytest.raises(InputError, match="unknown key 'colour'; did you mean 'color'"):
        load_config(str(config))
    config.write_text("standardise = 1\n")
    with pytest.raises(InputError, match="did you mean 'standardize'"):
        load_config(str(config))


def test_parse_rescale():
    assert parse_rescale("1/255") == 1 / 255
    assert parse_rescale(0.5) == 0.5
    assert parse_rescale("2") == 2.0
    for bad in ("x", "1/0", True):
        with pytest.raises(InputError):
            parse_rescale(bad)


def test_from_stats_uses_the_files_space(tmp_path: Path, images):
    from imgprep.io.stats_io import write_stats
    from imgprep.run.stats_pass import compute_stats

    for i, image in enumerate(images):
        Image.fromarray(image).save(tmp_path / f"{i}.png")
    settings = DecodeSettings(color="grayscale", size=(4, 3))
    stats = compute_stats([str(tmp_path)], settings=settings)
    path = tmp_path / "s.json"
    write_stats(stats, str(path))
    pipeline = Pipeline.from_stats(str(path), rescale=1 / 255)
    assert pipeline.decode == settings
    out = np.stack([pipeline.apply(str(tmp_path / f"{i}.png")) for i in range(len(images))])
    assert out.shape == (6, 3, 4, 1)
    assert abs(float(out.astype(np.float64).mean())) < 1e-6
    assert abs(float(out.astype(np.float64).std()) - 1) < 1e-4


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float16])
@pytest.mark.parametrize(
    "options",
    [
        {"rescale": 1 / 255},
        {"center": "featurewise"},
        {"rescale": 1 / 255, "center": "featurewise", "standardize": "featurewise"},
        {"standardize": "featurewise", "stats_scope": "global"},
        {"rescale": 0.5, "center": "samplewise", "dtype": "float16"},  # not elementwise
    ],
)
def test_a_block_gives_the_bytes_of_each_image_alone(rng, dtype, options):
    """apply_block (in-place float64 work, used on whole written splits) against apply_array."""
    high = 256 if dtype == np.uint8 else 4000
    block = rng.integers(0, high, (7, 5, 4, 3)).astype(dtype)
    pipeline = Pipeline(PipelineOptions(**options), stats_of(block.astype(np.uint16)))
    before = block.copy()
    expected = np.stack([pipeline.apply_array(image) for image in block])
    got = pipeline.apply_block(block)
    assert got.dtype == expected.dtype
    assert got.tobytes() == expected.tobytes()
    assert block.tobytes() == before.tobytes()  # the input is left alone
