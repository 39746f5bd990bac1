"""Helpers for the event-ingest suites: a dataset group with a tracker and an attribution, event builders, and the
live series read back through recimpact's HTTP read API."""

from __future__ import annotations

import json
import math
import time
from typing import Any

from recimpact.cli.client import get_series
from tests.conftest import Group, output_config, unique
from tests.server import ServerProcess

WINDOW = 900
DAY = 86400
UNDEFINED = "SOURCE_NAME_UNDEFINED"

VIEWS = {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}
MARGIN = {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"}
CLICK_VALUE = {
    "eventType": "Click",
    "expression": "SUM(INTERACTIONS.EVENT_VALUE)",
    "metricName": "clickValue",
}


def window(ts: float) -> int:
    return int(math.floor(ts / WINDOW) * WINDOW)


def base_time(days_ago: float = 1.0) -> int:
    """The start of a 15-minute window ``days_ago`` in the past: events sent within the next 900 s share it."""
    return window(time.time() - days_ago * DAY)


class Tracked:
    """A dataset group (Interactions + Items) with an event tracker and, optionally, a metric attribution."""

    def __init__(
        self,
        server: ServerProcess,
        metrics: list[dict[str, str]] | None = None,
        interactions_schema: dict[str, Any] | None = None,
        with_items: bool = True,
    ) -> None:
        self.server = server
        self.personalize = server.client("personalize")
        self.events = server.client("personalize-events")
        self.group = Group(self.personalize, with_items=with_items, interactions_schema=interactions_schema)
        tracker = self.personalize.create_event_tracker(name=unique("et"), datasetGroupArn=self.group.arn)
        self.tracking_id: str = tracker["trackingId"]
        self.attribution_arn = ""
        if metrics is not None:
            self.attribute(metrics)

    def attribute(self, metrics: list[dict[str, str]], name: str | None = None) -> str:
        self.attribution_arn = self.personalize.create_metric_attribution(
            name=name or unique("ma"),
            datasetGroupArn=self.group.arn,
            metrics=metrics,
            metricsOutputConfig=output_config(),
        )["metricAttributionArn"]
        return self.attribution_arn

    def put(self, *events: dict[str, Any], session: str = "s1", user: str | None = "u1") -> None:
        kwargs: dict[str, Any] = {
            "trackingId": self.tracking_id,
            "sessionId": session,
            "eventList": list(events),
        }
        if user is not None:
            kwargs["userId"] = user
        self.events.put_events(**kwargs)

    def put_items(self, *items: tuple[str, dict[str, Any]]) -> None:
        assert self.group.items_dataset is not None
        self.events.put_items(
            datasetArn=self.group.items_dataset,
            items=[{"itemId": item_id, "properties": json.dumps(props)} for item_id, props in items],
        )

    def rows(self, start: str | None = None, end: str | None = None) -> list[tuple[Any, ...]]:
        return rows(self.server, self.attribution_arn, start, end)


def rows(
    server: ServerProcess, attribution_arn: str, start: str | None = None, end: str | None = None
) -> list[tuple[Any, ...]]:
    """The live series as (METRIC_NAME, EVENT_TYPE, VALUE, MATH_FUNCTION, SOURCE, TIMESTAMP) tuples, in the order
    the read API returns them."""
    body = get_series(server.url, attribution_arn, start, end)
    assert body["columns"] == [
        "METRIC_NAME",
        "EVENT_TYPE",
        "VALUE",
        "MATH_FUNCTION",
        "EVENT_ATTRIBUTION_SOURCE",
        "TIMESTAMP",
    ]
    return [tuple(row[c] for c in body["columns"]) for row in body["rows"]]


def event(
    event_type: str,
    sent_at: float,
    *,
    event_id: str | None = None,
    item: str | None = None,
    value: float | None = None,
    source: str | None = None,
    recommendation_id: str | None = None,
    properties: str | None = None,
    impression: list[str] | None = None,
) -> dict[str, Any]:
    """A PutEvents ``eventList`` member with only the given attributes."""
    doc: dict[str, Any] = {"eventType": event_type, "sentAt": sent_at}
    if event_id is not None:
        doc["eventId"] = event_id
    if item is not None:
        doc["itemId"] = item
    if value is not None:
        doc["eventValue"] = value
    if source is not None:
        doc["metricAttribution"] = {"eventAttributionSource": source}
    if recommendation_id is not None:
        doc["recommendationId"] = recommendation_id
    if properties is not None:
        doc["properties"] = properties
    if impression is not None:
        doc["impression"] = impression
    return doc
