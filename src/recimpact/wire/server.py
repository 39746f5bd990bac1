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


def bind(host: str, port: int, reuse_port: bool = False, listen: bool = True) -> socket.socket:
    """The listening socket. ``reuse_port``: one of several, one per server process, among which the kernel
    spreads new connections evenly (``SO_REUSEPORT``); with ``listen`` False it only holds the port."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if reuse_port:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    if listen:
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


def _config(settings: Settings, log_level: str, primary: bool = True) -> Any:
    return uvicorn.Config(
        create_app(settings, primary=primary),
        log_level=log_level,
        access_log=False,
        http=GuardedHttpToolsProtocol,  # bounds on slow and oversized request heads (wire/limits.py)
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def serve(settings: Settings, on_ready: Callable[[str], None], log_level: str = "warning") -> None:
    """Serve until interrupted. ``on_ready`` receives the URL once connections are accepted (by every process,
    with ``settings.workers`` > 1: see ``wire/workers.py``)."""
    if settings.workers > 1:
        from recimpact.wire.workers import supervise

        supervise(settings, on_ready)
        return
    sock = bind(settings.host, settings.port)
    url = url_of(sock)
    server = _Server(_config(settings, log_level), lambda: on_ready(url))
    tune_gc()
    server.run(sockets=[sock])


def run_worker(settings: Settings, on_ready: Callable[[], None]) -> None:
    """A worker process of a ``--workers`` server, on a listening socket of its own beside the others'."""
    sock = bind(settings.host, settings.port, reuse_port=True)
    server = _Server(_config(settings, "warning", primary=False), on_ready)
    tune_gc()
    server.run(sockets=[sock])


def tune_gc() -> None:
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
