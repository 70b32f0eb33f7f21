"""Helpers of the signal tests: run ``python -m imgprep`` from this checkout, watch its
processes in /proc (Linux), make small datasets that keep workers busy for a few seconds."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import write_image

ROOT = Path(__file__).resolve().parents[2]
# 4 small images, each augmented into 100 copies of 256 x 256 float32: a run of several
# seconds on 2 workers (and 300 MB written), so a signal finds it busy
BUSY = ["-q", "-j", "2", "--size", "256x256", "--rotation-range", "20"]
BUSY += ["--copies", "100", "--rescale", "1/255", "--seed", "7"]

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads the process table in /proc"
)


def small_images(root: Path, count: int = 4) -> Path:
    """``count`` random 32 x 32 RGB PNGs in two class folders."""
    rng = np.random.default_rng(3)
    for index in range(count):
        array = rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)
        write_image(root / f"c{index % 2}" / f"{index}.png", array)
    return root


def start(
    *args: str, stdin: int | None = subprocess.DEVNULL, session: bool = False
) -> subprocess.Popen[str]:
    """``python -m imgprep ARGS`` with this checkout first on the path (in a process group
    of its own with ``session``, as a shell job is)."""
    path = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    return subprocess.Popen(
        [sys.executable, "-m", "imgprep", *args],
        env={**os.environ, "PYTHONPATH": path},
        stdin=stdin,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=session,
    )


def status(pid: int) -> dict[str, str]:
    """/proc/PID/status as a dict ({} once the process is gone)."""
    try:
        with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return {}
    return dict(line.split(":\t", 1) for line in lines if ":\t" in line)


def catches(pid: int, signum: int) -> bool:
    """Whether process ``pid`` has a handler for ``signum``."""
    return bool(int(status(pid).get("SigCgt", "0"), 16) >> (signum - 1) & 1)


def ignores(pid: int, signum: int) -> bool:
    return bool(int(status(pid).get("SigIgn", "0"), 16) >> (signum - 1) & 1)


def wait_for_handler(pid: int, timeout: float = 10.0) -> None:
    """Until ``pid`` handles SIGTERM (imgprep's command has started), at most ``timeout``."""
    deadline = time.monotonic() + timeout
    while not catches(pid, signal.SIGTERM) and time.monotonic() < deadline:
        time.sleep(0.01)


def children(pid: int) -> list[int]:
    """The live (not zombie) processes whose parent is ``pid``."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="utf-8") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z":
            found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running, and not a zombie waiting to be reaped."""
    state = status(pid).get("State", "Z")
    return not state.startswith(("Z", "X"))


def wait_for_children(pid: int, count: int, timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = children(pid)
        if len(found) >= count:
            return found
        time.sleep(0.02)
    raise AssertionError(f"process {pid} did not start {count} workers in {timeout} s")


def dead_pid() -> int:
    """The pid of a process that has just ended (not reused for a while)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def kill_leftover(pid: int) -> None:
    """SIGKILL ``pid`` if it is still one of the test's imgprep processes (clean-up after a
    failed assertion; the pid of a process that ended is not reused within seconds, and
    the command line is checked as well)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as handle:
            ours = b"imgprep" in handle.read()
        if ours and alive(pid):
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
