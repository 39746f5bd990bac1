"""Structured access log: one JSON line per request on stderr, for ``recimpact serve --access-log``.

Each line has the time, the peer address, the method and path, the AWS service and operation, the status, the
AWS error code if any, the latency, the caller's account and the request id. It never has header values (the
Authorization header and session cookies are credentials), query strings or bodies: event ``properties`` and
user or item metadata are marked sensitive in the service model, and a log is no place for them. Off by default,
and then the app is not wrapped at all, so it costs nothing.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import time
from collections.abc import Callable
from typing import Any, TextIO

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from recimpact.domain.service_names import CONTROL
from recimpact.wire.auth import ACCOUNT_KEY
from recimpact.wire.models import JSON_TARGET_PREFIX, rest_routes


def operation_of(scope: Scope) -> tuple[str | None, str | None]:
    """(service, operation) of an AWS call, from its path and X-Amz-Target; (None, None) for anything else."""
    path = scope["path"]
    if path == "/" and scope["method"] == "POST":
        for name, value in scope["headers"]:
            if name == b"x-amz-target":
                prefix, _, operation = value.decode("latin-1").partition(".")
                if prefix == JSON_TARGET_PREFIX and operation.isidentifier() and len(operation) <= 64:
                    return CONTROL, operation
                return CONTROL, None
        return CONTROL, None
    route = rest_routes().get((scope["method"], path))
    return route if route is not None else (None, None)


def with_access_log(
    app: ASGIApp, stream: TextIO | None = None, clock: Callable[[], float] = time.time
) -> ASGIApp:
    out = stream or sys.stderr

    async def logged(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        started = time.perf_counter()
        response: dict[str, Any] = {"status": None, "request_id": None, "error": None}

        async def capture(message: Message) -> None:
            if message["type"] == "http.response.start":
                response["status"] = message["status"]
                for name, value in message.get("headers", ()):
                    lowered = name.lower()
                    if lowered == b"x-amzn-requestid":
                        response["request_id"] = value.decode("latin-1")
                    elif lowered == b"x-amzn-errortype":
                        response["error"] = value.decode("latin-1")
            await send(message)

        try:
            await app(scope, receive, capture)
        finally:
            service, operation = operation_of(scope)
            client = scope.get("client")
            line = {
                "time": dt.datetime.fromtimestamp(clock(), dt.UTC).isoformat(timespec="milliseconds"),
                "remote": f"{client[0]}:{client[1]}" if client else None,
                "method": scope["method"],
                "path": scope["path"][:256],
                "service": service,
                "operation": operation,
                # None: the client went away (or the server failed) before a response started.
                "status": response["status"],
                "error": response["error"],
                "latency_ms": round((time.perf_counter() - started) * 1000, 3),
                "account": scope.get(ACCOUNT_KEY),
                "request_id": response["request_id"],
            }
            out.write(json.dumps(line, separators=(",", ":")) + "\n")
            out.flush()

    return logged
