"""Worker processes that end when the process that started them ends.

A worker blocked on its task pipe never notices that the main process is gone: after a
``kill -9`` of imgprep its workers stayed alive for good (seen here, holding the terminal's
pipes open). On Linux the kernel ends them: ``prctl(PR_SET_PDEATHSIG, SIGKILL)`` sends
SIGKILL to the worker when the thread that forked it exits; the engine forks its workers
from the main thread. Elsewhere (or if ``prctl`` fails) a daemon thread checks the parent's
pid twice a second. Workers hold nothing that needs cleaning up (the main process owns the
output and its temporary files), so SIGKILL loses nothing.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
WATCH_SECONDS = 0.5


def die_with_parent(parent: int) -> None:
    """End this process (at once, no clean-up) when process ``parent`` is gone.

    ``parent`` is the pid the caller expects as its parent: a parent that died before the
    death signal was armed has already handed the process to another one, so that case is
    checked after arming.
    """
    if not (sys.platform.startswith("linux") and _set_death_signal(signal.SIGKILL)):
        threading.Thread(target=_watch, args=(parent,), name="imgprep-parent", daemon=True).start()
    if os.getppid() != parent:
        os._exit(1)


def _set_death_signal(signum: int) -> bool:
    """``prctl(PR_SET_PDEATHSIG, signum)``; False when it is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)  # the loaded C library; no ldconfig run
        return int(libc.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_SECONDS)
    os._exit(1)
