"""recimpact's own read API (not part of AWS's), for the CLI and the dashboard. Errors use the AWS error format
(rest-json statuses: 400 bad input, 404 unknown resource), so one client-side parser serves both APIs. Each
endpoint parses its query, calls ``analysis/`` (or reads a job's progress) and serializes the answer.

- ``GET /api/v1/series?metricAttributionArn=ARN[&start=T][&end=T][&format=json|csv]``: the live series in the
  report columns.
- ``GET /api/v1/reports?metricAttributionArn=ARN``: the report files at the attribution's destination.
- ``GET /api/v1/reports/file?metricAttributionArn=ARN&name=NAME``: one report file.
- ``GET /api/v1/import-jobs/progress?datasetImportJobArn=ARN``: status and progress of an import job.
- ``GET /api/v1/totals?metricAttributionArn=ARN[&start=T][&end=T]``: per metric, totals per source over the
  range and each source's share.
- ``GET /api/v1/import-jobs?datasetGroupArn=ARN``: the group's import jobs with status, progress and report.
- ``GET /api/v1/numeric-columns?datasetGroupArn=ARN``: the columns a SUM metric expression may name.
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from recimpact.analysis.backfill import run_backfill
from recimpact.analysis.comparison import compare_sources
from recimpact.analysis.reports import list_reports, read_report
from recimpact.analysis.series import read_series
from recimpact.analysis.summaries import group_import_jobs, numeric_columns, source_totals
from recimpact.domain.arns import Scope, parse_arn
from recimpact.domain.errors import InvalidInputException, ServiceError
from recimpact.domain.resources import DatasetImportJob
from recimpact.domain.service_names import EVENTS
from recimpact.domain.timestamps import parse_time
from recimpact.services.common import require
from recimpact.services.context import RequestContext
from recimpact.sinks.reports import REPORT_COLUMNS, to_csv
from recimpact.wire.auth import Authenticator, HttpRequest
from recimpact.wire.protocol import error_response
from recimpact.wire.server_state import ServerState


def _required(request: Request, name: str) -> str:
    value = request.query_params.get(name)
    if not value:
        raise InvalidInputException(f"{name} is required")
    return value


def _context(request: Request, arn: str) -> RequestContext:
    """The caller's account, in the region of the resource asked about: this API is not regional the way AWS
    endpoints are."""
    server_state: ServerState = request.app.state.server_state
    authenticator: Authenticator = request.app.state.authenticator
    scope = authenticator.caller(HttpRequest.from_asgi(request.scope, request.headers, b""))
    return server_state.context(Scope(scope.account, parse_arn(arn).region))


def _json(body: Any) -> Response:
    return Response(json.dumps(body), 200, media_type="application/json")


def _endpoint(handler: Callable[[Request], Awaitable[Response]]) -> Callable[[Request], Awaitable[Response]]:
    async def endpoint(request: Request) -> Response:
        try:
            return await handler(request)
        except ServiceError as error:
            return error_response(EVENTS, error)

    return endpoint


def _time(text: str, name: str) -> float:
    """A time parameter as epoch seconds. ``parse_time`` reads ``nan`` and ``inf`` as floats; no range ends at
    them, and the JSON answer that echoes the range could not carry them."""
    value = parse_time(text)
    if not math.isfinite(value):
        raise InvalidInputException(f"{name} must be a finite time, got {text!r}")
    return value


def _range(request: Request) -> tuple[float | None, float | None]:
    query = request.query_params
    start = _time(query["start"], "start") if query.get("start") else None
    end = _time(query["end"], "end") if query.get("end") else None
    return start, end


@_endpoint
async def series(request: Request) -> Response:
    arn = _required(request, "metricAttributionArn")
    query = request.query_params
    start, end = _range(request)
    fmt = query.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInputException("format must be json or csv")
    rows = await run_in_threadpool(read_series, _context(request, arn), arn, start, end)
    if fmt == "csv":
        return Response(to_csv(rows), 200, media_type="text/csv")
    return _json({"metricAttributionArn": arn, "columns": list(REPORT_COLUMNS), "rows": rows})


@_endpoint
async def reports(request: Request) -> Response:
    arn = _required(request, "metricAttributionArn")
    files = await run_in_threadpool(list_reports, _context(request, arn), arn)
    return _json({"metricAttributionArn": arn, "reports": files})


@_endpoint
async def report_file(request: Request) -> Response:
    arn = _required(request, "metricAttributionArn")
    name = _required(request, "name")
    body = await run_in_threadpool(read_report, _context(request, arn), arn, name)
    disposition = 'attachment; filename="' + name.replace('"', "") + '"'
    return Response(body, 200, media_type="text/csv", headers={"Content-Disposition": disposition})


@_endpoint
async def import_job_progress(request: Request) -> Response:
    arn = _required(request, "datasetImportJobArn")
    ctx = _context(request, arn)

    def describe() -> DatasetImportJob:
        with ctx.catalog.transaction() as tx:
            return require(tx, ctx, DatasetImportJob, arn, "datasetImportJobArn")

    job = await run_in_threadpool(describe)
    server_state: ServerState = request.app.state.server_state
    progress = server_state.progress.get(arn)
    body: dict[str, Any] = {
        "datasetImportJobArn": arn,
        "status": job.status,
        "failureReason": job.failure_reason,
        "rows": job.rows,
        "report": job.report,
        "progress": progress.snapshot() if progress is not None else None,
    }
    return _json(body)


@_endpoint
async def totals(request: Request) -> Response:
    arn = _required(request, "metricAttributionArn")
    start, end = _range(request)
    metrics = await run_in_threadpool(source_totals, _context(request, arn), arn, start, end)
    return _json({"metricAttributionArn": arn, "start": start, "end": end, "metrics": metrics})


@_endpoint
async def import_jobs(request: Request) -> Response:
    arn = _required(request, "datasetGroupArn")
    server_state: ServerState = request.app.state.server_state
    jobs = await run_in_threadpool(group_import_jobs, _context(request, arn), arn, server_state.progress)
    return _json({"datasetGroupArn": arn, "datasetImportJobs": jobs})


@_endpoint
async def columns(request: Request) -> Response:
    arn = _required(request, "datasetGroupArn")
    found = await run_in_threadpool(numeric_columns, _context(request, arn), arn)
    return _json({"datasetGroupArn": arn, "columns": found})


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.query_params.get(name)
    if value is None:
        return default
    if value.lower() not in ("true", "false"):
        raise InvalidInputException(f"{name} must be true or false")
    return value.lower() == "true"


@_endpoint
async def backfill(request: Request) -> Response:
    """``POST /api/v1/backfill?metricAttributionArn=ARN&since=T[&publish=true|false][&report=true|false]``: count
    the stored events the live series left out (``analysis/backfill.py``)."""
    arn = _required(request, "metricAttributionArn")
    since = _time(_required(request, "since"), "since")
    publish, report = _flag(request, "publish", True), _flag(request, "report", False)
    result = await run_in_threadpool(run_backfill, _context(request, arn), arn, since, publish, report)
    return _json({"metricAttributionArn": arn, **result.to_json()})


@_endpoint
async def comparison(request: Request) -> Response:
    """``GET /api/v1/compare?metricAttributionArn=ARN&metric=NAME&sourceA=S&sourceB=S[&per=NAME][&start=T]
    [&end=T][&alpha=0.05]``: source B against source A, with intervals (``analysis/comparison.py``)."""
    arn = _required(request, "metricAttributionArn")
    metric, a, b = _required(request, "metric"), _required(request, "sourceA"), _required(request, "sourceB")
    start, end = _range(request)
    try:
        alpha = float(request.query_params.get("alpha", "0.05"))
    except ValueError:
        raise InvalidInputException("alpha must be a number between 0 and 1") from None
    per = request.query_params.get("per") or None
    body = await run_in_threadpool(
        compare_sources, _context(request, arn), arn, metric, a, b, per, start, end, alpha
    )
    return _json(body)
