"""Backfill: count stored events that the live series left out, without ever counting one twice.

AWS counts an event toward a metric only if it arrived after the metric existed (and within 14 days of its
timestamp). Teams that add an attribution to an existing shop lose that history. recimpact keeps every event, so a
backfill can add what the live path skipped — for event times from ``since`` on — to the same 15-minute series (and
so to CloudWatch, unless told not to), and write a report of the windows it covers. Exposures (the items sources
showed, which IMPRESSIONCOUNT() counts) are backfilled with the events, so a click-through rate's denominator
never lags its numerator. What each metric's backfills
have counted (event time from ``since``, received before the backfill) is recorded in the same transaction as the
counts, so a repeated or overlapping backfill adds only what is still missing, and live ingest never overlaps it
(it counts exactly the events backfills skip).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from recimpact.analysis.series import read_series
from recimpact.domain.attribution import (
    CompiledAttribution,
    Coverage,
    backfill_contributions,
    backfill_exposure_contributions,
    compile_attribution,
    item_columns,
    window_start,
)
from recimpact.domain.errors import InvalidInputException, ResourceInUseException
from recimpact.domain.events import Interaction
from recimpact.domain.resources import MetricAttribution
from recimpact.services.common import require
from recimpact.services.context import RequestContext
from recimpact.sinks.destinations import S3Config
from recimpact.sinks.reports import to_csv, write_report
from recimpact.store.interfaces import IngestTx
from recimpact.store.series import SeriesKey

# An event's arrival time is taken when its request is parsed, and the group commit follows within milliseconds:
# events received in the last few seconds may still be on their way to disk, so a backfill leaves them to the next.
SETTLE_SECONDS = 5.0


@dataclass(frozen=True)
class BackfillResult:
    events_scanned: int
    events_counted: int
    exposures_counted: int  # recommendations served and impression lists, for IMPRESSIONCOUNT()
    windows_updated: int
    coverage: dict[str, Coverage]  # metric name → what its backfills have now counted
    report: str | None

    def to_json(self) -> dict[str, Any]:
        return {
            "eventsScanned": self.events_scanned,
            "eventsCounted": self.events_counted,
            "exposuresCounted": self.exposures_counted,
            "windowsUpdated": self.windows_updated,
            "coverage": {
                name: {"since": c.since, "receivedBefore": c.received_before}
                for name, c in self.coverage.items()
            },
            "report": self.report,
        }


class _Conflict(Exception):
    """Another backfill of the same attribution committed first."""


def run_backfill(
    ctx: RequestContext, attribution_arn: str, since: float, publish: bool = True, report: bool = False
) -> BackfillResult:
    with ctx.catalog.transaction() as tx:
        attribution = require(tx, ctx, MetricAttribution, attribution_arn, "metricAttributionArn")
    now = ctx.clock()
    if since > now:
        raise InvalidInputException("since must not be in the future")
    if report and not (attribution.metrics_output_config or {}).get("s3DataDestination"):
        raise InvalidInputException(
            f"Metric attribution {attribution.arn} has no s3DataDestination for a report"
        )
    compiled = compile_attribution(attribution)
    series_id = compiled.series_id
    stored = {m.metric_name: ctx.events.coverage(series_id, m.metric_name) for m in compiled.metrics}
    done = {name: Coverage(*span) if span else None for name, span in stored.items()}
    target = {name: Coverage(since, now - SETTLE_SECONDS).union(prev) for name, prev in done.items()}
    items = _items(ctx, compiled)
    contributions: dict[SeriesKey, float] = {}
    scanned = counted = exposures = 0
    oldest = min(c.since for c in target.values())
    for event_type, sent_at, received_at, user, item_id, value, props, source in ctx.events.stored_events(
        compiled.dataset_group_arn, oldest, math.inf
    ):
        scanned += 1
        event = Interaction(
            event_type=event_type,
            sent_at=sent_at,
            user_id=user,
            item_id=item_id,
            event_value=value,
            properties=json.loads(props) if props else {},
        )
        found = backfill_contributions(compiled, event, received_at, items.get(item_id or ""), target, done)
        counted += bool(found)
        for metric, label, window, amount in found:
            key = SeriesKey(series_id, metric.metric_name, metric.event_type, label, source, window)
            contributions[key] = contributions.get(key, 0.0) + amount

    if compiled.counts_impressions:
        for source, shown_at, received_at, shown in ctx.events.stored_exposures(
            compiled.dataset_group_arn, oldest
        ):
            found = backfill_exposure_contributions(compiled, shown_at, received_at, shown, target, done)
            exposures += bool(found)
            for metric, label, window, amount in found:
                key = SeriesKey(series_id, metric.metric_name, metric.event_type, label, source, window)
                contributions[key] = contributions.get(key, 0.0) + amount

    def commit(tx: IngestTx) -> None:
        if any(tx.coverage(series_id, name) != span for name, span in stored.items()):
            raise _Conflict
        for key, amount in contributions.items():
            tx.add_backfill(key, amount, publish)
        for name, coverage in target.items():
            tx.set_coverage(series_id, name, coverage.since, coverage.received_before)

    try:
        ctx.events.submit(commit).result()
    except _Conflict:
        raise ResourceInUseException(
            f"Another backfill of {attribution.arn} finished while this one ran; run it again"
        ) from None
    written = _report(ctx, attribution, since) if report else None
    return BackfillResult(scanned, counted, exposures, len(contributions), target, written)


def _items(ctx: RequestContext, compiled: CompiledAttribution) -> dict[str, dict[str, Any]]:
    """The item columns SUM(ITEMS.col) metrics read, as stored now (a backfill cannot know an item's value at the
    moment a past event arrived)."""
    columns = item_columns(compiled.metrics)
    if not columns:
        return {}
    return {
        item_id: dict(zip(columns, values, strict=True))
        for item_id, *values in ctx.events.item_values(compiled.dataset_group_arn, columns)
    }


def _report(ctx: RequestContext, attribution: MetricAttribution, since: float) -> str:
    """The series from the first backfilled window on, as a report file (``... - BACKFILL - <time>.csv``)."""
    rows = read_series(ctx, attribution.arn, float(window_start(since)), None)
    s3 = S3Config(ctx.settings.s3_endpoint_url, attribution.region)
    return write_report(attribution, "BACKFILL", to_csv(rows), s3)
