"""A value the output float type cannot hold is refused, never written as an infinity.

Before, ``--dtype float16`` of 16-bit images (65535 is above float16's 65504), or a rescale
factor that overflows float32, wrote infinities with exit 0 (NumPy only printed a
RuntimeWarning on stderr); ``--epsilon inf`` made every standardized pixel 0, silently.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.api import prepare_image
from imgprep.cli import main
from imgprep.errors import InputError
from imgprep.transforms.pipeline import Pipeline, PipelineOptions
from tests.conftest import write_image


@pytest.fixture
def gray16(tmp_path: Path) -> Path:
    write_image(tmp_path / "g16" / "c" / "a.png", np.full((3, 4), 65535, np.uint16))
    write_image(tmp_path / "g16" / "c" / "b.png", np.full((3, 4), 1000, np.uint16))
    return tmp_path / "g16"


@pytest.fixture
def rgb(tmp_path: Path) -> Path:
    write_image(tmp_path / "rgb" / "c" / "a.png", np.full((3, 4, 3), 255, np.uint8))
    return tmp_path / "rgb"


def test_16_bit_images_as_float16_are_refused(gray16: Path, tmp_path: Path):
    out = tmp_path / "o.h5"
    result = CliRunner().invoke(
        main, ["transform", str(gray16), "-o", str(out), "--dtype", "float16"]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --dtype float16: values up to 65535 do not fit float16 (at most 65504); "
        "use --dtype float32, or a smaller --rescale\n"
    )
    assert not out.exists()


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_rescale_beyond_float32_is_refused(rgb: Path, tmp_path: Path, workers: str):
    out = tmp_path / "o.h5"
    result = CliRunner().invoke(
        main, ["transform", str(rgb), "-o", str(out), "--rescale", "1e300", "-j", workers]
    )
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: --dtype float32: values up to 2.55e+302 do not fit float32 (at most "
        "3.40282e+38); use a smaller --rescale\n"
    )
    assert not out.exists()


def test_pipeline_apply_refuses_too(tmp_path: Path):
    pipeline = Pipeline(PipelineOptions(dtype="float16"))
    with pytest.raises(InputError, match="values up to 65535 do not fit float16"):
        prepare_image(pipeline, np.full((2, 2, 1), 65535, np.uint16), dtype_ok=True)


def test_an_infinite_epsilon_is_refused(rgb: Path, tmp_path: Path):
    result = CliRunner().invoke(
        main,
        ["transform", str(rgb), "-o", str(tmp_path / "o.h5"), "--standardize", "samplewise",
         "--epsilon", "inf"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == "Error: invalid epsilon inf: must be a finite number\n"
