"""Issue 12, section 5, item 2: images of several bit depths. One rule: ``--bit-depth 8|16``
converts integer images exactly to one depth, the same in fit-stats, transform, inspect and
Pipeline; without it a mix stops the run (or is skipped under --on-error skip) in every
command with one message naming --bit-depth; float images are never rescaled implicitly."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from imgprep.api import pipeline_from_config, pipeline_from_stats, prepare_image
from imgprep.cli import main
from imgprep.config import DecodeSettings
from imgprep.io.bitdepth import to_bit_depth
from imgprep.io.decode import decode_image
from imgprep.io.stats_io import read_stats
from imgprep.transforms.functional import resize
from tests.conftest import write_image


def cli(runner: CliRunner, *args: str) -> object:
    return runner.invoke(main, [*args, "-q"])


@pytest.fixture
def mixed(tmp_path: Path, rng: np.random.Generator) -> tuple[Path, np.ndarray, np.ndarray]:
    """a.png 8-bit and b.png 16-bit grayscale (Pillow modes L and I;16), 6 x 5."""
    a = rng.integers(0, 256, (6, 5), dtype=np.uint8)
    b = rng.integers(0, 65536, (6, 5), dtype=np.uint16)
    write_image(tmp_path / "mix/a.png", a)
    write_image(tmp_path / "mix/b.png", b)
    assert Image.open(tmp_path / "mix/b.png").mode == "I;16"
    return tmp_path / "mix", a[:, :, None], b[:, :, None]


def test_16_to_8_bits_is_round_v_over_257_with_no_ties():
    values = np.arange(65536, dtype=np.uint16)
    converted = to_bit_depth(values[:, None, None], 8)[:, 0, 0]
    assert converted.dtype == np.uint8
    # numpy.round is round-half-even; there is no tie to break: v / 257 = k + 1/2 would need
    # 2v = 257 (2k + 1), an odd number.
    assert not ((2 * values.astype(np.int64)) % 514 == 257).any()
    np.testing.assert_array_equal(converted, np.round(values / 257).astype(np.uint8))
    exact = [int(Fraction(int(v), 257) + Fraction(1, 2)) for v in range(0, 65536, 97)]
    np.testing.assert_array_equal(converted[::97], exact)
    eight = np.arange(256, dtype=np.uint8)[:, None, None]
    sixteen = to_bit_depth(eight, 16)
    assert sixteen.dtype == np.uint16 and sixteen[-1, 0, 0] == 65535
    np.testing.assert_array_equal(sixteen[:, 0, 0], np.arange(256) * 257)
    np.testing.assert_array_equal(to_bit_depth(sixteen, 8), eight)  # 8 -> 16 -> 8 exactly


def test_bit_depth_gives_one_scale_in_every_command(runner, tmp_path: Path, mixed):
    folder, a, b = mixed
    for depth, rows in (
        ("8", [a, np.round(b / 257)]),  # numpy rounds half to even: there are no ties
        ("16", [a.astype(np.uint16) * 257, b]),
    ):
        dtype = np.uint8 if depth == "8" else np.uint16
        expected = np.stack(rows).astype(dtype)
        out = tmp_path / f"t{depth}.h5"
        done = cli(runner, "transform", str(folder), "-o", str(out), "--bit-depth", depth)
        assert done.exit_code == 0, done.output
        with h5py.File(out) as f:
            assert f["images"].dtype == dtype
            np.testing.assert_array_equal(f["images"][:], expected)
            decode = json.loads(f.attrs["pipeline"])["options"]["decode"]
            assert decode["bit_depth"] == int(depth)
        stats_path = tmp_path / f"s{depth}.json"
        fit = cli(runner, "fit-stats", str(folder), "-o", str(stats_path), "--bit-depth", depth)
        assert fit.exit_code == 0, fit.output
        stats = read_stats(str(stats_path))
        assert stats.dtype == dtype.__name__ and stats.settings.bit_depth == int(depth)
        assert stats.mean[0] == pytest.approx(expected.astype(np.float64).mean(), abs=1e-9)
        shown = runner.invoke(main, ["inspect", str(folder), "--bit-depth", depth, "--json"])
        assert shown.exit_code == 0, shown.output
        assert json.loads(shown.stdout)["mean"] == pytest.approx(list(stats.mean), abs=1e-9)
        pipeline = pipeline_from_stats(stats, center=None, standardize=None)
        np.testing.assert_array_equal(prepare_image(pipeline, str(folder / "b.png")), expected[1])
        arrays_too = prepare_image(pipeline, b[:, :, 0])
        np.testing.assert_array_equal(arrays_too, expected[1])


def test_bit_depth_sits_before_the_resize(tmp_path: Path, mixed):
    folder, a, b = mixed
    settings = DecodeSettings(size=(3, 4), bit_depth=8)
    np.testing.assert_array_equal(
        decode_image(str(folder / "b.png"), settings), resize(to_bit_depth(b, 8), size=(3, 4))
    )
    sixteen = DecodeSettings(size=(3, 4), bit_depth=16)
    np.testing.assert_array_equal(
        decode_image(str(folder / "a.png"), sixteen), resize(a.astype(np.uint16) * 257, size=(3, 4))
    )
    # Images already of the depth asked for are decoded exactly as without the option.
    plain = decode_image(str(folder / "a.png"), DecodeSettings(size=(3, 4)))
    assert decode_image(str(folder / "a.png"), settings).tobytes() == plain.tobytes()


def test_without_bit_depth_a_mix_is_refused_the_same_way_in_both_commands(
    runner, tmp_path: Path, mixed
):
    folder, a, _ = mixed
    reason = (
        "pixels are uint16 but the images before it are uint8; pass --bit-depth 8 or "
        "--bit-depth 16 to convert them to one depth"
    )
    odd = folder / "b.png"
    out = tmp_path / "out.h5"
    # --rescale was the advice before: it wrote rows on 0-255 and 0-65535 into one array.
    for command in (["fit-stats", "-o", str(tmp_path / "s.json")], ["transform", "-o", str(out)]):
        for extra in ([], ["--rescale", "1/255"] if command[0] == "transform" else []):
            stopped = cli(runner, command[0], str(folder), *command[1:], *extra)
            assert stopped.exit_code == 1, stopped.output
            assert stopped.stderr.strip() == f"Error: {odd}: {reason}"
            skipped = cli(
                runner, command[0], str(folder), *command[1:], *extra, "--on-error", "skip"
            )
            assert skipped.exit_code == 0, skipped.output
            assert skipped.stderr.strip() == f"skipped: {odd}: {reason}"
    with h5py.File(out) as f:
        np.testing.assert_array_equal(f["images"][:], (a[None] / 255).astype(np.float32))
        assert json.loads(f.attrs["skipped"]) == [{"path": str(odd), "reason": reason}]
    assert read_stats(str(tmp_path / "s.json")).skipped == [{"path": str(odd), "reason": reason}]


def test_float_images_are_never_rescaled_implicitly(runner, tmp_path: Path, mixed, rng):
    folder, _, _ = mixed
    (folder / "b.png").unlink()
    tif = folder / "c.tif"
    Image.fromarray(rng.random((6, 5), dtype=np.float32), "F").save(tif)
    mix = (
        f"Error: {tif}: pixels are float32 but the images before it are uint8; imgprep does not "
        "rescale float images implicitly: convert them to one integer depth (or all to float) "
        "first"
    )
    with_depth = (
        f"Error: {tif}: pixels are float32 (a float image): --bit-depth converts integer images "
        "only, and imgprep does not rescale float images implicitly; convert it to 8 or 16 bits "
        "first"
    )
    for extra, line in (([], mix), (["--bit-depth", "8"], with_depth)):
        for command, out, rescale in (
            ("fit-stats", tmp_path / "s.json", []),
            ("transform", tmp_path / "t.h5", ["--rescale", "1"]),
        ):
            result = cli(runner, command, str(folder), "-o", str(out), *rescale, *extra)
            assert result.exit_code == 1, result.output
            assert result.stderr.strip() == line
            assert not out.exists()


def test_bit_depth_is_part_of_the_statistics_space(runner, tmp_path: Path, mixed):
    folder, _, _ = mixed
    (folder / "b.png").unlink()
    with_depth, without = tmp_path / "d.json", tmp_path / "n.json"
    fit = cli(runner, "fit-stats", str(folder), "-o", str(with_depth), "--bit-depth", "8")
    assert fit.exit_code == 0
    assert cli(runner, "fit-stats", str(folder), "-o", str(without)).exit_code == 0
    # Without --bit-depth the file has the bytes it always had: no bit_depth key at all.
    assert "bit_depth" not in json.loads(without.read_text())["preprocessing"]
    assert json.loads(with_depth.read_text())["preprocessing"]["bit_depth"] == 8
    assert "bit_depth" not in DecodeSettings().to_dict()
    assert DecodeSettings.from_dict(DecodeSettings().to_dict()) == DecodeSettings()
    assert DecodeSettings().space() == {"color": "keep", "exif": "apply", "size": None}
    out = tmp_path / "o.h5"
    for stats, extra in ((with_depth, []), (without, ["--bit-depth", "8"])):
        args = ["--stats", str(stats), "--center", "featurewise", *extra]
        result = cli(runner, "transform", str(folder), "-o", str(out), *args)
        assert result.exit_code == 2
        assert "differently prepared images" in result.stderr
        assert ("bit_depth=8, this run has" in result.stderr) == (stats == with_depth)
        assert not out.exists()


def test_bit_depth_from_a_toml_config(runner, tmp_path: Path):
    """`bit-depth = 8` in a config converts as --bit-depth 8 does, in the CLI and the API."""
    folder = tmp_path / "mixed"
    folder.mkdir()
    Image.fromarray(np.full((4, 4), 1000, np.uint16)).save(folder / "a.png")
    Image.fromarray(np.full((4, 4), 200, np.uint8)).save(folder / "b.png")
    config = tmp_path / "c.toml"
    config.write_text("bit-depth = 8\n")
    out = tmp_path / "o.h5"
    result = runner.invoke(
        main, ["transform", str(folder), "-o", str(out), "-q", "--config", str(config)]
    )
    assert result.exit_code == 0, result.output
    with h5py.File(out) as handle:
        assert handle["images"].dtype == np.uint8
        assert handle["images"][:, 0, 0, 0].tolist() == [4, 200]  # round(1000 / 257) = 4
    pipeline = pipeline_from_config(str(config))
    assert pipeline.decode.bit_depth == 8
    assert prepare_image(pipeline, str(folder / "a.png"))[0, 0, 0] == 4


def _transform_q(runner: CliRunner, *args: str):
    """``imgprep transform ARGS -q``."""
    return runner.invoke(main, ["transform", *args, "-q"])


def test_mixed_bit_depths_are_refused_not_saturated(runner, tmp_path: Path, rng):
    write_image(tmp_path / "d/a.png", rng.integers(0, 256, (4, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(300, 65535, (4, 4), dtype=np.uint16)).save(tmp_path / "d/b.png")
    result = _transform_q(runner, str(tmp_path / "d"), "-o", str(tmp_path / "o.h5"))
    assert result.exit_code == 1  # a mix stops the run as in fit-stats (tests/faults)
    assert "b.png: pixels are uint16 but the images before it are uint8" in result.stderr
    assert not (tmp_path / "o.h5").exists()
