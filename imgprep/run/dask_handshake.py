"""Is the server at a ``tcp://`` address a Dask scheduler? Asked before Dask connects.

Dask's own connect timeout covers the TCP connection only; it then waits for good for a
server that accepts but never answers (a web server, a service that sends a banner), or
reads a few bytes of its banner as a frame length and fails with MemoryError. So
``imgprep.run.dask.connect`` first reads the handshake a scheduler sends on a new
connection, bounded in time and in bytes, and names what answered when it is not Dask.
Apart from ``dask.py`` because it is a protocol check of its own (sockets, frames,
msgpack) that shares nothing with running tasks.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import time
from typing import Any

from imgprep.errors import ImgprepError

MAX_HANDSHAKE = 64 << 10  # bytes: a scheduler's first message is about 60
SHOWN_BYTES = 24  # of a server that is not a scheduler, in the error message


def cannot_connect(scheduler: str, reason: str) -> ImgprepError:
    """The one line of a scheduler that cannot be reached or is not one."""
    return ImgprepError(f"cannot connect to the Dask scheduler at {scheduler}: {reason}")


class _NotDask(Exception):
    """The server answered, but not with Dask's handshake."""


def check_scheduler(address: str, timeout: float) -> None:
    """Read the handshake a Dask scheduler sends first on a new ``tcp://`` connection, all
    within ``timeout`` and at most ``MAX_HANDSHAKE`` bytes, then close the connection.

    Dask's TCP frames: 8 bytes (little-endian) giving the message's length, then the
    message: a frame count, one 8-byte length per frame, the frames; the handshake is one
    msgpack map with ``python`` among its keys (about 60 bytes). Other schemes (``tls://``,
    ``ws://``) are left to Dask's own timeout.

    Raises:
        ValueError: a malformed address (from Dask's own parser).
        ImgprepError: refused, no handshake within ``timeout``, or not Dask's protocol.
    """
    from distributed.comm.addressing import parse_address, parse_host_port

    scheme, location = parse_address(address)
    if scheme != "tcp":
        return
    host, port = parse_host_port(location)
    deadline = time.monotonic() + timeout
    received = bytearray()
    try:
        with socket.create_connection((host, port), timeout=timeout) as connection:
            try:
                _read_handshake(connection, deadline, received)
            except _NotDask:
                _read_more(connection, deadline, received)  # for the message: what it is
                raise
    except _NotDask:
        sent = bytes(received[:SHOWN_BYTES])
        raise cannot_connect(address, f"it is not a Dask scheduler (it sent {sent!r}...)") from None
    except TimeoutError:
        raise cannot_connect(
            address, f"no Dask handshake within {timeout:g} s (is it a Dask scheduler?)"
        ) from None
    except EOFError:
        raise cannot_connect(
            address, "it closed the connection before a Dask handshake (is it a Dask scheduler?)"
        ) from None


def _read_handshake(connection: socket.socket, deadline: float, received: bytearray) -> None:
    """Dask's handshake frames from ``connection``, checked (``_NotDask`` if not)."""
    size = _unpack(_receive(connection, 8, deadline, received))[0]
    if not 16 <= size <= MAX_HANDSHAKE:
        raise _NotDask
    body = _receive(connection, size, deadline, received)
    count = _unpack(body[:8])[0]
    if not 1 <= count <= 16 or 8 + 8 * count > size:
        raise _NotDask
    lengths = _unpack(body[8 : 8 + 8 * count])
    if sum(lengths) != size - 8 - 8 * count:
        raise _NotDask
    message = _msgpack_map(body[8 + 8 * count : 8 + 8 * count + lengths[0]])
    if "python" not in message:
        raise _NotDask


def _read_more(connection: socket.socket, deadline: float, received: bytearray) -> None:
    """Up to ``SHOWN_BYTES`` of what the server sent, waiting 0.2 s at most."""
    with contextlib.suppress(OSError):
        connection.settimeout(max(0.01, min(0.2, deadline - time.monotonic())))
        while len(received) < SHOWN_BYTES:
            chunk = connection.recv(SHOWN_BYTES - len(received))
            if not chunk:
                return
            received += chunk


def _receive(connection: socket.socket, count: int, deadline: float, seen: bytearray) -> bytes:
    """Exactly ``count`` bytes before ``deadline`` (TimeoutError), or EOFError."""
    data = bytearray()
    while len(data) < count:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        connection.settimeout(left)
        chunk = connection.recv(count - len(data))
        if not chunk:
            raise EOFError
        data += chunk
        seen += chunk
    return bytes(data)


def _unpack(data: bytes) -> tuple[int, ...]:
    return struct.unpack(f"<{len(data) // 8}Q", data)


def _msgpack_map(data: bytes) -> dict[Any, Any]:
    """A msgpack map, or ``_NotDask``."""
    import msgpack

    try:
        message = msgpack.unpackb(data, raw=False)
    except (ValueError, TypeError, msgpack.exceptions.ExtraData) as exc:
        raise _NotDask from exc
    if not isinstance(message, dict):
        raise _NotDask
    return message
