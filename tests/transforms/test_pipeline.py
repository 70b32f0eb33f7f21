"""The arrays-only Pipeline against an independent NumPy reimplementation of Keras' arithmetic,
its dtype rules and its array input checks."""

from __future__ import annotations

import numpy as np
import pytest

from imgprep.config import DecodeSettings, PipelineOptions
from imgprep.errors import ImgprepError, InputError
from imgprep.transforms.pipeline import Pipeline
from tests.conftest import stats_of


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
    with pytest.raises(InputError, match="'dtype' uint8 after rescale"):
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


ELEMENTWISE_OPTIONS = [
    {"rescale": 1 / 255},
    {"center": "featurewise"},
    {"rescale": 1 / 255, "center": "featurewise", "standardize": "featurewise"},
    {"standardize": "featurewise", "stats_scope": "global"},
]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float16])
@pytest.mark.parametrize(
    "options",
    [
        *ELEMENTWISE_OPTIONS,
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


def test_apply_takes_decoded_arrays_and_batches_in_the_pipelines_colour(images):
    options = PipelineOptions(decode=DecodeSettings(size=(5, 4)), rescale=0.5)
    pipeline = Pipeline(options)
    one = pipeline.apply(images[0])
    assert one.shape == (4, 5, 3) and one.dtype == np.float32
    expected = pipeline.resize(images[0]).astype(np.float64) * 0.5
    assert one.tobytes() == expected.astype(np.float32).tobytes()
    batch = pipeline.apply(images[:2])
    assert batch.shape == (2, 4, 5, 3) and batch[0].tobytes() == one.tobytes()
    gray = Pipeline(PipelineOptions(decode=DecodeSettings(color="grayscale")))
    assert gray.apply(images[0][:, :, 0]).shape == (9, 7, 1)  # H x W is one channel
    with pytest.raises(InputError) as info:
        gray.apply(images[0])
    assert info.value.for_command_line() == (
        "Pipeline.apply: the array has 3 channel(s) but this pipeline's color is grayscale (1); "
        "convert it first, as imgprep.prepare_image does"
    )
    with pytest.raises(InputError, match=r"expected H x W x C or N x H x W x C, got shape \(3,\)"):
        pipeline.apply(np.zeros(3))


def test_an_unfitted_pipeline_has_no_steps_and_keeps_its_options():
    options = PipelineOptions(rescale=0.5, center="featurewise")
    raw = Pipeline.unfitted(options)
    assert raw.steps == [] and raw.stats is None and raw.options is options
    assert raw.output_dtype(np.dtype(np.uint8)) == "float32"
    assert raw.to_config() == {"rescale": 0.5, "center": "featurewise"}


def test_describe_records_each_steps_numbers(images):
    stats = stats_of(images)
    pipeline = Pipeline(PipelineOptions(rescale=0.5, center="featurewise"), stats)
    described = pipeline.describe()
    assert described["options"] == PipelineOptions(rescale=0.5, center="featurewise").to_dict()
    assert described["steps"] == [
        {"step": "rescale", "factor": 0.5},
        {"step": "featurewise_center", "mean": tuple((np.asarray(stats.mean) * 0.5).tolist())},
    ]


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize(
    "options",
    [
        *ELEMENTWISE_OPTIONS,
        {"rescale": 1 / 255, "dtype": "float16"},
        {"center": "featurewise", "standardize": "featurewise", "dtype": "float16"},
    ],
)
def test_a_looked_up_block_is_the_computed_values_for_every_value(rng, dtype, channels, options):
    """apply_block's table lookup (8- and 16-bit blocks) against apply_array image by image,
    on blocks where every channel takes every value of the dtype (in its own order)."""
    every = np.tile(np.arange(np.iinfo(dtype).max + 1, dtype=dtype), 32 if dtype == np.uint8 else 1)
    columns = [rng.permutation(every) for _ in range(channels)]
    block = np.stack(columns, axis=-1).reshape(-1, 8, 8, channels)
    pipeline = Pipeline(PipelineOptions(**options), stats_of(block))
    got = pipeline.apply_block(block)
    assert list(pipeline._tables) == [(np.dtype(dtype).str, channels)]  # looked up
    expected = np.stack([pipeline.apply_array(image) for image in block])
    assert got.dtype == expected.dtype
    assert got.tobytes() == expected.tobytes()
    again = pipeline.apply_block(block[::-1])  # the table is reused
    assert again.tobytes() == expected[::-1].tobytes()
