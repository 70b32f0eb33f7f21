"""One core per process while a command runs: OpenCV's own thread pool is switched off.

Why: ``--workers N`` is the number of cores a run uses. OpenCV runs a resize or a blur of a
photo on every core by default, so a ``-j 1`` run used both of this machine's cores and was
slower: 400 photos to 224 x 224 with ``--resize-backend opencv`` took 1.29 s of wall time
and 1.76 s of CPU time with OpenCV's threads, 1.21 s and 1.37 s without (a photo is too
small to split well, and ``-j 2`` splits the work by images instead). The command line and
imgprep's own worker processes set this; the library (``Pipeline.apply``, the loaders)
leaves the caller's OpenCV setting alone, and a Dask cluster's workers are the cluster's.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator


@contextlib.contextmanager
def opencv_single_threaded() -> Iterator[None]:
    """OpenCV's thread count set to 1 inside the block, the previous count restored after."""
    import cv2

    previous = cv2.getNumThreads()
    cv2.setNumThreads(1)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def opencv_single_threaded_for_good() -> None:
    """The same for a worker process that imgprep started and owns until it ends."""
    import cv2

    cv2.setNumThreads(1)
