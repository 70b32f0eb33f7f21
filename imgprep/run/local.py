"""Worker processes on this machine: an ordered map over a process pool.

``LocalRunner`` is the local ``Runner`` (``imgprep.run.runner``): results come back in task
order, never completion order, with at most ``2 * workers`` tasks in flight, so memory is
bounded by the task size and outputs do not depend on ``workers``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import TypeVar

from imgprep import interrupts
from imgprep.errors import ImgprepError, InputError, option
from imgprep.lifetime import die_with_parent
from imgprep.run.cpu import opencv_single_threaded_for_good

_START_METHOD = "fork" if sys.platform.startswith("linux") else "spawn"

T = TypeVar("T")
R = TypeVar("R")


class LocalRunner:
    """Tasks run by ``workers`` processes of this machine (in this process when 1)."""

    on_cluster = False

    def __init__(self, workers: int = 1) -> None:
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise InputError(f"workers must be an integer of at least 1, got {workers!r}")
        self.workers = workers

    @property
    def slots(self) -> int:
        """Tasks that run at the same time."""
        return self.workers

    def __repr__(self) -> str:
        return f"LocalRunner(workers={self.workers})"

    def map_batches(
        self,
        func: Callable[[T], R],
        tasks: Iterable[T],
        *,
        window: int | None = None,
        desc: str = "",
    ) -> Iterator[R]:
        """``map(func, tasks)`` over worker processes, yielding results in task order.

        At most ``window`` (default ``2 * workers``) tasks are in flight, which bounds memory.
        With ``workers <= 1`` everything runs in this process. On Linux, workers are forked
        (they start in milliseconds, with the modules already imported); elsewhere they are
        spawned, since fork is unsafe on macOS and absent on Windows.

        Signals and the lifetime of workers (see ``_start_worker``): workers ignore SIGINT
        (Ctrl-C reaches the whole process group, and the main process alone handles it), take
        SIGTERM as by default, and die with the main process, even when it is killed with
        SIGKILL. Every call into the executor runs ``interrupts.shielded`` (SIGINT and SIGTERM
        blocked around the forks), and results are awaited in slices of ``POLL_SECONDS`` with
        ``interrupts.check()`` between them, so a Ctrl-C under ``interrupts.deliver_safely`` is
        raised here, never inside the executor's own code.

        The workers are a ``concurrent.futures.ProcessPoolExecutor``, not a
        ``multiprocessing.Pool``: ``Pool.terminate`` can hang for good while joining its
        handler threads (CPython issues 73945, 78178, 96995; seen here once in about 40 test
        runs), whereas the executor notices dead workers. On any exception, or when the
        consumer stops early, queued tasks are cancelled and the workers are killed rather than
        waited for (``_stop_now``: every wait bounded), so Ctrl-C stops a run at once.
        """
        if self.workers <= 1:
            for task in tasks:
                interrupts.check()
                yield func(task)
            return
        window = window or 2 * self.workers
        context = multiprocessing.get_context(_START_METHOD)
        with interrupts.shielded():
            executor = ProcessPoolExecutor(
                self.workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
            )
        pending: deque[Future[R]] = deque()
        try:
            for task in tasks:
                with interrupts.shielded(), _signals_blocked():  # the first submit forks
                    pending.append(executor.submit(func, task))
                if len(pending) >= window:
                    yield _result(pending.popleft())
            while pending:
                yield _result(pending.popleft())
        except BrokenProcessPool as exc:
            _stop_now(executor)
            interrupts.check()  # SIGTERM to the whole process group ends the workers first
            raise ImgprepError(
                f"a worker process died (killed, or out of memory?); try fewer {option('workers')} "
                f"or a smaller {option('batch-size')}"
            ) from exc
        except BaseException:
            _stop_now(executor)
            raise
        with interrupts.shielded():
            executor.shutdown(wait=True)


POLL_SECONDS = 0.1  # how long a signal may wait for the engine to notice it
STOP_SECONDS = 2.0  # how long _stop_now waits for each part of the pool to end


def _result(future: Future[R]) -> R:
    """The future's result, waited for in slices so that a signal is taken between them."""
    while True:
        interrupts.check()
        with interrupts.shielded():
            try:
                return future.result(timeout=POLL_SECONDS)
            except FutureTimeout:
                continue


@contextlib.contextmanager
def _signals_blocked() -> Iterator[None]:
    """SIGINT and SIGTERM held back in this thread (POSIX): a worker forked here starts with
    them blocked, so it cannot take one before ``_start_worker`` has set its handlers."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, interrupts.HANDLED)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _stop_now(executor: ProcessPoolExecutor) -> None:
    """Kill the workers and end the pool without ever waiting for good.

    ``shutdown(wait=True)`` can block forever after its workers died: the manager thread
    joins the call queue's feeder thread, which may be stuck writing to a pipe nobody reads,
    and it waits on locks a killed worker held. So the workers are killed and reaped here,
    the feeder is not waited for, and the manager thread gets ``STOP_SECONDS``; one still
    running then is left behind, and taken off the lists that interpreter exit joins
    (``concurrent.futures``' atexit hook and threading's shutdown), so that exit cannot
    block on it either.
    """
    with interrupts.shielded():
        processes = list((getattr(executor, "_processes", None) or {}).values())
        manager = getattr(executor, "_executor_manager_thread", None)
        calls = getattr(executor, "_call_queue", None)
        for process in processes:
            with contextlib.suppress(OSError, ValueError):
                process.kill()
        if calls is not None:
            calls.cancel_join_thread()  # its feeder may be blocked on a pipe nobody reads
        executor.shutdown(wait=False, cancel_futures=True)
        deadline = time.monotonic() + STOP_SECONDS
        for process in processes:
            with contextlib.suppress(ValueError, AssertionError):
                process.join(max(0.0, deadline - time.monotonic()))
        if manager is not None:
            manager.join(max(0.1, deadline - time.monotonic()))
            if manager.is_alive():
                _leave_behind(manager)


def _leave_behind(thread: threading.Thread) -> None:
    """Let the interpreter exit without joining ``thread`` (a stuck executor manager)."""
    from concurrent.futures import process as futures_process

    wakeups = getattr(futures_process, "_threads_wakeups", None)
    if wakeups is not None:
        wakeups.pop(thread, None)
    locks = getattr(threading, "_shutdown_locks", None)
    lock = getattr(thread, "_tstate_lock", None)
    if locks is not None and lock is not None:
        locks.discard(lock)


def _start_worker(parent: int) -> None:
    """Initializer of every worker process: its own signal handlers, and death with the
    main process (``lifetime.die_with_parent``), then the signals let through."""
    interrupts.reset_in_worker()
    die_with_parent(parent)
    opencv_single_threaded_for_good()  # forked workers inherit it; spawned ones need it
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupts.HANDLED)
