"""The Starlette application: one port for all three services.

``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>`` is the control plane (JSON 1.1); ``POST /events``,
``/items``, ``/users`` and ``/recommendations`` are the rest-json services. Each request is parsed, handed to the
registered handler, and serialized; nothing here knows a rule or a table.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

import recimpact.services  # noqa: F401  (registers the operation handlers)
from recimpact import __version__
from recimpact.domain.errors import InternalFailure, ServiceError, UnknownOperationException
from recimpact.domain.service_names import CONTROL
from recimpact.services import registry
from recimpact.settings import Settings
from recimpact.wire import dashboard, read_api, sessions
from recimpact.wire.access_log import with_access_log
from recimpact.wire.auth import Authenticator, HttpRequest
from recimpact.wire.limits import body_limit, read_body
from recimpact.wire.models import JSON_TARGET_PREFIX, rest_routes, service_model
from recimpact.wire.pagination import TokenBinding
from recimpact.wire.protocol import error_response, parse_request, success_response
from recimpact.wire.server_state import ServerState

log = logging.getLogger("recimpact.wire")


async def _invoke(request: Request, service: str, operation_name: str) -> Response:
    server_state: ServerState = request.app.state.server_state
    http = HttpRequest.from_asgi(request.scope, request.headers, await request.body())
    return await invoke(server_state, request.app.state.authenticator, http, service, operation_name)


async def invoke(
    server_state: ServerState,
    authenticator: Authenticator,
    request: HttpRequest,
    service: str,
    operation_name: str,
) -> Response:
    """Authenticate, parse, call, serialize: the whole of an AWS request, given as it arrived."""
    try:
        caller = authenticator.caller(request)  # first, as AWS does: nothing else is answered to a stranger
        model = service_model(service)
        if operation_name not in model.operation_names:
            raise UnknownOperationException(f"Unknown operation {operation_name}")
        handler = registry.lookup(service, operation_name)
        if handler is None:
            raise UnknownOperationException(f"Operation {operation_name} is not supported by recimpact")
        operation = model.operation_model(operation_name)
        params = parse_request(operation, request.body)
        binding = TokenBinding.of(service, operation, params)
        if binding is not None:
            params = binding.unwrap(params)
        ctx = server_state.context(caller)
        if inspect.iscoroutinefunction(handler):
            result = await handler(ctx, params)
        else:
            result = await run_in_threadpool(handler, ctx, params)
        if binding is not None:
            result = binding.wrap(result)
        return success_response(service, operation, result)
    except ServiceError as error:
        return error_response(service, error)
    except Exception:
        log.exception("internal error in %s.%s", service, operation_name)
        return error_response(service, InternalFailure("Internal error; the server log has the details"))


def control_plane_operation(headers: Mapping[str, str]) -> str | None:
    prefix, _, operation_name = headers.get("x-amz-target", "").partition(".")
    return operation_name if prefix == JSON_TARGET_PREFIX and operation_name else None


_NO_TARGET = "Missing or unknown X-Amz-Target; expected AmazonPersonalize.<Op>"


async def control_plane(request: Request) -> Response:
    operation_name = control_plane_operation(request.headers)
    if operation_name is None:
        return error_response(CONTROL, UnknownOperationException(_NO_TARGET))
    return await _invoke(request, CONTROL, operation_name)


async def rest_json(request: Request) -> Response:
    route = rest_routes().get((request.method, request.url.path))
    if route is None:
        error = UnknownOperationException(f"No operation at {request.method} {request.url.path}")
        error.status = 404  # nothing at this path: HTTP's 404, still with the AWS error body and header
        return error_response(CONTROL, error)
    return await _invoke(request, *route)


async def health(request: Request) -> Response:
    return JSONResponse({"status": "ok", "version": __version__})


def create_app(settings: Settings, primary: bool = True) -> ASGIApp:
    """The whole server; ``primary`` False for the worker processes of a ``--workers`` server (``ServerState``)."""

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server_state = ServerState(settings, primary=primary)
        app.state.server_state = server_state
        try:
            yield
        finally:
            server_state.close()

    routes: list[Any] = [
        Route("/", control_plane, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/api/v1/series", read_api.series, methods=["GET"]),
        Route("/api/v1/reports", read_api.reports, methods=["GET"]),
        Route("/api/v1/reports/file", read_api.report_file, methods=["GET"]),
        Route("/api/v1/import-jobs/progress", read_api.import_job_progress, methods=["GET"]),
        Route("/api/v1/import-jobs", read_api.import_jobs, methods=["GET"]),
        Route("/api/v1/totals", read_api.totals, methods=["GET"]),
        Route("/api/v1/numeric-columns", read_api.columns, methods=["GET"]),
        Route("/api/v1/backfill", read_api.backfill, methods=["POST"]),
        Route("/api/v1/compare", read_api.comparison, methods=["GET"]),
        *dashboard.routes(),
        *sessions.routes(),
        Route("/{path:path}", rest_json, methods=["POST", "GET", "PUT", "DELETE", "PATCH"]),
    ]
    starlette = Starlette(routes=routes, lifespan=lifespan)
    authenticator, starlette.state.sessions = sessions.authentication(settings)
    starlette.state.authenticator = authenticator
    aws_posts = {path for method, path in rest_routes() if method == "POST"}

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        """AWS API calls go straight to ``invoke``; everything else (read API, health, errors) through Starlette.
        The AWS endpoints are the hot path (PutEvents): skipping Starlette's routing and middleware for them saves
        a tenth of the server's time per call."""
        target = _aws_operation(scope, aws_posts)
        if target is None:
            await starlette(scope, receive, send)
            return
        headers, service, operation_name = target
        try:
            body = await read_body(receive, headers, body_limit(scope["path"]))
        except ServiceError as error:  # too large or too slow: answered, and the connection closed
            response = error_response(service, error)
            response.headers["connection"] = "close"
            await response(scope, receive, send)
            return
        if body is not None:
            request = HttpRequest.from_asgi(scope, headers, body)
            response = await invoke(
                starlette.state.server_state, authenticator, request, service, operation_name
            )
            await response(scope, receive, send)

    return with_access_log(app) if settings.access_log else app


def _aws_operation(scope: Scope, aws_posts: set[str]) -> tuple[Headers, str, str] | None:
    """(headers, service, operation) of a well-formed AWS call; None for anything Starlette should answer."""
    if scope["type"] != "http" or scope["method"] != "POST":
        return None
    headers = Headers(scope=scope)
    path = scope["path"]
    if path == "/":
        operation_name = control_plane_operation(headers)
        return (headers, CONTROL, operation_name) if operation_name is not None else None
    if path in aws_posts:
        return (headers, *rest_routes()[("POST", path)])
    return None
