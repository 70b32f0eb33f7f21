"""One core per process: OpenCV's thread pool off inside a command, the caller's setting
restored after (the library never changes it)."""

from __future__ import annotations

import cv2

from imgprep.cli import main
from imgprep.run.cpu import opencv_single_threaded, opencv_single_threaded_for_good
from imgprep.transforms import fast_resize


def test_single_threaded_inside_and_restored_after():
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        with opencv_single_threaded():
            assert cv2.getNumThreads() == 1
        assert cv2.getNumThreads() == 2
    finally:
        cv2.setNumThreads(before)


def test_a_command_runs_single_threaded_and_leaves_the_setting(
    runner, dataset, tmp_path, monkeypatch
):
    root, _ = dataset
    seen: list[int] = []
    original = fast_resize.resample_region

    def spying(*args, **kwargs):
        seen.append(cv2.getNumThreads())
        return original(*args, **kwargs)

    monkeypatch.setattr(fast_resize, "resample_region", spying)
    before = cv2.getNumThreads()
    args = ["--size", "5x4", "--resize-backend", "opencv", "-q"]
    result = runner.invoke(main, ["transform", str(root), "-o", str(tmp_path / "o.h5"), *args])
    assert result.exit_code == 0, result.output
    assert seen and set(seen) == {1}
    assert cv2.getNumThreads() == before


def test_a_worker_process_stays_single_threaded():
    """What ``imgprep.run.local``'s worker initializer calls (a spawned worker inherits
    nothing from the main process)."""
    before = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        opencv_single_threaded_for_good()
        assert cv2.getNumThreads() == 1
    finally:
        cv2.setNumThreads(before)
