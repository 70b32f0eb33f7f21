"""Values read from files and written into them: one rule each, shared by every reader.

imgprep reads JSON and TOML written by someone else (stats files, HDF5 attributes, configs)
and writes JSON (stats files, ``inspect --json``). The rules here are the ones every such
reader and writer needs, kept once so that stats/, io/ and transforms/ agree without
importing each other (this module imports nothing of imgprep and touches no file):

- ``HugeInteger`` / ``parse_int``: an integer literal longer than Python converts (4,300
  digits) kept as a marker, so that the message names its key instead of the parser failing;
- ``MAX_JSON_DEPTH`` / ``json_depth``: how deeply a value read may nest;
- ``shown``: a wrong value as a one-line message shows it;
- ``plain``: a float that is an integer written as one (``3`` rather than ``3.0``);
- ``is_bare_name``: a file name that cannot leave the folder of the file that names it.
"""

from __future__ import annotations

import os
from typing import Any

MAX_JSON_DEPTH = 32  # imgprep's own documents nest 4 levels; the rest is room for extras
SHOWN_WIDTH = 60  # characters of a value's repr in a message
_LONG_INTEGER = 10**30  # from here an integer is shown as its number of digits
_KIND_NAMES = ((dict, "an object"), (list, "a list"), (type(None), "null"))


class HugeInteger:
    """An integer literal longer than Python converts (kept so the message names its key)."""

    def __init__(self, digits: int) -> None:
        self.digits = digits

    def __repr__(self) -> str:
        return f"an integer of {self.digits:,} digits"


def parse_int(text: str) -> int | HugeInteger:
    """``json.loads(..., parse_int=parse_int)``: huge literals become ``HugeInteger``."""
    try:
        return int(text)
    except ValueError:  # longer than sys.get_int_max_str_digits()
        return HugeInteger(len(text.lstrip("-")))


def json_depth(value: Any) -> int:
    """How deeply lists and objects nest in a parsed JSON value (iterative: a deep value
    would overflow Python's stack in a recursive walk, and in ``json.dumps(indent=...)``)."""
    deepest = 0
    pending = [(value, 1)]
    while pending:
        node, depth = pending.pop()
        if isinstance(node, dict | list):
            deepest = max(deepest, depth)
            children = node.values() if isinstance(node, dict) else node
            pending.extend((child, depth + 1) for child in children)
    return deepest


def shown(value: Any, *, width: int = SHOWN_WIDTH, kinds: bool = False) -> str:
    """A value from a file as a message shows it, on one readable line: its ``repr`` cut to
    ``width`` characters (a ``HugeInteger`` as its number of digits).

    Args:
        value: the wrong value.
        width: the longest text shown (the stats checks use 40: the key comes first).
        kinds: name lists, objects and null by their JSON kind (``must be an object, not a
            list``), for messages that say which kind a key must hold; every other value is
            its cut ``repr``, long integers too. Without it, an integer of 30 digits or more
            is shown as its number of digits (``invalid rescale an integer of 401 digits``).
    """
    if isinstance(value, HugeInteger):
        return repr(value)
    if kinds:
        kind = next((name for types, name in _KIND_NAMES if isinstance(value, types)), None)
        if kind is not None:
            return kind
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= _LONG_INTEGER:
        return f"an integer of {len(str(abs(value)))} digits"
    text = repr(value)
    return text if len(text) <= width else text[: width - 3] + "..."


def plain(value: Any) -> Any:
    """A float that holds an integer as that integer (JSON ``3``, not ``3.0``); the rest as is.

    Only below 2^53, where every integer is a float exactly: larger ones stay floats.
    """
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    return value


def is_bare_name(name: str) -> bool:
    """A plain file name: no folder part, not ``.`` or ``..``, not absolute, no NUL.

    A string test only (no file is looked at): a name found inside a file is resolved beside
    that file (``imgprep.io.bounded.path_beside``) and must not lead anywhere else.
    """
    separators = {"/", os.sep, *([os.altsep] if os.altsep else [])}
    return (
        bool(name)
        and name not in (".", "..")
        and "\0" not in name
        and not any(sep in name for sep in separators)
        and not os.path.isabs(name)
    )
