"""Library messages name options by their key; the command line shows them as flags."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from imgprep.errors import DecodeError, ImgprepError, InputError, option
from imgprep.splits import build_splits
from tests.conftest import write_image


def test_python_callers_read_option_names_and_the_command_line_reads_flags():
    error = InputError(f"{option('zoom-range')} must be 0 < LO <= HI; see {option('seed')}")
    assert str(error) == "'zoom_range' must be 0 < LO <= HI; see 'seed'"
    assert error.for_command_line() == "--zoom-range must be 0 < LO <= HI; see --seed"
    assert "\x1f" not in str(error) and "\x1f" not in error.for_command_line()


def test_the_marks_survive_pickling_and_quoting():
    error = pickle.loads(pickle.dumps(InputError(f"pass {option('size')}")))
    assert error.for_command_line() == "pass --size"
    outer = ImgprepError(f"c.toml: key 'dtype': {error.marked}")
    assert str(outer) == "c.toml: key 'dtype': pass 'size'"
    assert outer.for_command_line() == "c.toml: key 'dtype': pass --size"
    decode = pickle.loads(pickle.dumps(DecodeError("a.png", "broken")))
    assert (str(decode), decode.path, decode.reason) == ("a.png: broken", "a.png", "broken")


def test_a_library_refusal_says_which_argument(tmp_path: Path):
    """The same refusal from Python and from the command line, each in its own words."""
    (tmp_path / "d").mkdir()
    write_image(tmp_path / "d" / "a.png", np.zeros((2, 2), np.uint8))
    with pytest.raises(InputError) as caught:
        build_splits([str(tmp_path / "d")], [], [("a", 0.5), ("b", 0.5)], None)
    assert str(caught.value) == "'split' needs 'seed' so that the split can be reproduced"
    result = CliRunner().invoke(
        main, ["transform", str(tmp_path / "d"), "-o", str(tmp_path / "o.h5"), "--split",
               "a=0.5,b=0.5"],
    )  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == "Error: --split needs --seed so that the split can be reproduced\n"
