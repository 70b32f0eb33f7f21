"""``--scheduler`` at something that is not a Dask scheduler: one line within the timeout.

Before: Dask's connect timeout covered the TCP connection only; a server that accepts and
then says nothing hung for good, and one that sends a web page or a banner ended in a
``MemoryError`` traceback (its first 8 bytes read as a frame length).
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest

pytest.importorskip("distributed")

from imgprep.errors import ImgprepError
from imgprep.run.dask import connect
from tests.faults.signals_support import small_images, start

pytestmark = (
    pytest.mark.dask
)  # the Dask engine: about half the suite's time (-m 'not dask' skips it)

HTTP = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 2\r\n\r\nhi"
BANNER = b"SSH-2.0-OpenSSH_9.6\r\n"
NOISE = np.random.default_rng(5).integers(0, 256, 4096, dtype=np.uint8).tobytes()


def _server(reply: bytes | None, *, close: bool = False) -> Iterator[str]:
    """A TCP server on 127.0.0.1 that sends ``reply`` to each connection (None: nothing),
    then keeps it open (or closes it at once with ``close``); yields its tcp:// address."""
    listener = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def serve() -> None:
        listener.settimeout(0.05)
        while not stop.is_set():
            try:
                connection, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if reply:
                connection.sendall(reply)
            if close:
                connection.close()
            else:
                held.append(connection)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        listener.close()
        for connection in held:
            connection.close()


SERVERS: dict[str, tuple[Callable[[], Iterator[str]], str]] = {
    "a web server": (
        lambda: _server(HTTP),
        "it is not a Dask scheduler (it sent b'HTTP/1.1 200 OK",
    ),
    "a banner": (lambda: _server(BANNER), "it is not a Dask scheduler (it sent b'SSH-2.0-"),
    "random bytes": (lambda: _server(NOISE), "it is not a Dask scheduler (it sent b"),
    "silence": (lambda: _server(None), "no Dask handshake within 0.5 s (is it a Dask scheduler?)"),
    "a closed connection": (
        lambda: _server(None, close=True),
        "it closed the connection before a Dask handshake (is it a Dask scheduler?)",
    ),
}


@pytest.mark.parametrize("kind", sorted(SERVERS))
def test_a_server_that_is_not_a_scheduler_is_one_error_within_the_timeout(kind):
    make, reason = SERVERS[kind]
    servers = make()
    address = next(servers)
    began = time.monotonic()
    try:
        with pytest.raises(ImgprepError) as raised, connect(address, timeout=0.5):
            pass
    finally:
        servers.close()
    assert time.monotonic() - began < 2
    assert str(raised.value).startswith(f"cannot connect to the Dask scheduler at {address}: ")
    assert (
        str(raised.value)
        .removeprefix(f"cannot connect to the Dask scheduler at {address}: ")
        .startswith(reason)
    )


def test_the_command_line_says_it_in_one_line(tmp_path):
    data = small_images(tmp_path / "data")
    servers = _server(HTTP)
    address = next(servers)
    try:
        args = ["fit-stats", str(data), "-q", "--engine", "dask", "--scheduler", address]
        process = start(*args)
        _, stderr = process.communicate(timeout=60)
    finally:
        servers.close()
    assert process.returncode == 1
    assert stderr == (
        f"Error: cannot connect to the Dask scheduler at {address}: it is not a Dask "
        "scheduler (it sent b'HTTP/1.1 200 OK\\r\\nContent'...)\n"
    )
