"""``transform`` with augmentation: copies, exactness, reproducibility, preview, refusals."""

from __future__ import annotations

import json
import re
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.augment import OPTIONS
from imgprep.cli import main
from imgprep.cli.transform import transform
from tests.conftest import listing, make_dataset, write_image

FULL = [
    "--rotation-range", "20", "--width-shift-range", "0.2", "--height-shift-range", "0.2",
    "--shear-range", "10", "--zoom-range", "0.15", "--horizontal-flip", "--fill-mode", "reflect",
    "--brightness-range", "0.8,1.2", "--channel-shift-range", "10",
]  # fmt: skip


def run(runner: CliRunner, *args: str):
    return runner.invoke(main, ["transform", *args, "-q"])


def read(path: Path) -> dict[str, np.ndarray]:
    with h5py.File(path) as f:
        data = {name: f[name][:] for name in f if isinstance(f[name], h5py.Dataset)}
        if "augmentation" in f:
            data.update({f"aug/{k}": v[:] for k, v in f["augmentation"].items()})
        data["attrs"] = dict(f.attrs)
        return data


def test_flip_only_copies_are_exact_mirrors(runner, dataset, tmp_path: Path):
    root, _ = dataset
    plain = tmp_path / "plain.h5"
    flipped = tmp_path / "flip.h5"
    assert run(runner, str(root), "-o", str(plain)).exit_code == 0
    result = run(
        runner, str(root), "-o", str(flipped), "--horizontal-flip", "--copies", "4", "--seed", "1"
    )
    assert result.exit_code == 0, result.output
    base, aug = read(plain), read(flipped)
    assert aug["images"].shape[0] == 40
    for row in range(40):
        source = base["images"][aug["source_index"][row]]
        expected = source[:, ::-1] if aug["aug/flip_horizontal"][row] else source
        np.testing.assert_array_equal(aug["images"][row], expected)
    assert 0 < aug["aug/flip_horizontal"].sum() < 40
    assert aug["copy"].tolist() == [1, 2, 3, 4] * 10
    assert aug["paths"].tolist() == np.repeat(base["paths"], 4).tolist()
    assert aug["labels"].tolist() == np.repeat(base["labels"], 4).tolist()


def test_zero_ranges_equal_the_plain_transform(runner, dataset, tmp_path: Path):
    root, _ = dataset
    run(runner, str(root), "-o", str(tmp_path / "a.h5"))
    zero = ["--rotation-range", "0", "--width-shift-range", "0", "--zoom-range", "1,1"]
    assert run(runner, str(root), "-o", str(tmp_path / "b.h5"), *zero).exit_code == 0
    a, b = read(tmp_path / "a.h5"), read(tmp_path / "b.h5")
    np.testing.assert_array_equal(a["images"], b["images"])
    assert "copy" not in b


def test_output_does_not_depend_on_workers_or_batch_size(runner, dataset, tmp_path: Path):
    root, _ = dataset
    outputs = []
    for workers, batch in (("1", "64"), ("2", "1"), ("2", "3")):
        out = tmp_path / f"{workers}-{batch}.h5"
        args = [*FULL, "--copies", "3", "--keep-original", "--seed", "11", "--rescale", "1/255"]
        result = run(runner, str(root), "-o", str(out), *args, "-j", workers, "--batch-size", batch)
        assert result.exit_code == 0, result.output
        data = read(out)
        outputs.append((data["images"].tobytes(), data["aug/theta"].tobytes()))
    assert outputs[0] == outputs[1] == outputs[2]


def test_seed_reproduces_and_a_new_seed_changes(runner, dataset, tmp_path: Path):
    root, _ = dataset
    images = []
    for name, seed in (("a", "5"), ("b", "5"), ("c", "6")):
        out = tmp_path / f"{name}.h5"
        assert run(runner, str(root), "-o", str(out), *FULL, "--seed", seed).exit_code == 0
        images.append(read(out)["images"])
    np.testing.assert_array_equal(images[0], images[1])
    assert not np.array_equal(images[0], images[2])


def test_a_drawn_seed_is_printed_stored_and_repeats_the_run(runner, dataset, tmp_path: Path):
    root, _ = dataset
    first = run(runner, str(root), "-o", str(tmp_path / "a.h5"), "--rotation-range", "30")
    assert first.exit_code == 0
    seed = re.search(r"augmentation seed (\d+) \(pass --seed \d+ to repeat\)", first.stderr)
    assert seed
    stored = json.loads(read(tmp_path / "a.h5")["attrs"]["augmentation"])
    assert stored["seed"] == int(seed.group(1)) and stored["rotation_range"] == 30
    again = run(
        runner,
        str(root),
        "-o",
        str(tmp_path / "b.h5"),
        "--rotation-range",
        "30",
        "--seed",
        seed.group(1),
    )
    assert again.exit_code == 0
    np.testing.assert_array_equal(
        read(tmp_path / "a.h5")["images"], read(tmp_path / "b.h5")["images"]
    )


def test_keep_original_writes_copy_zero_untouched(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    out = tmp_path / "k.h5"
    assert (
        run(
            runner,
            str(root),
            "-o",
            str(out),
            *FULL,
            "--copies",
            "2",
            "--keep-original",
            "--seed",
            "2",
        ).exit_code
        == 0
    )
    data = read(out)
    assert data["copy"].tolist()[:3] == [0, 1, 2]
    np.testing.assert_array_equal(data["images"][0], arrays["cat/000.png"])
    assert data["aug/theta"][0] == 0 and data["aug/theta"][1] != 0


def test_augmentation_happens_before_normalization_with_train_stats(runner, tmp_path: Path, rng):
    make_dataset(tmp_path / "train", rng, classes=("a", "b"), per_class=4, shape=(12, 12, 3))
    make_dataset(tmp_path / "val", rng, classes=("a", "b"), per_class=2, shape=(12, 12, 3))
    out = tmp_path / "s.h5"
    args = ["--input", f"train={tmp_path / 'train'}", "--input", f"val={tmp_path / 'val'}"]
    norm = ["--center", "featurewise", "--standardize", "featurewise", "--rescale", "1/255"]
    result = run(
        runner, *args, "-o", str(out), *norm, "--horizontal-flip", "--copies", "3", "--seed", "1"
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert f["train/images"].shape[0] == 24 and "copy" in f["train"]
        assert f["val/images"].shape[0] == 4 and "copy" not in f["val"]
        assert json.loads(f.attrs["stats"])["images"] == 8  # un-augmented training images
        train = f["train/images"][:].astype(np.float64)
    # flips do not change channel statistics: the augmented train split is still standardized
    np.testing.assert_allclose(train.mean(axis=(0, 1, 2)), 0, atol=1e-5)


def test_preview_is_a_real_png_of_the_written_copies(runner, dataset, tmp_path: Path):
    root, _ = dataset
    sheet = tmp_path / "sheet.png"
    result = run(
        runner,
        str(root),
        "-o",
        str(tmp_path / "p.h5"),
        *FULL,
        "--copies",
        "3",
        "--preview",
        str(sheet),
        "--seed",
        "4",
    )
    assert result.exit_code == 0, result.output
    image = Image.open(sheet)
    assert image.format == "PNG" and image.mode == "RGB"
    assert image.size == (6 + 4 * (112 + 6), 6 + 6 * (112 + 50 + 6))  # 6 sources x (1 + 3)
    pixels = np.asarray(image)
    assert pixels.std() > 20  # not blank


def test_preview_only_writes_nothing_else(runner, dataset, tmp_path: Path):
    root, _ = dataset
    sheet = tmp_path / "sheet.png"
    result = run(
        runner, str(root), "--rotation-range", "10", "--preview", str(sheet), "--preview-only"
    )
    assert result.exit_code == 0, result.output
    assert listing(tmp_path).count("sheet.png") == 1
    assert [name for name in listing(tmp_path) if not name.startswith("data/")] == ["sheet.png"]


def test_png_output_names_each_copy(runner, dataset, tmp_path: Path):
    root, _ = dataset
    out = tmp_path / "png"
    result = run(
        runner,
        str(root),
        "-o",
        str(out),
        "--vertical-flip",
        "--copies",
        "2",
        "--keep-original",
        "--seed",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert (out / "cat/000.png").exists() and (out / "cat/000_copy1.png").exists()
    assert (out / "cat/000_copy2.png").exists()
    manifest = json.loads((out / "imgprep.json").read_text())
    assert len(manifest["copies"]) == 30
    assert manifest["augmentation"]["copies"] == 2


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--rotation-range", "-5"], "--rotation-range must be >= 0"),
        (["--zoom-range", "1.2,0.8"], "--zoom-range must be 0 < LO <= HI"),
        (["--brightness-range", "2,1"], "--brightness-range must be 0 <= LO <= HI"),
        (["--brightness-range", "2"], "expected LO,HI"),
        (["--fill-mode", "mirror"], "Invalid value for '--fill-mode'"),
        (["--copies", "3"], "need at least one augmentation option"),
        (["--copies", "0", "--horizontal-flip"], "Invalid value for '--copies'"),
        (["--preview-only", "--horizontal-flip"], "--preview-only needs --preview"),
    ],
)
def test_bad_augmentation_options_are_usage_errors(runner, dataset, tmp_path: Path, args, message):
    root, _ = dataset
    result = run(runner, str(root), "-o", str(tmp_path / "x.h5"), *args)
    assert result.exit_code == 2, result.output
    assert message in result.stderr
    assert not (tmp_path / "x.h5").exists()


def test_augmenting_splits_needs_a_train_split(runner, dataset, tmp_path: Path):
    root, _ = dataset
    result = run(
        runner, "--input", f"val={root}", "-o", str(tmp_path / "x.h5"), "--horizontal-flip"
    )
    assert result.exit_code == 2
    assert "augmentation applies to the training part only" in result.stderr


def test_every_registered_option_is_a_flag_with_its_help():
    by_name = {param.name: param for param in transform.params}
    for option in OPTIONS:
        param = by_name[option.name]
        assert param.opts == [f"--{option.key}"] and param.help == option.help
        assert param.is_flag == (option.kind == "flag")
    names = [param.name for param in transform.params]
    start = names.index("rotation_range")
    assert names[start : start + len(OPTIONS) + 1] == [o.name for o in OPTIONS] + ["copies"]


def test_config_keys_and_types_come_from_the_registry(runner, dataset, tmp_path: Path):
    root, _ = dataset
    config = tmp_path / "a.toml"
    config.write_text('rotation-range = 10\nzoom-range = 0.1\nhorizontal-flip = true\n'
                      'fill-mode = "wrap"\ncval = 2\nbrightness-range = [0.9, 1.1]\n'
                      "copies = 2\nseed = 4\n")  # fmt: skip
    out = tmp_path / "c.h5"
    result = run(runner, "--config", str(config), str(root), "-o", str(out))
    assert result.exit_code == 0, result.output
    stored = json.loads(read(out)["attrs"]["augmentation"])
    assert stored["zoom_range"] == [0.9, 1.1] and stored["fill_mode"] == "wrap"
    assert stored["brightness_range"] == [0.9, 1.1] and stored["copies"] == 2
    for line, message in (
        ("fill-mode = 3", "key 'fill-mode' must be a string, got 3"),
        ('vertical-flip = "yes"', "key 'vertical-flip' must be true or false, got 'yes'"),
        ('shear-range = "5"', "key 'shear-range' must be a number, got '5'"),
        (
            'zoom-range = "a"',
            "key 'zoom-range': Invalid value: expected a number or LO,HI, got 'a'",
        ),
        ("zoom-rnage = 0.1", "unknown key 'zoom-rnage'; did you mean 'zoom-range'?"),
    ):
        config.write_text(line + "\n")
        result = run(runner, "--config", str(config), str(root), "-o", str(out))
        assert result.exit_code == 2, result.output
        assert f"Error: {config}: {message}" in result.stderr


def _transform_q(runner: CliRunner, *args: str):
    """``imgprep transform ARGS -q``."""
    return runner.invoke(main, ["transform", *args, "-q"])


def test_float_output_keeps_augmented_values_unrounded(runner, dataset, tmp_path: Path):
    root, _ = dataset
    out = tmp_path / "f.h5"
    result = _transform_q(
        runner,
        str(root),
        "-o",
        str(out),
        "--dtype",
        "float32",
        "--rotation-range",
        "20",
        "--seed",
        "1",
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        values = f["images"][:]
    assert values.dtype == np.float32 and not np.array_equal(values, np.rint(values))


def test_preview_is_not_written_when_the_output_is_refused(runner, dataset, tmp_path: Path):
    root, _ = dataset
    sheet = tmp_path / "sheet.png"
    result = _transform_q(
        runner,
        str(root),
        "-o",
        str(tmp_path / "png"),
        "--rescale",
        "1/255",
        "--rotation-range",
        "10",
        "--preview",
        str(sheet),
    )
    assert result.exit_code == 2 and not sheet.exists()


def test_zoom_keep_aspect_draws_one_factor(runner, dataset, tmp_path: Path):
    root, _ = dataset
    out = tmp_path / "z.h5"
    args = ["--zoom-range", "0.7,1.3", "--zoom-keep-aspect", "--copies", "3", "--seed", "2"]
    assert _transform_q(runner, str(root), "-o", str(out), *args).exit_code == 0
    with h5py.File(out) as f:
        zx, zy = f["augmentation/zx"][:], f["augmentation/zy"][:]
    np.testing.assert_array_equal(zx, zy)
    assert zx.min() >= 0.7 and zx.max() <= 1.3 and len(set(zx.tolist())) > 1


def test_cval_fills_what_a_constant_fill_mode_shifts_in(runner, tmp_path: Path):
    write_image(tmp_path / "d/a.png", np.full((6, 8), 255, dtype=np.uint8))
    out = tmp_path / "c.h5"
    result = _transform_q(
        runner, str(tmp_path / "d"), "-o", str(out), "--width-shift-range", "3",
        "--fill-mode", "constant", "--cval", "7", "--copies", "8", "--seed", "2",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        images, shifts = f["images"][:], f["augmentation/ty"][:]
    assert set(np.unique(images).tolist()) == {7, 255}  # integer shifts: no blending
    for image, shift in zip(images[:, :, :, 0], shifts, strict=True):
        assert (image == 7).sum() == abs(int(shift)) * 6  # one column of cval per pixel shifted
