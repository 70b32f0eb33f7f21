"""What a run does with a file it cannot read: stop there, or skip it as data.

One rule for every pass (statistics, transform, shards), applied in input order so that
``stop`` always names the first bad file and ``skip`` lists the same files whatever the
workers: processed + skipped = found.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from imgprep.errors import DecodeError, InputError

ON_ERROR_CHOICES = ("stop", "skip")


@dataclass(frozen=True)
class ErrorPolicy:
    """``stop`` raises ``DecodeError`` at a failure; ``skip`` records it and calls ``on_skip``.

    Attributes:
        mode: ``stop`` or ``skip``.
        on_skip: called with (path, reason) as each file is skipped (the CLI's report line).
    """

    mode: str = "stop"
    on_skip: Callable[[str, str], None] | None = None

    def __post_init__(self) -> None:
        if self.mode not in ON_ERROR_CHOICES:
            raise InputError(f"invalid on_error {self.mode!r}: choose stop or skip")

    @property
    def stops(self) -> bool:
        return self.mode == "stop"

    def failed(self, skipped: list[dict[str, str]], path: str, reason: str) -> None:
        """Handle the failure of ``path``: raise, or append it to ``skipped`` and report it."""
        if self.stops:
            raise DecodeError(path, reason)
        skipped.append({"path": path, "reason": reason})
        if self.on_skip:
            self.on_skip(path, reason)
