"""Exception types raised by the library.

The library never prints or exits: it raises these, and the CLI turns each into one
``Error: ...`` line with the exit code the exception carries. Messages say what failed,
where (file, key, index) and, when known, how to fix it.

Options are named with ``option(key)``, never as flags: a Python caller reads
``'zoom_range' must be ...``, the command line ``--zoom-range must be ...``. Per-file reasons
(the skip lists stored in outputs, the lines ``--on-error skip`` prints) are data: they are
kept as the command line shows them (``for_command_line``), so that an output's bytes do not
depend on who wrote it.
"""

from __future__ import annotations

# For every command's --help (the exceptions below carry the codes).
EXIT_CODES_HELP = (
    "Exit codes: 0 ok, 1 data error, failed check or unwritable output, 2 usage error, "
    "130 Ctrl-C, 143 SIGTERM."
)


_OPTION_MARK = "\x1f"  # around an option's key in a message (never in a path or a value)


def option(key: str) -> str:
    """How a library message names one of the user's options: by its config key (``zca``,
    ``zoom-range``, the ``transform`` flag without ``--``), not by a command-line flag.

    ``str(error)`` shows it as the Python name, quoted (``'zoom_range'``), for callers of
    the library; the command line shows the flag (``--zoom-range``) through
    ``ImgprepError.for_command_line``. So the library knows no flag, and the CLI's messages
    are the ones its users type.
    """
    return f"{_OPTION_MARK}{key}{_OPTION_MARK}"


def render_options(text: str, *, command_line: bool) -> str:
    """``text`` with each ``option(key)`` shown as ``--key`` (command line) or ``'key'``
    with underscores (Python)."""
    parts = text.split(_OPTION_MARK)
    if command_line:
        return "".join(f"--{p}" if i % 2 else p for i, p in enumerate(parts))
    return "".join(repr(p.replace("-", "_")) if i % 2 else p for i, p in enumerate(parts))


class ImgprepError(Exception):
    """Base class: a data problem the user can act on (CLI exit code 1).

    Messages name options with ``option(key)``: ``str()`` gives the Python wording,
    ``for_command_line()`` the command line's.
    """

    exit_code = 1

    def __str__(self) -> str:
        return render_options(super().__str__(), command_line=False)

    def for_command_line(self) -> str:
        """The message as the command line prints it, options named by their flags."""
        return render_options(super().__str__(), command_line=True)

    @property
    def marked(self) -> str:
        """The message with its ``option`` marks, for a message that quotes this one."""
        return super().__str__()


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
