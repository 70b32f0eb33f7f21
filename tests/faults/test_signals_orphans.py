"""Worker processes die with the main process and do not inherit its signal handlers.

Before: after ``kill -9`` of imgprep its workers stayed alive for good, blocked on their
task pipe, and ignored SIGTERM (a forked worker inherited the main process's handler).
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from tests.faults.signals_support import (
    BUSY,
    alive,
    catches,
    children,
    ignores,
    kill_leftover,
    linux_only,
    small_images,
    start,
    wait_for_children,
)

pytestmark = linux_only
FULL = os.environ.get("IMGPREP_FAULTS_FULL") == "1"  # the slower checks (CI)


def test_workers_die_with_a_killed_main_process(tmp_path):
    data = small_images(tmp_path / "data")
    process = start("transform", str(data), "-o", str(tmp_path / "o.h5"), *BUSY)
    workers = wait_for_children(process.pid, 2)
    try:
        # A worker is seen as soon as it is forked, with SIGINT and SIGTERM still blocked
        # until its initializer has set them: wait for that (a race under load otherwise).
        deadline = time.monotonic() + 10
        while not all(ignores(pid, signal.SIGINT) for pid in workers):
            assert time.monotonic() < deadline, "the workers never came to ignore SIGINT"
            time.sleep(0.01)
        for pid in workers:  # Ctrl-C ignored (the main process decides), SIGTERM as default
            assert ignores(pid, signal.SIGINT) and not catches(pid, signal.SIGTERM)
        process.kill()
        process.wait(timeout=5)
        deadline = time.monotonic() + 3
        while any(alive(pid) for pid in workers) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [pid for pid in workers if alive(pid)] == []
    finally:
        for pid in workers:
            kill_leftover(pid)
        process.kill()
        process.wait()
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _descendants(pid: int) -> list[int]:
    found = []
    for child in children(pid):
        found += [child, *_descendants(child)]
    return found


@pytest.mark.skipif(
    not FULL, reason="a local Dask cluster takes seconds to start: IMGPREP_FAULTS_FULL=1"
)
@pytest.mark.dask
def test_dask_local_cluster_workers_die_with_a_killed_main_process(tmp_path):
    """Dask's own guard (its worker processes watch their parent), checked: after ``kill
    -9`` of imgprep nothing of its LocalCluster stays running."""
    pytest.importorskip("distributed")
    data = small_images(tmp_path / "data", 8)
    args = ["--engine", "dask", "-j", "2", "-q", "--size", "256x256", "--copies", "300"]
    args += ["--rotation-range", "20", "--rescale", "1/255"]
    process = start("transform", str(data), "-o", str(tmp_path / "o.h5"), *args)
    deadline = time.monotonic() + 60
    while len(_descendants(process.pid)) < 3 and process.poll() is None:
        assert time.monotonic() < deadline, "no local cluster started"
        time.sleep(0.1)  # the resource tracker and two worker processes
    started = _descendants(process.pid)
    try:
        assert len(started) >= 3
        process.kill()
        process.wait(timeout=5)
        deadline = time.monotonic() + 5
        while any(alive(pid) for pid in started) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [pid for pid in started if alive(pid)] == []
    finally:
        for pid in started:
            kill_leftover(pid)
        process.kill()
        process.wait()
