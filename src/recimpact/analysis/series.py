"""Reading an attribution's live series (the HTTP read API behind ``recimpact metrics`` and the dashboard)."""

from __future__ import annotations

from typing import Any

from recimpact.domain.resources import MetricAttribution
from recimpact.services.common import require
from recimpact.services.context import RequestContext
from recimpact.sinks.reports import series_report_rows


def read_series(
    ctx: RequestContext, attribution_arn: str, start: float | None = None, end: float | None = None
) -> list[dict[str, Any]]:
    """Report rows of windows starting in [start, end), newest first. Reads the committed aggregates, so an
    acknowledged PutEvents is visible at once."""
    with ctx.catalog.transaction() as tx:
        attribution = require(tx, ctx, MetricAttribution, attribution_arn, "metricAttributionArn")
    return series_report_rows(ctx.events.series(attribution.series_id, start, end))
