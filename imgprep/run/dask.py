"""Running the same work on a Dask cluster (the optional extra ``imgprep[dask]``).

The statistics are mergeable and the transform is per image, so both map onto an existing
distributed engine; imgprep does not schedule anything itself. ``DaskRunner`` is the
cluster counterpart of ``local.LocalRunner``: the same tasks (batches of files), grouped
into partitions of about ``partition_files`` files, one Dask task per partition, and the
results handed back **in input order**, never completion order. The code that folds them
is the local engine's, so a stats file is byte-identical to a local run's.

A worker that dies (killed, out of memory) has its partition rescheduled by Dask on
another worker (the scheduler's ``allowed-failures``, 3 by default); a partition that
raises is retried ``retries`` times. Every task is a pure function of its files, so a
retry gives the same bytes.

Workers need imgprep installed (same version) and must see the input paths (and, for
``transform``, the output folder) at the same names as this machine: a shared filesystem,
as with any cluster job.
"""

from __future__ import annotations

import contextlib
import secrets
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from typing import Any, TypeVar

from imgprep.errors import ImgprepError, InputError, option
from imgprep.io.items import absolute_segments
from imgprep.run.dask_handshake import cannot_connect, check_scheduler

ENGINES = ("local", "dask")
DEFAULT_PARTITION_FILES = 1024
DEFAULT_RETRIES = 2
DASK_EXTRA_HINT = "pip install 'imgprep[dask]'"
CONNECT_TIMEOUT = 10.0  # seconds for the whole handshake with a running scheduler

T = TypeVar("T")
R = TypeVar("R")
PartitionProgress = Callable[[int, str], AbstractContextManager[Callable[[int], None]]]


def require_dask() -> Any:
    """``distributed``, or a usage error saying how to install it."""
    try:
        import distributed
    except ImportError as exc:
        raise InputError(
            f"{option('engine')} dask needs Dask's distributed scheduler: {DASK_EXTRA_HINT}"
        ) from exc
    return distributed


def task_files(task: Any) -> int:
    """Files in a batch task (every task type carries ``segments``)."""
    return sum(len(rels) for _, rels in task.segments)


def group_tasks(tasks: Sequence[T], partition_files: int) -> list[list[T]]:
    """Consecutive tasks grouped until each group holds at least ``partition_files`` files
    (or the tasks run out). The grouping never changes a result, only the task count."""
    groups: list[list[T]] = []
    current: list[T] = []
    files = 0
    for task in tasks:
        current.append(task)
        files += task_files(task)
        if files >= partition_files:
            groups.append(current)
            current, files = [], 0
    if current:
        groups.append(current)
    return groups


class Raised:
    """An ``ImgprepError`` a task raised, returned as its value: it is the same on every
    attempt (bad data, bad options), so Dask must not retry it or log it as a crash; the
    driver raises it again. Other exceptions (I/O, memory) stay exceptions and are retried."""

    def __init__(self, error: ImgprepError) -> None:
        self.error = error


def call_guarded(func: Callable[..., R], *args: Any) -> R | Raised:
    """One Dask task: ``func(*args)``, with library errors returned as ``Raised``."""
    try:
        return func(*args)
    except ImgprepError as exc:
        return Raised(exc)


def run_group(func: Callable[[T], R], tasks: list[T]) -> list[R]:
    """One Dask task: the batches of a partition, one after the other (memory stays bounded
    by one batch, as with the local engine)."""
    return [func(task) for task in tasks]


class DaskRunner:
    """An ordered map over a Dask cluster, reporting each completed partition.

    Args:
        client: a connected ``distributed.Client``.
        partition_files: files per Dask task (about; whole batches are never split).
        retries: how many times a partition that raised is run again.
        progress: called as ``progress(total, desc)`` for each map; returns a context manager
            that yields ``advance(count)``, called once per completed partition, in
            completion order (the CLI passes a tqdm bar; the library prints nothing).
    """

    def __init__(
        self,
        client: Any,
        *,
        partition_files: int = DEFAULT_PARTITION_FILES,
        retries: int = DEFAULT_RETRIES,
        progress: PartitionProgress | None = None,
    ) -> None:
        if partition_files < 1:
            raise InputError(f"the partition size must be at least 1, got {partition_files}")
        self.client = client
        self.partition_files = partition_files
        self.retries = retries
        self.progress = progress
        self.run_token = secrets.token_hex(4)
        self._calls = 0

    on_cluster = True

    @property
    def threads(self) -> int:
        """Task slots in the cluster now (at least 1)."""
        return max(1, sum(self.client.nthreads().values()))

    @property
    def slots(self) -> int:
        """Tasks that run at the same time: the cluster's threads (the ``Runner`` protocol)."""
        return self.threads

    def map_batches(
        self, func: Callable[[T], R], tasks: Iterable[T], *, desc: str = ""
    ) -> Iterator[R]:
        """``func`` over batch tasks, grouped into partitions; results in task order."""
        # Workers may run in another directory: they get absolute paths (reports and stored
        # paths keep the relative ones, from the driver's own list).
        located = [replace(task, segments=absolute_segments(task.segments)) for task in tasks]
        groups = group_tasks(located, self.partition_files)
        arguments = [(func, group) for group in groups]
        for results in self.map(run_group, arguments, desc=desc or func.__name__):
            yield from results

    def map(
        self, func: Callable[..., R], arguments: Sequence[tuple[Any, ...]], *, desc: str = ""
    ) -> Iterator[R]:
        """``func(*args)`` for each tuple of ``arguments`` as one Dask task, in order.

        At most ``2 x threads + 2`` tasks are submitted ahead of the one awaited, so the
        results held here stay bounded whatever the dataset size.
        """
        distributed = require_dask()
        self._calls += 1
        name = getattr(func, "__name__", "task")
        prefix = f"imgprep-{name}-{self.run_token}-{self._calls}"
        window = 2 * self.threads + 2
        pending: deque[Any] = deque()
        finished: set[str] = set()
        completed = distributed.as_completed()
        remaining = iter(enumerate(arguments))
        if self.progress is not None:
            bar = self.progress(len(arguments), desc or name)
        else:
            bar = contextlib.nullcontext(_no_progress)
        try:
            with bar as advance:
                while True:
                    while len(pending) < window:
                        item = next(remaining, None)
                        if item is None:
                            break
                        index, args = item
                        future = self.client.submit(
                            call_guarded,
                            func,
                            *args,
                            key=f"{prefix}-{index}",
                            retries=self.retries,
                        )
                        pending.append(future)
                        completed.add(future)
                    if not pending:
                        return
                    head = pending[0]
                    while head.key not in finished:
                        done = next(completed)
                        finished.add(done.key)
                        advance(1)
                    pending.popleft()
                    finished.discard(head.key)
                    yield _result(head, distributed)
        finally:
            # A consumer that stops early closes this generator; after the client is closed
            # there is nothing left to cancel.
            if pending and self.client.status == "running":
                self.client.cancel(list(pending))


def _no_progress(count: int) -> None:
    """No report."""


def _result(future: Any, distributed: Any) -> Any:
    """The task's value; a partition whose workers kept dying becomes a one-line error."""
    try:
        value = future.result()
    except distributed.KilledWorker as exc:
        raise ImgprepError(
            "a Dask worker died each time it ran one partition (out of memory?); try a "
            f"smaller {option('partition-size')} or "
            f"{option('batch-size')}, or workers with more memory"
        ) from exc
    finally:
        future.release()
    if isinstance(value, Raised):
        raise value.error
    return value


@contextlib.contextmanager
def connect(
    scheduler: str | None = None,
    *,
    workers: int = 1,
    partition_files: int = DEFAULT_PARTITION_FILES,
    quiet: bool = False,
    log: Callable[[str], None] | None = None,
    progress: PartitionProgress | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> Iterator[DaskRunner]:
    """A ``DaskRunner`` on the cluster at ``scheduler``, or on a new ``LocalCluster``.

    The local cluster has ``workers`` worker processes of one thread each (the tasks are
    CPU-bound Python and NumPy), and is shut down on exit. Its worker processes end with
    this process, even after ``kill -9`` (Dask's own guard: they watch their parent). The
    dashboard link goes to ``log`` (stderr), since a cluster job is watched there; with
    ``quiet`` a local cluster starts no dashboard.

    ``timeout`` (seconds) bounds the whole handshake with a running ``scheduler``: Dask's
    own connect timeout covers the TCP connection only, and then waits for good for a
    server that accepts but never answers (a web server, a service that sends a banner),
    or reads a few bytes of it as a frame length and fails with MemoryError. So a
    ``tcp://`` scheduler is first asked for its handshake (``imgprep.run.dask_handshake``,
    which reads at most ``MAX_HANDSHAKE`` bytes), and the client gets what is left of the time.

    Raises:
        InputError: a malformed address.
        ImgprepError: "cannot connect to the Dask scheduler at ADDRESS: reason" (refused,
            no answer within ``timeout``, not Dask's protocol), or a local cluster that
            cannot start.
    """
    distributed = require_dask()
    if scheduler is None and workers < 1:
        raise InputError(f"a local cluster needs at least 1 worker, got {workers}")
    cluster = None
    try:
        if scheduler is None:
            cluster = distributed.LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                # the dashboard (about 0.5 s to start) only when its link is printed
                dashboard_address=None if quiet else ":0",
                silence_logs=40,  # logging.ERROR: the run's own lines stay readable
            )
            client = distributed.Client(cluster)
        else:
            deadline = time.monotonic() + timeout
            check_scheduler(scheduler, timeout)
            left = max(1.0, deadline - time.monotonic())
            client = distributed.Client(scheduler, timeout=left)
    except (ValueError, OSError, RuntimeError) as exc:
        # ValueError: a malformed address; OSError: an unreachable scheduler (TimeoutError
        # included); RuntimeError: local workers that failed to start
        if cluster is not None:
            cluster.close()
        if scheduler is None:
            raise ImgprepError(f"cannot start a local Dask cluster: {exc}") from exc
        if isinstance(exc, ValueError):
            raise InputError(f"invalid {option('scheduler')} address {scheduler!r}: {exc}") from exc
        raise cannot_connect(scheduler, _reason(exc)) from exc
    try:
        if log is not None:
            where = scheduler or f"a local cluster of {workers} worker(s)"
            log(f"dask: connected to {where}; dashboard {client.dashboard_link}")
        yield DaskRunner(client, partition_files=partition_files, progress=progress)
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def _reason(error: BaseException) -> str:
    if isinstance(error, ConnectionRefusedError):
        return "connection refused"
    if isinstance(error, OSError) and error.strerror:
        return error.strerror
    return str(error).splitlines()[0] if str(error) else type(error).__name__
