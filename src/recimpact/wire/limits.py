"""What the server accepts from a client before any parsing: body sizes, and how long a request may take to
arrive. A client past a limit gets an AWS-format error (``RequestEntityTooLargeException`` 413,
``RequestTimeoutException`` 408) and the connection is closed; nothing waits on it forever.

- Bodies: PutEvents at most ``EVENTS_BODY_BYTES`` (AWS's 10 KB per event, 10 events, and the envelope); every other
  call at most ``BODY_BYTES`` (PutItems: 10 items of 32,000-character properties). A declared Content-Length over
  the limit is refused before a byte of the body is read; a chunked body is cut off once it passes the limit.
- The body must arrive within ``BODY_SECONDS``; the request line and headers (at most ``HEAD_BYTES``) within
  ``HEAD_SECONDS`` of the connection's opening or the request's first byte. uvicorn itself bounds neither, so a client trickling its headers
  would hold a connection open indefinitely: ``GuardedHttpToolsProtocol`` adds both bounds.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from starlette.datastructures import Headers
from starlette.types import Receive
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from recimpact.domain.errors import RequestEntityTooLargeException, RequestTimeoutException
from recimpact.settings import env_flag

EVENTS_BODY_BYTES = 128 * 1024
BODY_BYTES = 2 * 1024 * 1024
HEAD_BYTES = 64 * 1024
# Deadlines, in seconds; RECIMPACT_BODY_TIMEOUT and RECIMPACT_HEAD_TIMEOUT change them.
BODY_SECONDS = float(env_flag("BODY_TIMEOUT") or 30.0)
HEAD_SECONDS = float(env_flag("HEAD_TIMEOUT") or 10.0)

_BODY_LIMITS = {"/events": EVENTS_BODY_BYTES}


def body_limit(path: str) -> int:
    return _BODY_LIMITS.get(path, BODY_BYTES)


def declared_length(headers: Headers) -> int | None:
    value = headers.get("content-length")
    return int(value) if value is not None and value.isdigit() else None


async def read_body(
    receive: Receive, headers: Headers, limit: int, seconds: float = BODY_SECONDS
) -> bytes | None:
    """The request body, or None when the client went away before sending it all. Raises
    RequestEntityTooLargeException past ``limit`` bytes and RequestTimeoutException past ``seconds``."""
    declared = declared_length(headers)
    if declared is not None and declared > limit:
        raise _too_large(limit)
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(seconds):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return None
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise _too_large(limit)
                chunks.append(chunk)
                if not message.get("more_body", False):
                    return b"".join(chunks)
    except TimeoutError:
        raise RequestTimeoutException(
            f"The request body did not arrive within {seconds:g} seconds."
        ) from None


def _too_large(limit: int) -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(f"The request body is larger than this operation's {limit} bytes.")


def _raw_error(status: int, reason: str, code: str, message: str) -> bytes:
    body = json.dumps({"__type": code, "message": message}).encode()
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/x-amz-json-1.1\r\nx-amzn-ErrorType: {code}\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode() + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a deadline and a size cap on each request's line and headers."""

    head_seconds = HEAD_SECONDS
    head_bytes = HEAD_BYTES

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None
        self._reading_head = True
        self._head_size = 0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_timer()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._reading_head:
            self._arm_head_timer()
        super().data_received(data)
        if self._head_size > self.head_bytes and not self.transport.is_closing():
            self._refuse(
                431, "Request Header Fields Too Large", "RequestHeaderFieldsTooLarge", "Headers too large."
            )

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._reading_head = True
        self._head_size = 0

    def on_url(self, url: bytes) -> None:
        self._head_size += len(url)
        super().on_url(url)

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_size += len(name) + len(value) + 4
        if self._head_size <= self.head_bytes:
            super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._reading_head = False
        self._cancel_head_timer()
        if self._head_size > self.head_bytes:
            return  # refused in data_received, once the parser returns
        super().on_headers_complete()

    def on_body(self, body: bytes) -> None:
        if self._head_size <= self.head_bytes:
            super().on_body(body)

    def on_message_complete(self) -> None:
        if self._head_size <= self.head_bytes:
            super().on_message_complete()
        self._reading_head = True

    def _arm_head_timer(self) -> None:
        if self._head_timer is None:
            self._head_timer = self.loop.call_later(self.head_seconds, self._head_timed_out)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._reading_head:
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a response is under way; the keep-alive logic closes the connection after it
        self._refuse(
            408, "Request Timeout", "RequestTimeoutException", "The request headers did not arrive in time."
        )

    def _refuse(self, status: int, reason: str, code: str, message: str) -> None:
        self.transport.write(_raw_error(status, reason, code, message))
        self.transport.close()
