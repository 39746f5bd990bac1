"""recimpact's own read API (not part of AWS's): the live series in report columns, as JSON or CSV.

``GET /api/v1/series?metricAttributionArn=ARN[&start=T][&end=T][&format=json|csv]``. Errors use the AWS error
format, so one client-side parser serves both APIs.
"""

from __future__ import annotations

import json

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from recimpact.domain.arns import Scope, parse_arn
from recimpact.domain.errors import InvalidInputException, ServiceError
from recimpact.domain.timestamps import parse_time
from recimpact.runtime import Runtime
from recimpact.services.series import read_series
from recimpact.sinks.reports import REPORT_COLUMNS, to_csv
from recimpact.wire.auth import caller_scope
from recimpact.wire.models import EVENTS
from recimpact.wire.protocol import error_response


async def series(request: Request) -> Response:
    try:
        query = request.query_params
        arn = query.get("metricAttributionArn")
        if not arn:
            raise InvalidInputException("metricAttributionArn is required")
        start = parse_time(query["start"]) if query.get("start") else None
        end = parse_time(query["end"]) if query.get("end") else None
        fmt = query.get("format", "json")
        if fmt not in ("json", "csv"):
            raise InvalidInputException("format must be json or csv")
        runtime: Runtime = request.app.state.runtime
        settings = runtime.settings
        # The attribution's own region: this read API is not regional the way AWS endpoints are.
        scope = caller_scope(request.headers, settings.account_id, settings.region)
        ctx = runtime.context(Scope(scope.account, parse_arn(arn).region))
        rows = await run_in_threadpool(read_series, ctx, arn, start, end)
    except ServiceError as error:
        # rest-json statuses: 400 for bad input, 404 for an unknown attribution.
        return error_response(EVENTS, error)
    if fmt == "csv":
        return Response(to_csv(rows), 200, media_type="text/csv")
    body = {"metricAttributionArn": arn, "columns": list(REPORT_COLUMNS), "rows": rows}
    return Response(json.dumps(body), 200, media_type="application/json")
