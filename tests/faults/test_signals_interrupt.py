"""Ctrl-C and SIGTERM end a run within seconds, with one line, leaving nothing behind.

Before: about one interrupt in three of ``transform -j 2`` with augmentation hung in
``ProcessPoolExecutor.shutdown`` (only ``kill -9`` ended it, a temporary file of hundreds
of MB stayed), some printed "Exception ignored in: ... Terminated" first, and a SIGTERM
before the progress bar killed the process without its line or clean-up.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time

import numpy as np
import pytest

from tests.faults.signals_support import (
    BUSY,
    alive,
    children,
    kill_leftover,
    linux_only,
    small_images,
    start,
    wait_for_children,
    wait_for_handler,
)

pytestmark = linux_only

LINES = {
    signal.SIGINT: ("Interrupted; no output was written.\n", 130),
    signal.SIGTERM: ("Terminated; no output was written.\n", 143),
}
ENDS_WITHIN = 5.0  # seconds from the signal to the exit
# 10 interrupts at random moments (about 3.5 s); IMGPREP_FAULTS_FULL=1: 40
ROUNDS = 40 if os.environ.get("IMGPREP_FAULTS_FULL") == "1" else 10


def test_interrupts_at_random_moments(tmp_path):
    """Runs interrupted at random moments (0.05-1.5 s after the command started), SIGINT
    and SIGTERM alternately, a few at a time: each ends within ENDS_WITHIN seconds with
    its exit code and exactly its one line, and leaves no file and no worker process."""
    data = small_images(tmp_path / "data")
    moments = np.random.default_rng().uniform(0.05, 1.5, ROUNDS)
    for first in range(0, ROUNDS, 5):  # at most 5 runs (15 processes) at once on 2 cores
        rounds = range(first, min(first + 5, ROUNDS))
        runs = []
        for index in rounds:
            out = tmp_path / f"out{index}"
            out.mkdir()
            process = start("transform", str(data), "-o", str(out / "o.h5"), *BUSY)
            runs.append((index, out, process))
        _interrupt_all(runs, moments)


def _interrupt_all(runs: list[tuple[int, object, subprocess.Popen[str]]], moments) -> None:
    for _, _, process in runs:
        wait_for_handler(process.pid)
    ready = time.monotonic()
    sent: dict[int, tuple[float, int, list[int]]] = {}
    for index, _, process in sorted(runs, key=lambda run: moments[run[0]]):
        time.sleep(max(0.0, ready + moments[index] - time.monotonic()))
        number = signal.SIGINT if index % 2 == 0 else signal.SIGTERM
        workers = children(process.pid)
        process.send_signal(number)
        sent[index] = (time.monotonic(), number, workers)
    for index, out, process in runs:
        when, number, workers = sent[index]
        try:
            _, stderr = process.communicate(timeout=max(0.1, when + ENDS_WITHIN - time.monotonic()))
        except subprocess.TimeoutExpired:
            process.kill()
            process.communicate()
            for pid in workers:
                kill_leftover(pid)
            pytest.fail(f"run {index} did not end within {ENDS_WITHIN} s of {number.name}")
        took = time.monotonic() - when
        line, code = LINES[number]
        context = f"run {index}, {number.name} at {moments[index]:.2f} s, ended in {took:.2f} s"
        assert (process.returncode, stderr) == (code, line), context
        assert os.listdir(out) == [], context
        assert [pid for pid in workers if alive(pid)] == [], context


@pytest.mark.parametrize("number", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_during_start_up_has_its_line_too(tmp_path, number):
    """A signal before any work started (here: while paths are read from stdin) is handled
    as later ones: exit 130/143 and the one line, not a bare death by signal."""
    process = start("transform", "-", "-q", "-o", str(tmp_path / "o.h5"), stdin=subprocess.PIPE)
    wait_for_handler(process.pid, timeout=3)
    time.sleep(0.1)
    process.send_signal(number)
    _, stderr = process.communicate(timeout=10)
    line, code = LINES[number]
    assert (process.returncode, stderr) == (code, line)
    assert os.listdir(tmp_path) == []


def test_sigterm_to_the_whole_process_group(tmp_path):
    """A job scheduler's SIGTERM reaches the workers too: they die of it, and the main
    process still reports the signal (not "a worker process died")."""
    number = signal.SIGTERM
    data = small_images(tmp_path / "data")
    out = tmp_path / "out"
    out.mkdir()
    process = start("transform", str(data), "-o", str(out / "o.h5"), *BUSY, session=True)
    workers = wait_for_children(process.pid, 2)
    time.sleep(0.2)
    os.killpg(process.pid, number)
    try:
        _, stderr = process.communicate(timeout=ENDS_WITHIN)
    finally:
        for pid in workers:
            kill_leftover(pid)
    assert (process.returncode, stderr) == LINES[number][::-1]
    assert os.listdir(out) == []
    assert [pid for pid in workers if alive(pid)] == []
