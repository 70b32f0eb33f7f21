"""Ctrl-C and SIGTERM, raised only where Python code can take them.

Python runs a signal handler in the main thread between two bytecodes, wherever that thread
is, and an exception raised there can land in the middle of ``concurrent.futures``'s
bookkeeping, a fork handler of ``logging`` or a finalizer. There it is printed as
"Exception ignored in: ..." and lost, or it leaves a lock held or a worker process unknown to
its pool: seen here as runs that went on after Ctrl-C, and as one Ctrl-C in three that hung
for good in ``ProcessPoolExecutor.shutdown``.

So the handler that ``deliver_safely`` installs (the command line does, for the whole
command) records the signal, and raises it (``KeyboardInterrupt`` for SIGINT, ``Terminated``
for SIGTERM) only when the main thread is in ordinary code:

- not inside a ``shielded()`` block (the engine wraps its calls into the process pool in
  one, and waits for results in short slices, calling ``check()`` between them);
- with no frame of ``concurrent.futures``, ``multiprocessing``, ``logging`` or the weakref
  machinery (the import system's module-lock callback included) on its stack, and no
  ``__del__`` or ``__exit__`` (a clean-up being run).

Otherwise a small helper thread sends the signal to the main thread again 20 ms later, until
it lands in ordinary code (at most the time of one such call). Only the first signal is
raised: later ones (a second Ctrl-C during the clean-up) are recorded, never raised half-way
through deleting the temporary output, and ``check()`` raises the first one again if some
code swallowed it. Worker processes reset these handlers (``reset_in_worker``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time
from collections.abc import Iterator
from types import FrameType

HANDLED = (signal.SIGINT, signal.SIGTERM)
RETRY_SECONDS = 0.02
_CAN_RESEND = hasattr(signal, "pthread_kill")  # not on Windows: there check() raises it

_STOP = b"\0"  # tells the helper thread to end


class Terminated(KeyboardInterrupt):
    """SIGTERM (``kill``, a job scheduler's time limit), handled as Ctrl-C is: the output and
    any scratch file are deleted; exit 143 (128 + 15), as a shell reports it."""

    exit_code = 143


class _State:
    """What the handler knows; plain attributes, so the handler takes no lock."""

    def __init__(self) -> None:
        self.installed = False
        self.signum: int | None = None  # the first signal received
        self.raised = False
        self.shield = 0
        self.wake: int | None = None  # write end of the helper thread's pipe


_state = _State()


def _unsafe_places() -> tuple[tuple[str, ...], frozenset[str]]:
    """Folders and files whose code must not be interrupted by an exception."""
    import _weakrefset
    import concurrent.futures
    import logging
    import multiprocessing
    import weakref

    folders = tuple(
        os.path.dirname(module.__file__ or "") + os.sep
        for module in (concurrent.futures, multiprocessing, logging)
    )
    files = frozenset(module.__file__ or "" for module in (weakref, _weakrefset))
    return folders, files


_UNSAFE_FOLDERS, _UNSAFE_FILES = _unsafe_places()
_UNSAFE_NAMES = frozenset({"__del__", "__exit__", "__aexit__", "_after_fork"})
# The import system's weakref callback that drops a module lock: an exception there is
# "ignored" and lost (an import itself may be interrupted, as anywhere in Python).
_UNSAFE_CODE = frozenset({("<frozen importlib._bootstrap>", "cb")})


def _safe(frame: FrameType | None) -> bool:
    """Whether an exception may be raised in ``frame`` (the main thread's current frame)."""
    while frame is not None:
        code = frame.f_code
        if (
            code.co_name in _UNSAFE_NAMES
            or (code.co_filename, code.co_name) in _UNSAFE_CODE
            or code.co_filename in _UNSAFE_FILES
            or code.co_filename.startswith(_UNSAFE_FOLDERS)
        ):
            return False
        frame = frame.f_back
    return True


def _exception(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _on_signal(signum: int, frame: FrameType | None) -> None:
    state = _state
    if state.signum is None:
        state.signum = signum
    if state.raised or state.shield:
        return
    if not _safe(frame):
        _retry_later()
        return
    state.raised = True
    raise _exception(state.signum)


def _retry_later() -> None:
    """Ask the helper thread to send the signal again (a write to a pipe: no lock)."""
    wake = _state.wake
    if wake is not None and _state.signum is not None:
        with contextlib.suppress(OSError):  # a full pipe: a retry is pending anyway
            os.write(wake, bytes([_state.signum]))


def _resend(read: int, main: int) -> None:
    """The helper thread: re-send each signal the handler could not raise, a bit later."""
    while True:
        data = os.read(read, 64)
        if not data or _STOP in data:
            return
        time.sleep(RETRY_SECONDS)
        if _state.installed and not _state.raised and not _state.shield:
            signal.pthread_kill(main, data[-1])


@contextlib.contextmanager
def deliver_safely() -> Iterator[None]:
    """Install the handlers for SIGINT and SIGTERM for the block (main thread only; elsewhere,
    and when already installed, nothing changes). See the module docstring."""
    if _state.installed or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {number: signal.getsignal(number) for number in HANDLED}
    _state.__init__()  # type: ignore[misc]
    _state.installed = True
    helper = None
    if _CAN_RESEND:
        read, write = os.pipe()
        os.set_blocking(write, False)
        helper = threading.Thread(
            target=_resend, args=(read, threading.get_ident()), name="imgprep-signals", daemon=True
        )
        helper.start()
        _state.wake = write
    try:
        for number in HANDLED:
            signal.signal(number, _on_signal)
        yield
    finally:
        _state.wake = None
        if helper is not None:  # stopped first: a signal it sends must still find our handler
            with contextlib.suppress(OSError):
                os.set_blocking(write, True)
                os.write(write, _STOP)
            helper.join(timeout=1)
            os.close(write)
            if not helper.is_alive():
                os.close(read)
        for number, handler in previous.items():
            signal.signal(number, handler)
        _state.installed = False


def received() -> int | None:
    """The first SIGINT or SIGTERM received under ``deliver_safely``, or None."""
    return _state.signum


def check() -> None:
    """Raise the signal received, if any (at a point where the caller can take it)."""
    if _state.signum is not None and _state.installed:
        _state.raised = True
        raise _exception(_state.signum)


@contextlib.contextmanager
def shielded() -> Iterator[None]:
    """A block that a signal must not interrupt: it is recorded, and raised after the block
    at the next safe point (the caller may ``check()`` at once)."""
    _state.shield += 1
    try:
        yield
    finally:
        _state.shield -= 1
        if not _state.shield and _state.signum is not None and not _state.raised:
            _retry_later()


def reset_in_worker() -> None:
    """In a worker process: ignore Ctrl-C (the terminal sends it to the whole process group;
    the main process alone decides) and let SIGTERM end the process, as by default. A forked
    worker would otherwise inherit the handler above, and with it the main process's state."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    _state.__init__()  # type: ignore[misc]
