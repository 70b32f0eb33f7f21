"""``imgprep transform`` end to end: HDF5 and PNG layouts, numbers, splits, refusals."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.api import pipeline_from_hdf5, prepare_image
from imgprep.cli import main
from tests.conftest import listing, make_dataset, write_image


@pytest.fixture
def gray(tmp_path: Path, rng) -> tuple[Path, dict[str, np.ndarray]]:
    """Grayscale digits-like data: 3 classes x 8 images of 10x12."""
    root = tmp_path / "gray"
    return root, make_dataset(root, rng, classes=("a", "b", "c"), per_class=8, shape=(10, 12))


def run(runner: CliRunner, *args: str) -> object:
    result = runner.invoke(main, ["transform", *args, "-q"])
    return result


def test_hdf5_layout_and_plain_copy(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    out = tmp_path / "out.h5"
    result = run(runner, str(root), "-o", str(out))
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert sorted(f) == ["images", "labels", "paths"]
        assert f["images"].shape == (10, 12, 10, 3) and f["images"].dtype == np.uint8
        paths = [p.decode() for p in f["paths"][:]]
        assert paths == sorted(arrays)
        np.testing.assert_array_equal(f["images"][:], np.stack([arrays[p] for p in paths]))
        assert f["labels"][:].tolist() == [0] * 5 + [1] * 5
        assert json.loads(f.attrs["class_names"]) == ["cat", "dog"]
        assert f.attrs["format"] == "imgprep-dataset" and f.attrs["format_version"] == 1
        assert json.loads(f.attrs["pipeline"])["options"]["decode"]["color"] == "keep"
        assert json.loads(f.attrs["skipped"]) == []
    assert listing(tmp_path).count("out.h5") == 1
    assert not [name for name in listing(tmp_path) if name.endswith(".tmp")]


def test_standardized_training_data_has_mean_0_std_1(runner, gray, tmp_path: Path):
    root, _ = gray
    out = tmp_path / "std.h5"
    result = run(
        runner, str(root), "-o", str(out), "--center", "featurewise", "--standardize", "featurewise"
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        x = f["images"][:].astype(np.float64)
        assert f["images"].dtype == np.float32
        stats = json.loads(f.attrs["stats"])
        assert stats["images"] == 24
    assert abs(x.mean()) < 1e-6 and abs(x.std() - 1) < 1e-6


def test_validation_data_with_training_stats(runner, tmp_path: Path, rng):
    make_dataset(tmp_path / "train", rng, classes=("a", "b"), per_class=6, shape=(8, 8))
    val = make_dataset(tmp_path / "val", rng, classes=("a", "b"), per_class=4, shape=(8, 8))
    stats = tmp_path / "train.json"
    runner.invoke(main, ["fit-stats", str(tmp_path / "train"), "-o", str(stats), "-q"])
    out = tmp_path / "val.h5"
    args = ["--stats", str(stats), "--center", "featurewise", "--standardize", "featurewise"]
    result = run(runner, str(tmp_path / "val"), "-o", str(out), *args)
    assert result.exit_code == 0, result.output
    train = json.loads(stats.read_text())
    m_train, s_train = np.array(train["mean"]), np.array(train["std"])
    v = np.stack(list(val.values())).astype(np.float64)
    with h5py.File(out) as f:
        x = f["images"][:].astype(np.float64)
        assert json.loads(f.attrs["stats_source"]) == "stats file"
    expected_mean = (v.mean(axis=(0, 1, 2)) - m_train) / (s_train + 1e-6)
    expected_std = v.std(axis=(0, 1, 2)) / (s_train + 1e-6)
    np.testing.assert_allclose(x.mean(axis=(0, 1, 2)), expected_mean, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(x.std(axis=(0, 1, 2)), expected_std, rtol=1e-5)


def test_named_inputs_take_featurewise_stats_from_train_only(runner, tmp_path: Path, rng):
    make_dataset(tmp_path / "train", rng, classes=("a", "b"), per_class=5, shape=(6, 6, 3))
    make_dataset(tmp_path / "val", rng, classes=("b", "c"), per_class=3, shape=(6, 6, 3))
    out = tmp_path / "all.h5"
    args = ["--input", f"train={tmp_path / 'train'}", "--input", f"val={tmp_path / 'val'}"]
    result = run(runner, *args, "-o", str(out), "--center", "featurewise")
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert sorted(f) == ["train", "val"]
        assert json.loads(f.attrs["class_names"]) == ["a", "b", "c"]
        assert f["val/labels"][:].tolist() == [1, 1, 1, 2, 2, 2]
        assert json.loads(f.attrs["stats"])["images"] == 5 * 2
        train = f["train/images"][:].astype(np.float64)
        np.testing.assert_allclose(train.mean(axis=(0, 1, 2)), 0, atol=1e-4)


def test_split_is_stratified_reproducible_and_needs_a_seed(runner, gray, tmp_path: Path):
    root, _ = gray
    spec = "train=0.5,val=0.25,test=0.25"
    outputs = []
    for name in ("a.h5", "b.h5"):
        result = run(runner, str(root), "-o", str(tmp_path / name), "--split", spec, "--seed", "4")
        assert result.exit_code == 0, result.output
        with h5py.File(tmp_path / name) as f:
            assert np.bincount(f["train/labels"][:]).tolist() == [4, 4, 4]
            assert np.bincount(f["test/labels"][:]).tolist() == [2, 2, 2]
            outputs.append([p.decode() for p in f["val/paths"][:]])
    assert outputs[0] == outputs[1]
    result = run(runner, str(root), "-o", str(tmp_path / "c.h5"), "--split", spec)
    assert result.exit_code == 2 and "--split needs --seed" in result.stderr


def test_workers_do_not_change_the_output(runner, dataset, tmp_path: Path):
    root, _ = dataset
    args = ["--rescale", "1/255", "--center", "samplewise", "--standardize", "samplewise"]
    images = []
    for workers, batch in (("1", "64"), ("2", "3")):
        out = tmp_path / f"w{workers}.h5"
        result = run(runner, str(root), "-o", str(out), *args, "-j", workers, "--batch-size", batch)
        assert result.exit_code == 0, result.output
        with h5py.File(out) as f:
            images.append(f["images"][:].tobytes())
    assert images[0] == images[1]


@pytest.mark.parametrize("extra", [[], ["--size", "6x5", "--center", "featurewise"]])
def test_the_default_batch_gives_the_same_file_bytes_with_any_workers(
    runner, gray, tmp_path: Path, extra
):
    """The batch size sets the HDF5 chunk shape, so its default must not follow --workers."""
    root, _ = gray
    files = []
    for workers in ("1", "2"):
        out = tmp_path / f"w{workers}.h5"
        result = run(runner, str(root), "-o", str(out), "--rescale", "1/255", *extra, "-j", workers)
        assert result.exit_code == 0, result.output
        files.append(out.read_bytes())
    assert files[0] == files[1]


def test_default_batch_size_is_about_4_mib_of_rows(gray, tmp_path: Path):
    from imgprep.augment import AugmentSettings
    from imgprep.config import DecodeSettings
    from imgprep.run.tasks import default_batch_size
    from imgprep.run.worker import AugmentPlan
    from imgprep.splits import build_splits
    from imgprep.transforms.pipeline import PipelineOptions

    root, _ = gray
    splits = build_splits([str(root)], [], None, None)
    floats = PipelineOptions(rescale=1 / 255)
    assert default_batch_size(splits, floats, "hdf5", None) == 1024  # at most 1024 files
    large = PipelineOptions(decode=DecodeSettings(size=(300, 200)), rescale=0.5)
    assert default_batch_size(splits, large, "hdf5", None) == (4 << 20) // (300 * 200 * 4)
    photos = PipelineOptions(decode=DecodeSettings(color="rgb", size=(224, 224)), rescale=0.5)
    assert default_batch_size(splits, photos, "hdf5", None) == 6  # 224 x 224 x 3 x 4 bytes
    uint8 = PipelineOptions(decode=DecodeSettings(size=(224, 224)))
    assert default_batch_size(splits, uint8, "png", None) == 83  # 224 x 224 x 1 byte
    assert default_batch_size(splits, PipelineOptions(), "png", None) == 64  # sizes may vary
    plan = AugmentPlan(AugmentSettings(horizontal_flip=True), copies=3, keep_original=True)
    assert default_batch_size(splits, photos, "hdf5", plan) == 1  # 4 rows of 602 KB per file


def test_prediction_time_pipeline_gives_the_written_numbers(runner, dataset, tmp_path: Path):
    root, _ = dataset
    out = tmp_path / "p.h5"
    args = [
        "--size",
        "6x5",
        "--color",
        "grayscale",
        "--center",
        "featurewise",
        "--standardize",
        "featurewise",
        "--rescale",
        "1/255",
    ]
    assert run(runner, str(root), "-o", str(out), *args).exit_code == 0
    pipeline = pipeline_from_hdf5(str(out))
    with h5py.File(out) as f:
        for row, rel in enumerate(f["paths"][:3]):
            path = root / rel.decode()
            np.testing.assert_array_equal(prepare_image(pipeline, str(path)), f["images"][row])
            np.testing.assert_array_equal(
                prepare_image(pipeline, Image.open(path)), f["images"][row]
            )


@pytest.mark.parametrize(
    ("mode", "shape"), [("stretch", (5, 7)), ("fit", (5, 7)), ("fill", (5, 7))]
)
def test_resize_modes_give_the_requested_size(runner, dataset, tmp_path: Path, mode, shape):
    root, _ = dataset
    out = tmp_path / "r.h5"
    result = run(runner, str(root), "-o", str(out), "--size", "7x5", "--resize-mode", mode)
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert f["images"].shape == (10, *shape, 3)


def test_png_round_trip_of_a_uint8_pipeline(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    out = tmp_path / "png"
    result = run(runner, str(root), "-o", str(out), "--color", "grayscale")
    assert result.exit_code == 0, result.output
    for rel, array in arrays.items():
        written = np.asarray(Image.open(out / rel))
        expected = np.asarray(Image.fromarray(array).convert("L"))
        np.testing.assert_array_equal(written, expected)
    manifest = json.loads((out / "imgprep.json").read_text())
    assert manifest["class_names"] == ["cat", "dog"]
    again = run(runner, str(root), "-o", str(out))
    assert again.exit_code == 2 and "--overwrite" in again.stderr
    assert run(runner, str(root), "-o", str(out), "--overwrite", "--color", "rgb").exit_code == 0
    assert np.asarray(Image.open(out / "cat/000.png")).shape == (12, 10, 3)


def test_float_pipeline_to_png_is_refused(runner, dataset, tmp_path: Path):
    root, _ = dataset
    result = run(runner, str(root), "-o", str(tmp_path / "png"), "--rescale", "1/255")
    assert result.exit_code == 2
    assert "cannot be written as PNG" in result.stderr
    assert not (tmp_path / "png").exists()


def test_stats_from_another_space_are_refused(runner, dataset, tmp_path: Path):
    root, _ = dataset
    stats = tmp_path / "s.json"
    runner.invoke(main, ["fit-stats", str(root), "--resample", "box", "-o", str(stats), "-q"])
    args = ["--stats", str(stats), "--center", "featurewise", "--size", "5x5"]
    result = run(runner, str(root), "-o", str(tmp_path / "x.h5"), *args)
    assert result.exit_code == 2
    assert "differently prepared images" in result.stderr
    assert "size=original resize_mode=stretch resample=box" in result.stderr
    assert not (tmp_path / "x.h5").exists()
    forced = run(runner, str(root), "-o", str(tmp_path / "x.h5"), *args, "--allow-stats-mismatch")
    assert forced.exit_code == 0, forced.output
    gray = [*args, "--color", "grayscale", "--allow-stats-mismatch"]
    channels = run(runner, str(root), "-o", str(tmp_path / "y.h5"), *gray)
    assert channels.exit_code == 2  # refused before the run (issue 12, tests/faults)
    assert "pixels have 1 channel(s) but the statistics were computed on 3" in channels.stderr


def test_different_sizes_need_size_for_hdf5(runner, tmp_path: Path, rng):
    write_image(tmp_path / "d/a.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    write_image(tmp_path / "d/b.png", rng.integers(0, 256, (5, 4, 3), dtype=np.uint8))
    result = run(runner, str(tmp_path / "d"), "-o", str(tmp_path / "x.h5"))
    assert result.exit_code == 2
    assert "a.png is 4x4x3 (HxWxC) but b.png is 5x4x3 (HxWxC)" in result.stderr
    assert "--size" in result.stderr
    assert listing(tmp_path) == ["d/a.png", "d/b.png"]


def test_skipped_files_are_recorded(runner, dataset, tmp_path: Path):
    root, _ = dataset
    (root / "cat" / "bad.png").write_bytes(b"")
    out = tmp_path / "s.h5"
    stopped = run(runner, str(root), "-o", str(out))
    assert stopped.exit_code == 1 and "bad.png: empty file (0 bytes)" in stopped.stderr
    assert not out.exists()
    result = run(runner, str(root), "-o", str(out), "--on-error", "skip")
    assert result.exit_code == 0
    assert "skipped: " in result.stderr
    with h5py.File(out) as f:
        assert f["images"].shape[0] == 10
        assert json.loads(f.attrs["skipped"]) == [
            {"path": str(root / "cat" / "bad.png"), "reason": "empty file (0 bytes)"}
        ]


@pytest.mark.parametrize("batch", [None, "3", "4"])
def test_rows_keep_their_paths_and_labels_around_skipped_files(runner, gray, tmp_path, batch):
    root, arrays = gray
    bad = ["a/000.5.png", "a/007.5.png", "b/003.5.png", "c/007.5.png"]  # between, after
    for rel in bad:
        (root / rel).write_bytes(b"not a png")
    out = tmp_path / "s.h5"
    extra = [] if batch is None else ["--batch-size", batch]
    result = run(runner, str(root), "-o", str(out), "--on-error", "skip", *extra)
    assert result.exit_code == 0, result.output
    good = sorted(arrays, key=lambda rel: rel.split("/"))
    with h5py.File(out) as f:
        assert [p.decode() for p in f["paths"][:]] == good
        assert f["labels"][:].tolist() == ["abc".index(rel[0]) for rel in good]
        for row, rel in enumerate(good):
            np.testing.assert_array_equal(f["images"][row][..., 0], arrays[rel])
        assert len(json.loads(f.attrs["skipped"])) == len(bad)


@pytest.mark.parametrize("failure", [None, "bad file", "interrupt"])
def test_rows_held_for_statistics_leave_no_scratch_file(
    runner, gray, tmp_path, monkeypatch, failure
):
    """Single-pass statistics hold raw rows in a scratch file beside the output until the
    statistics exist; it is gone after success, a data error and Ctrl-C alike."""
    root, arrays = gray
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    if failure == "bad file":
        (root / "c" / "zz.png").write_bytes(b"")  # the last file: every other row is held
    if failure == "interrupt":
        from imgprep.io.formats.hdf5 import Hdf5Writer

        def interrupted(self, transform):
            assert [name for name in listing(out_dir) if name.endswith(".rows")]
            raise KeyboardInterrupt

        monkeypatch.setattr(Hdf5Writer, "release_images", interrupted)
    out = out_dir / "s.h5"
    args = ["--rescale", "1/255", "--center", "featurewise", "--standardize", "featurewise"]
    result = run(runner, str(root), "-o", str(out), *args)
    expected_code = {None: 0, "bad file": 1, "interrupt": 130}[failure]
    assert result.exit_code == expected_code, result.output
    assert listing(out_dir) == (["s.h5"] if failure is None else [])
    if failure is None:
        stacked = np.stack([arrays[rel] for rel in sorted(arrays)]).astype(np.float64) / 255
        with h5py.File(out) as f:
            got = f["images"][:][..., 0].astype(np.float64)
        expected = (stacked - stacked.mean()) / (stacked.std() + 1e-6)
        np.testing.assert_allclose(got, expected, atol=1e-6)


def test_config_file_and_overrides(runner, gray, tmp_path: Path):
    root, _ = gray
    config = tmp_path / "c.toml"
    config.write_text('rescale = "1/255"\ndtype = "float16"\nsize = "6x5"\n')
    out = tmp_path / "c.h5"
    result = run(runner, str(root), "-o", str(out), "--config", str(config), "--size", "4x3")
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert f["images"].dtype == np.float16 and f["images"].shape[1:] == (3, 4, 1)
        assert float(f["images"][:].max()) <= 1.0
    config.write_text("resize_mod = 'fit'\n")
    bad = run(runner, str(root), "-o", str(out), "--config", str(config))
    assert bad.exit_code == 2
    assert "unknown key 'resize_mod'; did you mean 'resize-mode'?" in bad.stderr


def test_gzip_compression(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    out = tmp_path / "z.h5"
    assert run(runner, str(root), "-o", str(out), "--compression", "gzip").exit_code == 0
    with h5py.File(out) as f:
        assert f["images"].compression == "gzip"
        np.testing.assert_array_equal(f["images"][0], arrays["cat/000.png"])


@pytest.mark.parametrize(
    "extra",
    [
        [],
        ["--center", "samplewise"],
        [
            "--horizontal-flip",
            "--rotation-range",
            "15",
            "--copies",
            "2",
            "--keep-original",
            "--seed",
            "3",
        ],
    ],
)
def test_single_pass_statistics_give_the_same_bytes_as_two_passes(tmp_path: Path, rng, extra):
    from imgprep.augment import AugmentSettings
    from imgprep.run.stats_pass import compute_stats
    from imgprep.run.transform_pass import run_transform
    from imgprep.run.transform_plan import TransformRequest, plan_transform
    from imgprep.transforms.pipeline import PipelineOptions

    make_dataset(tmp_path / "d", rng, classes=("a", "b"), per_class=7, shape=(9, 8, 3))
    (tmp_path / "d" / "a" / "zz-bad.png").write_bytes(b"")
    options = PipelineOptions(
        rescale=1 / 255,
        center="samplewise" if "samplewise" in extra else "featurewise",
        standardize="featurewise",
    )
    augment = {}
    if "--horizontal-flip" in extra:
        settings = AugmentSettings(horizontal_flip=True, rotation_range=15)
        augment = {"augment": settings, "copies": 2, "keep_original": True, "seed": 3}
    outputs = []
    for single in (True, False):
        out = tmp_path / f"{single}.h5"
        request = TransformRequest(
            named_inputs=[("train", str(tmp_path / "d"))], options=options, output=str(out),
            fmt="hdf5", single_pass=single, on_error="skip", batch_size=4, **augment,
        )  # fmt: skip
        plan = plan_transform(request)
        assert plan.single_pass is single
        report = run_transform(plan)
        assert report.skipped["train"][0]["reason"] == "empty file (0 bytes)"
        with h5py.File(out) as f:
            outputs.append((f["train/images"][:].tobytes(), f.attrs["stats"], f.attrs["pipeline"]))
    assert outputs[0] == outputs[1]
    direct = compute_stats([str(tmp_path / "d")], on_error="skip").to_dict()
    stored = json.loads(outputs[0][1])
    assert stored["accumulators"] == direct["accumulators"]
    assert stored["provenance"]["files_sha256"] == direct["provenance"]["files_sha256"]


def test_non_ascii_paths_round_trip_in_hdf5(runner, tmp_path: Path, rng):
    for rel in ("été/ü.png", "été/a long name with spaces.png", "b/x.png"):
        write_image(tmp_path / "d" / rel, rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    out = tmp_path / "u.h5"
    assert run(runner, str(tmp_path / "d"), "-o", str(out)).exit_code == 0
    with h5py.File(out) as f:
        paths = [p.decode("utf-8") for p in f["paths"][:]]
        assert h5py.check_string_dtype(f["paths"].dtype).encoding == "utf-8"
    assert paths == ["b/x.png", "été/a long name with spaces.png", "été/ü.png"]


def test_failed_png_run_keeps_the_previous_tree_and_leaves_no_temporary(
    runner, dataset, tmp_path: Path
):
    root, arrays = dataset
    out = tmp_path / "png"
    assert run(runner, str(root), "-o", str(out)).exit_code == 0
    before = sorted(listing(out))
    (root / "dog" / "zz_bad.png").write_bytes(b"not a png")  # fails after files were written
    failed = run(runner, str(root), "-o", str(out), "--overwrite", "--color", "grayscale")
    assert failed.exit_code == 1 and "zz_bad.png" in failed.stderr
    assert sorted(listing(out)) == before
    np.testing.assert_array_equal(
        np.asarray(Image.open(out / "cat/000.png")), arrays["cat/000.png"]
    )
    written = [name for name in listing(tmp_path) if not name.startswith(f"{root.name}/")]
    assert sorted(written) == sorted(f"png/{name}" for name in before)  # no .png.*.tmp folder


def _transform_q(runner: CliRunner, *args: str):
    """``imgprep transform ARGS -q``."""
    return runner.invoke(main, ["transform", *args, "-q"])


def test_narrowing_and_float_to_integer_casts_are_usage_errors(runner, tmp_path: Path, rng):
    Image.fromarray(rng.integers(300, 65535, (4, 4), dtype=np.uint16)).save(tmp_path / "a.png")
    narrow = _transform_q(
        runner, str(tmp_path / "a.png"), "-o", str(tmp_path / "n.h5"), "--dtype", "uint8"
    )
    assert narrow.exit_code == 2
    assert "cannot write uint16 pixels as uint8 without clipping" in narrow.stderr
    Image.fromarray(rng.normal(size=(4, 4)).astype(np.float32), "F").save(tmp_path / "f.tif")
    floats = _transform_q(
        runner, str(tmp_path / "f.tif"), "-o", str(tmp_path / "f.h5"), "--dtype", "uint16"
    )
    assert floats.exit_code == 2 and "Traceback" not in floats.output
    assert floats.stderr.strip() == (
        "Error: --dtype uint16: cannot write float pixels as uint16 without rounding or clipping"
    )
    assert not [name for name in listing(tmp_path) if name.endswith(".h5")]


def test_summary_counts_images_and_rows(runner, dataset, tmp_path: Path):
    root, _ = dataset
    (root / "cat" / "bad.png").write_bytes(b"")
    result = runner.invoke(
        main,
        [
            "transform",
            str(root),
            "-o",
            str(tmp_path / "o.h5"),
            "--rotation-range",
            "5",
            "--copies",
            "3",
            "--on-error",
            "skip",
            "--seed",
            "1",
        ],
    )
    assert result.exit_code == 0, result.output
    assert "10 images processed (30 rows written), 1 skipped (of 11 found)" in result.stderr


def test_channel_mix_suggests_color(runner, tmp_path: Path, rng):
    write_image(tmp_path / "d/a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    write_image(tmp_path / "d/b.png", rng.integers(0, 256, (4, 4, 3), dtype=np.uint8))
    result = _transform_q(runner, str(tmp_path / "d"), "-o", str(tmp_path / "o.h5"))
    assert result.exit_code == 2
    assert "choose one channel count with --color" in result.stderr


def test_epsilon_option_is_applied(runner, dataset, tmp_path: Path):
    root, arrays = dataset
    out = tmp_path / "e.h5"
    args = ["--standardize", "featurewise", "--stats-scope", "global", "--epsilon", "10"]
    assert _transform_q(runner, str(root), "-o", str(out), *args).exit_code == 0
    pixels = np.stack(list(arrays.values())).astype(np.float64)
    with h5py.File(out) as f:
        written = f["images"][:].astype(np.float64)
    assert written.std() == pytest.approx(pixels.std() / (pixels.std() + 10), rel=1e-6)


def test_exif_option_reaches_the_decoder(runner, tmp_path: Path):
    array = np.zeros((8, 16, 3), dtype=np.uint8)  # stored 16x8 (W x H)
    exif = Image.Exif()
    exif[0x0112] = 6  # displayed rotated 90 degrees clockwise
    (tmp_path / "d").mkdir()
    Image.fromarray(array).save(tmp_path / "d/r.jpg", exif=exif, quality=100)
    shapes = {}
    for mode in ("apply", "ignore"):
        out = tmp_path / f"{mode}.h5"
        result = _transform_q(runner, str(tmp_path / "d"), "-o", str(out), "--exif", mode)
        assert result.exit_code == 0, result.output
        with h5py.File(out) as f:
            shapes[mode] = f["images"].shape
            assert json.loads(f.attrs["pipeline"])["options"]["decode"]["exif"] == mode
    assert shapes == {"apply": (1, 16, 8, 3), "ignore": (1, 8, 16, 3)}


def test_negative_seed_is_a_usage_error(runner, dataset, tmp_path: Path):
    root, _ = dataset
    result = _transform_q(
        runner, str(root), "-o", str(tmp_path / "o.h5"), "--split", "a=0.5,b=0.5", "--seed", "-1"
    )
    assert result.exit_code == 2 and "Invalid value for '--seed'" in result.stderr


def test_a_split_that_would_be_empty_is_refused_up_front(runner, tmp_path: Path, rng):
    make_dataset(tmp_path / "d", rng, classes=("a", "b", "c"), per_class=1, shape=(3, 3))
    result = _transform_q(
        runner,
        str(tmp_path / "d"),
        "-o",
        str(tmp_path / "o.h5"),
        "--split",
        "train=0.8,val=0.2",
        "--seed",
        "1",
    )
    assert result.exit_code == 2
    assert (
        "split 'val' would be empty: 3 image(s) cannot be divided as train=0.8, val=0.2"
        in result.stderr
    )
