"""Several server processes on one port (``recimpact serve --workers N``).

One Python process parses, validates and commits on about one core (the GIL), so a multi-core machine needs more
processes. ``--workers N`` runs N worker processes that answer requests and one primary that answers none:

- The primary holds the port (bound, not listening) and owns what must happen once: import jobs, training,
  CloudWatch publishing, WAL checkpoints (``ServerState``).
- Each worker binds the same port (``SO_REUSEPORT``), so the kernel spreads new connections evenly over them (with
  one shared listening socket, whichever process happens to be accepting takes a whole burst of connections). It
  answers every kind of request over the shared data directory and commits its own writes; the event stores of
  the workers take turns (``EventStore``), and what a worker starts (a job, a training run) the primary finds in
  the catalog.

Measured on two cores, a primary that committed every worker's PutEvents (sent over a socket pair) ingested less
than workers taking turns: unpickling the calls cost it more than the turns cost the workers.

A worker receives its settings on stdin (the session secret included, never on the command line), answers
``ready`` on stdout once it accepts connections, and ends with the primary:
on its SIGTERM at shutdown, or by itself when the primary has gone (Linux's parent-death signal, and a watchdog
elsewhere). The primary restarts a worker that dies.
"""

from __future__ import annotations

import contextlib
import ctypes
import dataclasses
import logging
import os
import secrets
import select
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable

from recimpact.settings import Settings
from recimpact.wire.listener import ReadyServer, bind, tune_gc, url_of, uvicorn_config
from recimpact.wire.server_state import ServerState

log = logging.getLogger("recimpact.workers")

READY = "ready"
_START_TIMEOUT = 60.0
_STOP_TIMEOUT = 10.0
_RESTART_DELAY = 1.0


class WorkerPool:
    """The primary's workers: started, kept alive, stopped."""

    def __init__(self, settings: Settings, count: int) -> None:
        self._settings = settings  # with the port the primary holds
        self._count = count
        self._procs: list[subprocess.Popen[bytes]] = []
        self._closing = threading.Event()
        self._supervisor = threading.Thread(target=self._supervise, name="recimpact-workers", daemon=True)

    def start(self) -> None:
        """Start every worker and wait until each accepts connections."""
        started = [self._spawn() for _ in range(self._count)]
        try:
            for proc in started:
                self._wait_ready(proc)
        except BaseException:
            self._stop(started)
            raise
        self._procs = started
        self._supervisor.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        proc = subprocess.Popen(
            [sys.executable, "-m", "recimpact.wire.workers"], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )
        assert proc.stdin is not None
        proc.stdin.write(self._settings.to_json().encode() + b"\n")
        proc.stdin.close()
        return proc

    def _wait_ready(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        deadline = time.monotonic() + _START_TIMEOUT
        while time.monotonic() < deadline:
            readable, _, _ = select.select([proc.stdout], [], [], 0.2)
            if readable:
                line = proc.stdout.readline().decode().strip()
                if line == READY:
                    proc.stdout.close()
                    return
                if not line and proc.poll() is not None:
                    break
        self._stop([proc])
        raise RuntimeError(f"a server worker process did not start (exit status {proc.returncode})")

    def _supervise(self) -> None:
        """Restart a worker that died (a crash, an OOM kill); never while the server is stopping."""
        while not self._closing.wait(0.5):
            for i, proc in enumerate(self._procs):
                if proc.poll() is None or self._closing.is_set():
                    continue
                log.warning(
                    "server worker %d exited with status %s; starting another", proc.pid, proc.returncode
                )
                if self._closing.wait(_RESTART_DELAY):
                    return
                try:
                    replacement = self._spawn()
                    self._wait_ready(replacement)
                except Exception:
                    log.exception("restarting a server worker failed; trying again")
                    continue
                self._procs[i] = replacement

    def close(self) -> None:
        self._closing.set()
        if self._supervisor.ident is not None:
            self._supervisor.join()
        self._stop(self._procs)

    @staticmethod
    def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
        """SIGTERM (they finish the requests they hold and close their stores), then SIGKILL after a while."""
        for proc in procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + _STOP_TIMEOUT
        for proc in procs:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _die_with_parent() -> None:
    """End this process when the primary is gone, even after a ``kill -9`` that gave it no chance to stop us."""
    parent = os.getppid()
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            pr_set_pdeathsig = 1
            ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)

    def watch() -> None:
        while True:
            if os.getppid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
                return
            time.sleep(1.0)

    if os.getppid() != parent:  # gone before the signal was armed
        os.kill(os.getpid(), signal.SIGTERM)
    threading.Thread(target=watch, name="recimpact-parent-watch", daemon=True).start()


def supervise(settings: Settings, on_ready: Callable[[str], None]) -> None:
    """The primary: hold the port, run the server's state (``ServerState``), keep the workers; until
    SIGINT/SIGTERM."""
    if settings.port != 0:
        # SO_REUSEPORT would also let the workers share a port another server holds: make sure it is free.
        bind(settings.host, settings.port).close()
    holder = bind(settings.host, settings.port, reuse_port=True, listen=False)
    url = url_of(holder)
    settings = dataclasses.replace(
        settings,
        port=holder.getsockname()[1],
        session_secret=settings.session_secret or secrets.token_bytes(32),
    )
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    server_state = ServerState(settings, primary=True)
    pool = WorkerPool(settings, settings.workers)
    tune_gc()
    try:
        pool.start()
        on_ready(url)
        while not stop.wait(1.0):
            pass
    finally:
        pool.close()  # first: the workers finish their requests
        server_state.close()
        holder.close()


def run_worker(settings: Settings, on_ready: Callable[[], None]) -> None:
    """A worker process of a ``--workers`` server, on a listening socket of its own beside the others'."""
    sock = bind(settings.host, settings.port, reuse_port=True)
    server = ReadyServer(uvicorn_config(settings, "warning", primary=False), on_ready)
    tune_gc()
    server.run(sockets=[sock])


def main() -> None:
    """A worker process: ``python -m recimpact.wire.workers``, its settings on stdin."""
    _die_with_parent()
    settings = Settings.from_json(sys.stdin.readline())

    def ready() -> None:
        print(READY, flush=True)
        os.dup2(sys.stderr.fileno(), sys.stdout.fileno())  # nothing else goes to the primary's pipe

    run_worker(settings, ready)


if __name__ == "__main__":
    main()
