"""Running the app under uvicorn in one process: in the foreground (``recimpact serve``) or on a thread
(``recimpact demo``). ``recimpact serve --workers N`` runs ``wire/workers.py`` instead; both build on
``wire/listener.py``.

The socket is bound before uvicorn starts so that port 0 yields a real port that can be announced; the ready line is
printed only once the server accepts connections.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Callable

from recimpact.settings import Settings
from recimpact.wire.listener import ReadyServer, bind, tune_gc, url_of, uvicorn_config


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def serve(settings: Settings, on_ready: Callable[[str], None], log_level: str = "warning") -> None:
    """Serve in this one process until interrupted. ``on_ready`` receives the URL once connections are accepted.
    With ``settings.workers`` > 1 the CLI runs ``wire/workers.py``'s ``supervise`` instead, which calls ``on_ready``
    once every process accepts them."""
    sock = bind(settings.host, settings.port)
    url = url_of(sock)
    server = ReadyServer(uvicorn_config(settings, log_level), lambda: on_ready(url))
    tune_gc()
    server.run(sockets=[sock])


class EmbeddedServer:
    """A server on a background thread, for the demo and for tools that want one without a second process."""

    def __init__(self, settings: Settings) -> None:
        self._sock = bind(settings.host, settings.port)
        self.url = url_of(self._sock)
        self._ready = threading.Event()
        self._server = ReadyServer(uvicorn_config(settings, "warning"), self._ready.set)
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
