"""The report files an attribution's import jobs published (recimpact's read API; the dashboard and
``recimpact reports`` use it). Reports live where the user asked (S3 or a local folder); the server lists and
reads them with its own access, so a client needs none."""

from __future__ import annotations

from typing import Any

from recimpact.domain.errors import InvalidInputException, ResourceNotFoundException
from recimpact.domain.resources import MetricAttribution
from recimpact.services.common import require
from recimpact.services.context import RequestContext
from recimpact.sinks import destinations
from recimpact.sinks.destinations import DestinationError, Location, S3Config
from recimpact.sinks.reports import REPORT_PREFIX


def _destination(ctx: RequestContext, attribution_arn: str) -> tuple[Location, S3Config]:
    with ctx.catalog.transaction() as tx:
        attribution = require(tx, ctx, MetricAttribution, attribution_arn, "metricAttributionArn")
    destination = (attribution.metrics_output_config or {}).get("s3DataDestination")
    if not destination:
        raise InvalidInputException(f"Metric attribution {attribution_arn} has no s3DataDestination")
    return destinations.parse_location(destination["path"]), S3Config(
        ctx.settings.s3_endpoint_url, ctx.scope.region
    )


def list_reports(ctx: RequestContext, attribution_arn: str) -> list[dict[str, Any]]:
    """Report files at the attribution's destination, newest first."""
    location, s3 = _destination(ctx, attribution_arn)
    try:
        files = destinations.list_folder(location, s3, REPORT_PREFIX)
    except DestinationError as exc:
        raise InvalidInputException(str(exc)) from None
    files.sort(key=lambda f: (f.name.rsplit(" - ", 1)[-1], f.name), reverse=True)
    return [
        {
            "name": f.name,
            "size": f.size,
            "lastModified": f.modified,
            "url": str(location).rstrip("/") + "/" + f.name,
        }
        for f in files
        if f.name.endswith(".csv")
    ]


def read_report(ctx: RequestContext, attribution_arn: str, name: str) -> bytes:
    if "/" in name or not name.startswith(REPORT_PREFIX) or not name.endswith(".csv"):
        raise InvalidInputException(f"{name!r} is not a report file name")
    location, s3 = _destination(ctx, attribution_arn)
    if not destinations.exists(location, name, s3):
        raise ResourceNotFoundException(f"No report {name!r} at {location}")
    try:
        return destinations.read_file(location, name, s3)
    except DestinationError as exc:
        raise InvalidInputException(str(exc)) from None
