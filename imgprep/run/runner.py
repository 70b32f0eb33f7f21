"""The Runner protocol: what runs a pass's tasks, on this machine or on a cluster.

A pass (statistics, ZCA, transform) cuts its work into picklable tasks and hands them to a
runner, which returns the results in task order whatever order they finish in; so every
output is a function of the inputs and options alone, never of the runner. Two runners
exist: ``LocalRunner`` (``imgprep.run.local``: processes of this machine) and
``DaskRunner`` (``imgprep.run.dask``: a Dask cluster, optional). The public functions take
``workers=`` as an integer or a runner; ``as_runner`` turns either into a runner.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from typing import Protocol, TypeVar, runtime_checkable

T = TypeVar("T")
R = TypeVar("R")


@runtime_checkable
class Runner(Protocol):
    """Runs a pass's tasks and yields their results in task order."""

    on_cluster: bool  # tasks run on other machines (paths must be absolute, no local pool)

    @property
    def slots(self) -> int:
        """How many tasks run at the same time (sizes tasks and memory checks)."""
        ...

    def map_batches(
        self, func: Callable[[T], R], tasks: Iterable[T], *, desc: str = ""
    ) -> Iterator[R]:
        """``func`` over ``tasks``, results in task order; ``desc`` names its progress."""
        ...


def as_runner(workers: int | Runner) -> Runner:
    """``workers`` processes of this machine, or the runner given."""
    if isinstance(workers, Runner):
        return workers
    from imgprep.run.local import LocalRunner

    return LocalRunner(workers)
