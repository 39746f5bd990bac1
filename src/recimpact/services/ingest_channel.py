"""PutEvents of a ``--workers`` server, committed by the primary process.

Processes that each commit their own requests take turns on the store's write lock, and each holds the lock while
its event loop competes with its writer thread for the GIL, so the turns get long: measured, two such processes
ingested hardly more than one. Instead, the processes that answer requests do everything that needs no lock
(parse, validate, resolve sources, compute contributions: ``prepare_events``) and send the prepared call to the
primary over a socket pair; the primary's writer, which has the GIL nearly to itself, commits it, and the answer
comes back once the events are on disk. A worker's other writes (PutItems, served recommendations, backfills) stay
with its own store, which takes turns with the primary's.

Frames are a 4-byte length and a pickle: both ends are processes of one server, connected by a socket pair that
nothing else can reach.
"""

from __future__ import annotations

import asyncio
import logging
import pickle
import socket
import struct
import threading
from collections.abc import Callable
from typing import Any

from recimpact.domain import errors
from recimpact.domain.arns import Scope
from recimpact.services.context import RequestContext
from recimpact.services.events import PreparedEvents, record_events
from recimpact.services.ingest_targets import IngestTarget, for_group

log = logging.getLogger("recimpact.ingest")

_LENGTH = struct.Struct("!I")


def _frame(message: Any) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return _LENGTH.pack(len(payload)) + payload


class _Frames:
    """Splits a byte stream into messages."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[Any]:
        self._buffer += data
        messages = []
        while len(self._buffer) >= _LENGTH.size:
            (length,) = _LENGTH.unpack_from(self._buffer)
            end = _LENGTH.size + length
            if len(self._buffer) < end:
                break
            messages.append(pickle.loads(self._buffer[_LENGTH.size : end]))
            del self._buffer[:end]
        return messages


def _error(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, errors.ServiceError):
        return type(exc).__name__, exc.message
    return "", f"{type(exc).__name__}: {exc}"


def _exception(name: str, message: str) -> Exception:
    """The error the primary reported, as the worker raises it: a service error as itself (the client sees the
    same AWS error), anything else as an internal failure."""
    cls = getattr(errors, name, None) if name else None
    if isinstance(cls, type) and issubclass(cls, errors.ServiceError):
        return cls(message)
    return RuntimeError(f"the primary process failed to commit: {message}")


class IngestChannel:
    """A worker's end: ``commit`` returns once the primary has made the call's events durable (or raises its
    error)."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock
        self._transport: asyncio.Transport | None = None
        self._connecting: asyncio.Future[None] | None = None
        self._pending: dict[int, asyncio.Future[None]] = {}
        self._next_id = 0
        self._frames = _Frames()

    async def commit(self, target: IngestTarget, prepared: PreparedEvents) -> None:
        if self._transport is None:
            await self._connect()
        assert self._transport is not None
        if self._transport.is_closing():
            raise RuntimeError("the primary process is gone")
        self._next_id += 1
        request_id = self._next_id
        future = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        message = (request_id, target.account, target.region, target.dataset_group_arn, prepared)
        self._transport.write(_frame(message))
        try:
            await future
        finally:
            self._pending.pop(request_id, None)

    async def _connect(self) -> None:
        if self._connecting is None:
            self._connecting = asyncio.get_running_loop().create_future()
            loop = asyncio.get_running_loop()
            transport, _ = await loop.create_unix_connection(lambda: _WorkerProtocol(self), sock=self._sock)
            self._transport = transport
            self._connecting.set_result(None)
        else:
            await self._connecting

    def _received(self, data: bytes) -> None:
        for request_id, error in self._frames.feed(data):
            future = self._pending.get(request_id)
            if future is None or future.done():
                continue
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(_exception(*error))

    def _lost(self) -> None:
        for future in self._pending.values():
            if not future.done():
                future.set_exception(RuntimeError("the primary process is gone"))


class _WorkerProtocol(asyncio.Protocol):
    def __init__(self, channel: IngestChannel) -> None:
        self._channel = channel

    def data_received(self, data: bytes) -> None:
        self._channel._received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self._channel._lost()


class IngestServer:
    """The primary's end: a thread per worker reads its calls and hands them to the event store's writer; the
    writer answers each once its commit is durable."""

    def __init__(self, context: Callable[[Scope], RequestContext]) -> None:
        self._context = context
        self._threads: list[threading.Thread] = []

    def attach(self, sock: socket.socket) -> None:
        thread = threading.Thread(target=self._serve, args=(sock,), name="recimpact-ingest", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _serve(self, sock: socket.socket) -> None:
        frames = _Frames()
        send_lock = threading.Lock()

        def answer(request_id: int, error: tuple[str, str] | None) -> None:
            try:
                with send_lock:
                    sock.sendall(_frame((request_id, error)))
            except OSError:  # the worker is gone; its client will retry, and duplicates count once
                pass

        with sock:
            while True:
                try:
                    data = sock.recv(1 << 20)
                except OSError:
                    return
                if not data:
                    return
                for request_id, account, region, group_arn, prepared in frames.feed(data):
                    self._submit(request_id, Scope(account, region), group_arn, prepared, answer)

    def _submit(
        self,
        request_id: int,
        scope: Scope,
        group_arn: str,
        prepared: PreparedEvents,
        answer: Callable[[int, tuple[str, str] | None], None],
    ) -> None:
        ctx = self._context(scope)
        try:
            target = for_group(ctx, group_arn)  # deleted meanwhile: the worker's client gets ResourceNotFound
        except Exception as exc:
            answer(request_id, _error(exc))
            return
        future = ctx.events.submit(lambda tx: record_events(tx, target, prepared))

        def done(future: Any) -> None:
            error = future.exception()
            answer(request_id, None if error is None else _error(error))

        future.add_done_callback(done)
