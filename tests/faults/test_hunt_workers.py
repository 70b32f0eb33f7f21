"""An absurd --workers is one usage line, before any process is started.

Before, ``-j 100000`` forked processes for minutes with SIGINT and SIGTERM held off (the
forks run with signals blocked), so only ``kill -9`` ended it, and a count beyond a C int
(``-j 99999999999999999999``) was a traceback from ``multiprocessing``. The same count in a
TOML config is refused the same way. The bound is 4 workers per CPU.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from imgprep.cli import main
from tests.conftest import make_dataset


@pytest.fixture
def data(tmp_path: Path) -> Path:
    make_dataset(tmp_path / "data", np.random.default_rng(0), per_class=1, shape=(4, 4, 3))
    return tmp_path / "data"


def limit() -> int:
    return 4 * (os.cpu_count() or 1)


def expected_line(value: int) -> str:
    cpus = os.cpu_count() or 1
    return (
        f"Error: Invalid value for '--workers' / '-j': {value} is more than 4 per CPU "
        f"({limit()} on this machine of {cpus}); more worker processes only compete for the CPUs"
    )


@pytest.mark.parametrize("command", ["fit-stats", "transform", "inspect"])
@pytest.mark.parametrize("value", ["one above the limit", "99999999999999999999"])
def test_absurd_workers_are_refused(data: Path, tmp_path: Path, command: str, value: str):
    # One above the limit, not 100000: a regression then starts a few processes, not a
    # fork bomb.
    value = str(limit() + 1) if value == "one above the limit" else value
    args = [command, str(data), "-j", value]
    if command == "transform":
        args += ["-o", str(tmp_path / "out.h5")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2
    assert result.stderr.splitlines()[-1] == expected_line(int(value))
    assert not (tmp_path / "out.h5").exists()


def test_absurd_workers_in_a_config_are_refused(data: Path, tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text(f"workers = {limit() + 1}\n")
    result = CliRunner().invoke(
        main, ["transform", str(data), "-o", str(tmp_path / "o.h5"), "--config", str(config)]
    )
    assert result.exit_code == 2
    assert f"{limit() + 1} is more than 4 per CPU" in result.stderr
