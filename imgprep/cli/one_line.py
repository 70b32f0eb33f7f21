"""Messages that stay one line whatever the file names in them.

A file name may hold any byte but ``/`` and NUL: a newline splits ``skipped: PATH: REASON``
into two lines that scripts read as two records, a carriage return overwrites the line on a
terminal, and an escape sequence (``\\x1b[...``) is executed by it (colours, cursor moves,
a changed window title). So control characters in a message are written as Python escapes
(``\\n``, ``\\t``, ``\\x1b``), the way ``repr`` shows them; everything else is unchanged.
"""

from __future__ import annotations

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_ESCAPES = {
    code: _NAMED.get(chr(code), f"\\x{code:02x}") for code in (*range(0x20), *range(0x7F, 0xA0))
}
_ESCAPES.update({0x2028: "\\u2028", 0x2029: "\\u2029"})  # Unicode line and paragraph breaks


def one_line(text: str) -> str:
    """``text`` with its control characters escaped (see the module docstring)."""
    return text.translate(_ESCAPES)
