"""Running an ASGI app with uvicorn: in the foreground (the CLI) or in a thread (tests)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

LOCALHOST = "127.0.0.1"


def free_port(host: str = LOCALHOST) -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _server(app, host: str, port: int) -> uvicorn.Server:
    return uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning"))


def serve_forever(app, host: str, port: int) -> None:
    _server(app, host, port).run()


@contextmanager
def serving(app, host: str = LOCALHOST, port: int | None = None) -> Iterator[str]:
    """Serve `app` in a background thread; yields its base URL (no trailing slash)."""
    server = _server(app, host, port or free_port(host))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the web server did not start")
        time.sleep(0.02)
    try:
        yield f"http://{host}:{server.config.port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
