"""The Starlette application: one port for all three services.

``POST /`` with ``X-Amz-Target: AmazonPersonalize.<Op>`` is the control plane (JSON 1.1); ``POST /events``,
``/items``, ``/users`` and ``/recommendations`` are the rest-json services. Each request is parsed, handed to the
registered handler, and serialized; nothing here knows a rule or a table.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

import recimpact.services  # noqa: F401  (registers the operation handlers)
from recimpact import __version__
from recimpact.domain.errors import InternalFailure, ServiceError, UnknownOperationException
from recimpact.runtime import Runtime
from recimpact.services import registry
from recimpact.settings import Settings
from recimpact.wire import read_api
from recimpact.wire.auth import caller_scope
from recimpact.wire.models import CONTROL, JSON_TARGET_PREFIX, rest_routes, service_model
from recimpact.wire.protocol import error_response, parse_request, success_response

log = logging.getLogger("recimpact.wire")


async def _invoke(request: Request, service: str, operation_name: str) -> Response:
    try:
        model = service_model(service)
        if operation_name not in model.operation_names:
            raise UnknownOperationException(f"Unknown operation {operation_name}")
        handler = registry.lookup(service, operation_name)
        if handler is None:
            raise UnknownOperationException(f"Operation {operation_name} is not supported by recimpact")
        operation = model.operation_model(operation_name)
        params = parse_request(operation, await request.body())
        runtime: Runtime = request.app.state.runtime
        settings = runtime.settings
        ctx = runtime.context(caller_scope(request.headers, settings.account_id, settings.region))
        if inspect.iscoroutinefunction(handler):
            result = await handler(ctx, params)
        else:
            result = await run_in_threadpool(handler, ctx, params)
        return success_response(service, operation, result)
    except ServiceError as error:
        return error_response(service, error)
    except Exception:
        log.exception("internal error in %s.%s", service, operation_name)
        return error_response(service, InternalFailure("Internal error; the server log has the details"))


async def control_plane(request: Request) -> Response:
    prefix, _, operation_name = request.headers.get("x-amz-target", "").partition(".")
    if prefix != JSON_TARGET_PREFIX or not operation_name:
        return error_response(
            CONTROL,
            UnknownOperationException("Missing or unknown X-Amz-Target; expected AmazonPersonalize.<Op>"),
        )
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


def create_app(settings: Settings) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        runtime = Runtime(settings)
        app.state.runtime = runtime
        try:
            yield
        finally:
            runtime.close()

    routes: list[Any] = [
        Route("/", control_plane, methods=["POST"]),
        Route("/health", health, methods=["GET"]),
        Route("/api/v1/series", read_api.series, methods=["GET"]),
        Route("/api/v1/reports", read_api.reports, methods=["GET"]),
        Route("/api/v1/reports/file", read_api.report_file, methods=["GET"]),
        Route("/api/v1/import-jobs/progress", read_api.import_job_progress, methods=["GET"]),
        Route("/{path:path}", rest_json, methods=["POST", "GET", "PUT", "DELETE", "PATCH"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)
