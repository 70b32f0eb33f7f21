"""Only regular files are read as stats files, TOML configs or sidecars, and their bytes are
capped: a device, a FIFO or a huge file ends in one line, never a hang or a memory blow-up.

A guard turns a regression into a failure instead of a hung or killed test run: an alarm
interrupts a blocked open, and the address space is capped while each command runs.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from imgprep.cli import main
from imgprep.errors import ImgprepError
from tests.conftest import make_dataset

STATS_LIMIT = 256 << 20  # the documented caps (imgprep.io.bounded)
CONFIG_LIMIT = 1 << 20
GUARD_SECONDS = 10
GUARD_BYTES = 3 << 30  # more address space than the command needs


class Hung(Exception):
    pass


@contextlib.contextmanager
def guarded() -> Iterator[None]:
    """Fail (instead of hanging or exhausting memory) when a command reads without end."""

    def alarm(signum: int, frame: object) -> None:
        raise Hung(f"still running after {GUARD_SECONDS} s")

    with open("/proc/self/statm") as handle:
        used = int(handle.read().split()[0]) * resource.getpagesize()
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    previous = signal.signal(signal.SIGALRM, alarm)
    signal.alarm(GUARD_SECONDS)
    resource.setrlimit(resource.RLIMIT_AS, (used + GUARD_BYTES, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def invoke(*args: str) -> object:
    with guarded():
        return CliRunner().invoke(main, list(args))


@pytest.fixture
def data(tmp_path: Path, rng) -> Path:
    root = tmp_path / "data"
    make_dataset(root, rng, per_class=2, shape=(4, 4, 3))
    return root


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pipe.json"
    os.mkfifo(path)
    return path


def test_stats_from_a_device_is_refused(data: Path, tmp_path: Path):
    out = tmp_path / "o.h5"
    result = invoke("transform", str(data), "-o", str(out), "-q", "--center", "featurewise",
                    "--stats", "/dev/zero")  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: /dev/zero: not a regular file (a character device); a stats file must be one\n"
    )
    assert not out.exists()


def test_stats_from_a_fifo_is_refused(data: Path, fifo: Path, tmp_path: Path):
    result = invoke("transform", str(data), "-o", str(tmp_path / "o.h5"), "-q",
                    "--center", "featurewise", "--stats", str(fifo))  # fmt: skip
    assert result.exit_code == 2
    assert (
        result.stderr == f"Error: {fifo}: not a regular file (a FIFO); a stats file must be one\n"
    )


def test_stats_named_by_a_config_is_a_regular_file(data: Path, tmp_path: Path):
    config = tmp_path / "c.toml"
    config.write_text('stats = "/dev/zero"\ncenter = "featurewise"\n')
    result = invoke("transform", str(data), "-o", str(tmp_path / "o.h5"), "-q",
                    "--config", str(config))  # fmt: skip
    assert result.exit_code == 2
    assert result.stderr == (
        "Error: /dev/zero: not a regular file (a character device); a stats file must be one\n"
    )


def test_a_fifo_as_config_is_refused(data: Path, fifo: Path, tmp_path: Path):
    result = invoke("transform", str(data), "-o", str(tmp_path / "o.h5"), "--config", str(fifo))
    assert result.exit_code == 2
    assert result.stderr == (
        f"Error: {fifo}: not a regular file (a FIFO); a config file must be one\n"
    )


def test_merge_and_export_refuse_devices(data: Path, tmp_path: Path):
    stats = tmp_path / "s.json"
    assert invoke("fit-stats", str(data), "-q", "-o", str(stats)).exit_code == 0
    expected = (
        "Error: /dev/zero: not a regular file (a character device); a stats file must be one\n"
    )
    merged = invoke("fit-stats", "--merge", "/dev/zero", str(stats), "-o", str(tmp_path / "m"))
    assert (merged.exit_code, merged.stderr) == (2, expected)
    exported = invoke("export-stats", "/dev/zero")
    assert (exported.exit_code, exported.stderr) == (2, expected)


def test_a_stats_file_above_256_mib_is_refused_unread(tmp_path: Path):
    huge = tmp_path / "huge.json"
    with open(huge, "wb") as handle:  # sparse: no disk space used
        handle.truncate(STATS_LIMIT + 1)
    result = invoke("export-stats", str(huge))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {huge} is larger than the 256 MiB a stats file may have\n"


def test_a_config_above_1_mib_is_refused(data: Path, tmp_path: Path):
    config = tmp_path / "big.toml"
    config.write_text("# " + "x" * CONFIG_LIMIT + "\n")
    result = invoke("transform", str(data), "-o", str(tmp_path / "o.h5"), "--config", str(config))
    assert result.exit_code == 1
    assert result.stderr == f"Error: {config} is larger than the 1 MiB a config file may have\n"


def test_a_file_descriptor_number_is_not_a_stats_path(data: Path, tmp_path: Path):
    config = tmp_path / "fd.toml"
    config.write_text('stats = 5\ncenter = "featurewise"\n')
    result = invoke("transform", str(data), "-o", str(tmp_path / "o.h5"), "--config", str(config))
    assert result.exit_code == 2
    assert result.stderr == f"Error: {config}: key 'stats' must be a file path (a string), got 5\n"


def test_read_regular_file_bounds_a_growing_file(tmp_path: Path, monkeypatch):
    """The size is checked before reading and again on the bytes read (a file that grows)."""
    from imgprep.io.bounded import read_regular_file

    path = tmp_path / "grows.json"
    path.write_bytes(b"x" * 11)
    real_stat, real_fstat = os.stat, os.fstat

    def reported_small(info: os.stat_result) -> os.stat_result:
        values = list(info)
        values[6] = 1  # st_size: as if the file grew after it was checked
        return os.stat_result(values)

    monkeypatch.setattr(os, "stat", lambda p, **kw: reported_small(real_stat(p, **kw)))
    monkeypatch.setattr(os, "fstat", lambda fd: reported_small(real_fstat(fd)))
    with pytest.raises(ImgprepError) as info:
        read_regular_file(str(path), limit=10, what="stats file")
    assert str(info.value) == f"{path} is larger than the 10 bytes a stats file may have"
