"""Stats files whose numbers are valid JSON but impossible: one line naming the key.

Before: a maximum of 1e300 (an ``OverflowError`` from squaring the range), a pixel count or
a sum of squares of hundreds of digits (an ``OverflowError`` from the division) were
tracebacks in every command that loads a stats file; a uint8 minimum of -5 was accepted and
passed on by ``--merge``; and a top-level ``mean`` that disagrees with the accumulators was
shown to readers of the file while imgprep silently applied the accumulators' mean.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import make_dataset


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("hunt_stats")
    make_dataset(root / "data", np.random.default_rng(3), per_class=2, shape=(4, 3, 3))
    result = CliRunner().invoke(main, ["fit-stats", str(root / "data"), "-o", str(root / "s.json")])
    assert result.exit_code == 0, result.output
    return root, json.loads((root / "s.json").read_text())


def _max_huge(d: dict[str, Any]) -> None:
    d["accumulators"]["max"] = d["max"] = [1e300] * 3


def _float_max_huge(d: dict[str, Any]) -> None:
    d["dtype"] = "float32"
    acc = d["accumulators"]
    acc["exact"] = False
    acc["max"] = d["max"] = [1e300] * 3
    for key in ("sum", "sum_sq"):
        del acc[key]


def _count_huge(d: dict[str, Any]) -> None:
    d["accumulators"]["count"] = d["pixels"] = 10**400
    d["image_shape"] = None


def _sum_sq_huge(d: dict[str, Any]) -> None:
    d["accumulators"]["sum_sq"] = [10**700] * 3


def _min_negative(d: dict[str, Any]) -> None:
    d["accumulators"]["min"] = d["min"] = [-5, 0, 0]


def _mean_not_the_applied_one(d: dict[str, Any]) -> None:
    d["mean"] = [0.0, 0.0, 0.0]


def _global_std_off(d: dict[str, Any]) -> None:
    d["global"]["std"] = 1.0


CASES: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "max_huge": (_max_huge, "key accumulators.max[0]: 1e+300 is outside uint8's range"),
    "float_max_huge": (
        _float_max_huge,
        "key accumulators.max[0]: 1e+300 is outside float32's range",
    ),
    "count_huge": (
        _count_huge,
        "key accumulators.count: 1000000000000000000000000000000000000... pixels: more than "
        "64 bits hold",
    ),
    "sum_sq_huge": (
        _sum_sq_huge,
        "key accumulators.sum_sq[0]: 1000000000000000000000000000000000000... is not 48 "
        "squares in [min, max]",
    ),
    "min_negative": (_min_negative, "key accumulators.min[0]: -5 is outside uint8's range"),
    "mean_not_the_applied_one": (_mean_not_the_applied_one, "key mean[0]: 0.0 differs from"),
    "global_std_off": (_global_std_off, "key global.std: 1.0 differs from"),
}


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("command", ["export-stats", "merge", "transform"])
def test_impossible_numbers_are_one_line(written, case: str, command: str):
    root, document = written
    mutate, reason = CASES[case]
    data = json.loads(json.dumps(document))
    mutate(data)
    path = root / f"{case}-{command}.json"
    limit = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        path.write_text(json.dumps(data))
    finally:
        sys.set_int_max_str_digits(limit)
    args = {
        "export-stats": ["export-stats", str(path)],
        "merge": ["fit-stats", "--merge", str(path), str(root / "s.json"), "-o", "-"],
        "transform": ["transform", str(root / "data"), "-o", str(root / f"{case}.h5"),
                      "--stats", str(path), "--center", "featurewise"],
    }[command]  # fmt: skip
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith(f"Error: {path}: {reason}")
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""
    assert not (root / f"{case}.h5").exists()
