"""Running the app under uvicorn: in the foreground (``recimpact serve``) or on a thread (``recimpact demo``).

The socket is bound before uvicorn starts so that port 0 yields a real port that can be announced; the ready line is
printed only once the server accepts connections.
"""

from __future__ import annotations

import gc
import ipaddress
import socket
import threading
from collections.abc import Callable
from typing import Any

import uvicorn

from recimpact.settings import Settings
from recimpact.wire.app import create_app
from recimpact.wire.limits import GuardedHttpToolsProtocol


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    def __init__(self, config: Any, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()


def _config(settings: Settings, log_level: str) -> Any:
    return uvicorn.Config(
        create_app(settings),
        log_level=log_level,
        access_log=False,
        http=GuardedHttpToolsProtocol,  # bounds on slow and oversized request heads (wire/limits.py)
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def serve(settings: Settings, on_ready: Callable[[str], None], log_level: str = "warning") -> None:
    """Serve until interrupted. ``on_ready`` receives the URL once connections are accepted."""
    sock = bind(settings.host, settings.port)
    url = url_of(sock)
    server = _Server(_config(settings, log_level), lambda: on_ready(url))
    _tune_gc()
    server.run(sockets=[sock])


def _tune_gc() -> None:
    """A dedicated server process: move what importing left into the permanent generation and collect the young
    generation ten times less often. Every PutEvents call allocates thousands of short-lived objects, and CPython's
    default (a collection every 700 allocations) spends a measurable share of the one core the server has on them;
    reference counting frees nearly all of them anyway."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)


class EmbeddedServer:
    """A server on a background thread, for the demo and for tools that want one without a second process."""

    def __init__(self, settings: Settings) -> None:
        self._sock = bind(settings.host, settings.port)
        self.url = url_of(self._sock)
        self._ready = threading.Event()
        self._server = _Server(_config(settings, "warning"), self._ready.set)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, daemon=True
        )

    def __enter__(self) -> EmbeddedServer:
        self._thread.start()
        if not self._ready.wait(timeout=30):
            raise RuntimeError("the embedded server did not start within 30 s")
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()
