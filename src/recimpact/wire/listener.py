"""What every way of serving the app shares: the listening socket, uvicorn's server on it, and the collector's
tuning for a dedicated server process. One process (``wire/server.py``) and the processes of ``--workers``
(``wire/workers.py``) both build on it; neither imports the other, and ``recimpact serve`` chooses between them."""

from __future__ import annotations

import gc
import socket
from collections.abc import Callable
from typing import Any

import uvicorn

from recimpact.settings import Settings
from recimpact.wire.app import create_app
from recimpact.wire.limits import GuardedHttpToolsProtocol


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


class ReadyServer(uvicorn.Server):
    """uvicorn's server, calling ``on_ready`` once it accepts connections."""

    def __init__(self, config: Any, on_ready: Callable[[], None]) -> None:
        super().__init__(config)
        self._on_ready = on_ready

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.should_exit:
            self._on_ready()


def uvicorn_config(settings: Settings, log_level: str, primary: bool = True) -> Any:
    return uvicorn.Config(
        create_app(settings, primary=primary),
        log_level=log_level,
        access_log=False,
        http=GuardedHttpToolsProtocol,  # bounds on slow and oversized request heads (wire/limits.py)
        lifespan="on",
        timeout_graceful_shutdown=5,
    )


def tune_gc() -> None:
    """A dedicated server process: move what importing left into the permanent generation and collect the young
    generation ten times less often. Every PutEvents call allocates thousands of short-lived objects, and CPython's
    default (a collection every 700 allocations) spends a measurable share of the one core the server has on them;
    reference counting frees nearly all of them anyway."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(7_000, 10, 10)
