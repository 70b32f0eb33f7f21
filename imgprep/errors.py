"""Exception types raised by the library.

The library never prints or exits: it raises these, and the CLI turns each into one
``Error: ...`` line with the exit code the exception carries. Messages say what failed,
where (file, key, index) and, when known, how to fix it.
"""

from __future__ import annotations

# For every command's --help (the exceptions below carry the codes).
EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 data error, failed check or unwritable output, 2 usage error, "
    "130 Ctrl-C, 143 SIGTERM."
)


class ImgprepError(Exception):
    """Base class: a data problem the user can act on (CLI exit code 1)."""

    exit_code = 1


class InputError(ImgprepError):
    """The request itself is wrong: missing path, no images, mismatched settings (exit 2)."""

    exit_code = 2


class DecodeError(ImgprepError):
    """One image could not be read; ``path`` and ``reason`` are kept apart for reports."""

    def __init__(self, path: str, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[type, tuple[str, str]]:
        """Pickled with both fields, so it crosses process (and Dask) boundaries intact."""
        return (type(self), (self.path, self.reason))


class StatsFileError(ImgprepError):
    """A stats file is unreadable, of an unknown format version, or inconsistent."""
