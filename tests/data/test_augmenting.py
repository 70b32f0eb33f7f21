"""On-the-fly augmentation: epoch e's image is, byte for byte, what ``imgprep transform
--copies K --seed S`` wrote as copy e + 1 of the same image (a real run)."""

from __future__ import annotations

import itertools

import h5py
import numpy as np
import pytest

import imgprep
from imgprep.augment import AugmentSettings
from imgprep.data import H5Images
from imgprep.errors import InputError
from tests.data.conftest import transform

OPTIONS = ["--rotation-range", "20", "--zoom-range", "0.2", "--horizontal-flip",
           "--brightness-range", "0.7,1.3", "--contrast-range", "0.8,1.2"]  # fmt: skip
TABLE = {"rotation-range": 20, "zoom_range": [0.8, 1.2], "horizontal_flip": True,
         "brightness_range": [0.7, 1.3], "contrast_range": [0.8, 1.2]}  # fmt: skip


def copies_of(path, group: str = "") -> dict[tuple[int, int], np.ndarray]:
    """{(source index, copy): row} of a file written with copies."""
    with h5py.File(path, "r") as f:
        images = f[f"{group}images"][:]
        pairs = zip(f[f"{group}source_index"][:], f[f"{group}copy"][:], strict=True)
        return {(int(s), int(c)): images[r] for r, (s, c) in enumerate(pairs)}


def test_each_epoch_is_transforms_copy(plain, folder, tmp_path):
    offline = tmp_path / "copies.h5"
    transform(str(folder[0]), "-o", str(offline), *OPTIONS, "--copies", "3", "--seed", "7")
    written = copies_of(offline)
    ds = H5Images(plain, augment=TABLE, seed=7)
    for epoch in range(3):
        ds.set_epoch(epoch)
        for i in range(len(ds)):
            image, _ = ds[i]
            assert image.dtype == np.uint8
            np.testing.assert_array_equal(image, written[(i, epoch + 1)])
    ds.set_epoch(0)
    plain_rows = H5Images(plain)
    assert not np.array_equal(ds[0][0], plain_rows[0][0])


def test_settings_objects_and_stored_settings_give_the_same_copies(plain, folder, tmp_path):
    offline = tmp_path / "kept.h5"
    transform(
        str(folder[0]), "-o", str(offline), *OPTIONS, "--copies", "2", "--keep-original",
        "--seed", "5",
    )  # fmt: skip
    written = copies_of(offline)
    stored = H5Images(offline, augment="stored", epoch=1)  # its originals, its seed
    assert len(stored) == 14 and stored.seed == 5
    settings = AugmentSettings.from_dict({k.replace("-", "_"): v for k, v in TABLE.items()})
    direct = H5Images(plain, augment=settings, seed=5, epoch=1)
    for i in range(14):
        np.testing.assert_array_equal(stored[i][0], written[(i, 2)])
        np.testing.assert_array_equal(direct[i][0], written[(i, 2)])


def test_normalizing_after_augmenting_is_transforms_float_copy(plain, folder, tmp_path):
    offline = tmp_path / "float.h5"
    transform(
        str(folder[0]), "-o", str(offline), *OPTIONS, "--rescale", "1/255",
        "--center", "samplewise", "--copies", "2", "--seed", "9",
    )  # fmt: skip
    written = copies_of(offline)
    pipeline = imgprep.pipeline_from_hdf5(str(offline))
    ds = H5Images(plain, augment=TABLE, seed=9, normalize=pipeline, epoch=1)
    for i in range(14):
        image, _ = ds[i]
        assert image.dtype == np.float32
        np.testing.assert_array_equal(image, written[(i, 2)])


@pytest.mark.parametrize("window", [256, 3])
def test_images_depend_on_the_key_only(plain, monkeypatch, window):
    monkeypatch.setattr("imgprep.data.augmenting.PARAMS_WINDOW", window)
    forward = H5Images(plain, augment=TABLE, seed=3, epoch=2)
    rows = [forward[i][0] for i in range(14)]
    shuffled = H5Images(plain, augment=TABLE, seed=3, epoch=2, shuffle=True)
    for i in reversed(range(14)):  # another order, another process-local cache state
        np.testing.assert_array_equal(shuffled[i][0], rows[shuffled.rows_of_epoch()[i]])
    ranks = [H5Images(plain, augment=TABLE, seed=3, epoch=2, rank=r, world_size=2) for r in (0, 1)]
    for part in ranks:
        for i in range(len(part)):
            np.testing.assert_array_equal(part[i][0], rows[part.rows_of_epoch()[i]])
    other_seed = H5Images(plain, augment=TABLE, seed=4, epoch=2)
    assert not np.array_equal(other_seed[0][0], rows[0])
    epochs = [H5Images(plain, augment=TABLE, seed=3, epoch=e)[0][0] for e in range(4)]
    assert all(not np.array_equal(a, b) for a, b in itertools.pairwise(epochs))


def test_normalized_rows_are_not_augmented(folder, tmp_path):
    out = tmp_path / "norm.h5"
    transform(str(folder[0]), "-o", str(out), "--rescale", "1/255", "--center", "samplewise")
    with pytest.raises(InputError) as caught:
        H5Images(out, augment=TABLE)
    assert str(caught.value) == (
        f"{out}: its rows are normalized (rescale, samplewise_center); on-the-fly "
        "augmentation needs the stored pixels: write uint8 or uint16 rows (imgprep transform "
        "without rescale or normalization) and pass normalize= a pipeline instead"
    )
    H5Images(out)  # reading it as it is stays allowed


def test_bad_augment_arguments(plain, tmp_path):
    with pytest.raises(InputError) as caught:
        H5Images(plain, augment="stored")
    assert str(caught.value) == (
        f"{plain}: has no 'augmentation' attribute; pass the augmentation settings instead "
        "of 'stored'"
    )
    with pytest.raises(InputError) as caught:
        H5Images(plain, augment={"rotation": 3})
    assert str(caught.value) == "unknown augmentation setting(s) rotation"
    with pytest.raises(InputError) as caught:
        H5Images(plain, augment={"random_resized_crop": True}, seed=1)
    assert "the file does not hold; use random_crop instead" in str(caught.value)
