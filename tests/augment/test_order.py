"""The chain's ``order`` (TOML ``order = [...]``, ``--order``): operations run as named."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from imgprep.augment import AugmentSettings, augment
from imgprep.augment.chain import to_dtype
from imgprep.augment.recorded import settings_from
from imgprep.augment.registry import BY_NAME, OPERATIONS
from imgprep.augment.warp import warp_copy
from imgprep.cli import main
from imgprep.errors import InputError
from tests.conftest import make_dataset

DEFAULT = tuple(op.name for op in OPERATIONS)


def sample(settings, shape, count=8, seed=5):
    return settings.sample(
        seed=seed, split=0, indices=np.arange(count), copies=np.ones(count, int), shape=shape
    )


@pytest.mark.parametrize(
    "values",
    [
        {"rotation_range": 30, "brightness_delta": 0.2, "erasing_prob": 1.0},
        {"random_crop": (9, 7), "contrast_range": (0.5, 1.5), "blur_sigma": (0.5, 1.5)},
        {"horizontal_flip": True, "hue_delta": 0.3, "noise_std": (0.01, 0.1)},
        {"brightness_delta": 0.4},
    ],
)
@pytest.mark.parametrize("dtype", [np.uint8, np.float32])
def test_the_default_order_written_out_gives_the_same_copies(rng, values, dtype):
    image = (rng.random((14, 12, 3)) * (255 if dtype is np.uint8 else 1)).astype(dtype)
    plain = AugmentSettings(**values)
    ordered = AugmentSettings(**values, order=DEFAULT)
    for params in sample(plain, image.shape):
        for keep in (True, False):
            np.testing.assert_array_equal(
                augment(image, params, ordered, keep_dtype=keep),
                augment(image, params, plain, keep_dtype=keep),
            )


def test_a_given_order_composes_the_operations_as_named(rng):
    image = rng.integers(0, 256, (16, 14, 3), dtype=np.uint8)
    values = {"rotation_range": 25, "brightness_delta": 0.3, "erasing_prob": 1.0}
    settings = AugmentSettings(**values, order=("erasing", "affine", "brightness-delta"))
    for params in sample(settings, image.shape):
        work = image.astype(np.float32)
        work = BY_NAME["erasing"].apply(work, params, settings, source_dtype=image.dtype)
        work = warp_copy(
            work, params, (BY_NAME["affine"],), fill_mode="nearest", cval=settings.cval
        )
        work = BY_NAME["brightness-delta"].apply(work, params, settings, source_dtype=image.dtype)
        np.testing.assert_array_equal(
            augment(image, params, settings, keep_dtype=True), to_dtype(work, np.uint8)
        )
        default = augment(image, params, AugmentSettings(**values), keep_dtype=True)
        assert not np.array_equal(default, to_dtype(work, np.uint8))  # the order matters


def test_operations_are_sampled_for_the_shape_they_take():
    before = AugmentSettings(random_crop=(6, 5), erasing_prob=1.0, order=("erasing", "crop"))
    after = AugmentSettings(random_crop=(6, 5), erasing_prob=1.0)
    shape = (40, 30, 3)
    early = np.array(
        [(p.erase_top + p.erase_height, p.erase_height) for p in sample(before, shape, 400)]
    )
    late = np.array(
        [(p.erase_top + p.erase_height, p.erase_height) for p in sample(after, shape, 400)]
    )
    assert early[:, 0].max() > 20 and late[:, 0].max() <= 5  # the decoded image, the 6x5 crop


@pytest.mark.parametrize(
    "order,message",
    [
        (("affine",), "'order' must name every operation the run uses: erasing missing"),
        (("affine", "erasing", "bogus"), "unknown bogus; name operations of affine, crop"),
        (("affine", "erasing", "affine"), "each name once"),
    ],
)
def test_refusals(order, message):
    with pytest.raises(InputError, match=message):
        AugmentSettings(rotation_range=5, erasing_prob=0.5, order=order)


def test_toml_and_command_line(runner, tmp_path, rng):
    root = tmp_path / "data"
    make_dataset(root, rng, shape=(12, 10, 3))
    config = tmp_path / "c.toml"
    config.write_text(
        'rotation-range = 20\nerasing-prob = 1\norder = ["erasing", "affine"]\nseed = 4\n'
    )
    outs = []
    for args in (
        ["--config", str(config)],
        [
            "--rotation-range",
            "20",
            "--erasing-prob",
            "1",
            "--order",
            "erasing,affine",
            "--seed",
            "4",
        ],
    ):
        out = tmp_path / f"o{len(outs)}.h5"
        result = runner.invoke(main, ["transform", *args, str(root), "-o", str(out), "-q"])
        assert result.exit_code == 0, result.output
        with h5py.File(out) as f:
            outs.append((f["images"][:], json.loads(f.attrs["augmentation"])))
    np.testing.assert_array_equal(outs[0][0], outs[1][0])
    assert outs[0][1]["order"] == ["erasing", "affine"]
    assert settings_from(outs[0][1]).order == ("erasing", "affine")
    bad = tmp_path / "bad.toml"
    bad.write_text("rotation-range = 20\norder = 5\n")
    result = runner.invoke(
        main, ["transform", "--config", str(bad), str(root), "-o", str(tmp_path / "x.h5")]
    )
    assert result.exit_code == 2
    assert "key 'order' must be a list of operation names" in result.output
