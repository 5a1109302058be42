"""Serving the mock from inside a test process: a real socket on a free loopback port, started in a thread."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import connexion
import uvicorn
from starlette.types import ASGIApp

from mockserver.app import create_app, genesys_of, runtime_of
from mockserver.genesys.state import Genesys
from mockserver.runtime import Runtime
from mockserver.settings import Settings

GRACEFUL_SHUTDOWN_SECONDS = 2


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as probe:
        probe.bind((host, 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class RunningMock:
    """A mock serving on a loopback port, and the app behind it."""

    base_url: str
    app: connexion.AsyncApp

    @property
    def runtime(self) -> Runtime:
        return runtime_of(self.app)

    @property
    def genesys(self) -> Genesys:
        return genesys_of(self.app)


@contextmanager
def running_mock(settings: Settings, startup_timeout: float = 20.0) -> Iterator[RunningMock]:
    """Serve `settings` on a free loopback port until the block ends (uvicorn in a thread, lifespan on)."""
    app = create_app(settings)
    with serving(app, settings.host, settings.port, startup_timeout) as base_url:
        yield RunningMock(base_url, app)


@contextmanager
def serving(app: ASGIApp, host: str = "127.0.0.1", port: int = 0, startup_timeout: float = 20.0) -> Iterator[str]:
    """Serve any ASGI app on a loopback port (a free one when `port` is 0) until the block ends; its base URL."""
    port = port or free_port(host)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            host=host,
            port=port,
            log_level="warning",
            lifespan="on",
            access_log=False,
            # Held CometD connects would otherwise keep a stopping server up for a whole long-poll timeout.
            timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_SECONDS,
        )
    )
    thread = threading.Thread(target=server.run, name=f"mockserver:{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.01)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
