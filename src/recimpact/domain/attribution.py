"""The counting rules of metric attribution: which source an event belongs to, which metrics it feeds, in which
15-minute window, and with what value. Pure functions: the live ingest path, bulk imports and the tests' reference
implementations all call these.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from recimpact.domain.events import Interaction
from recimpact.domain.expressions import MetricExpression, parse_expression
from recimpact.domain.resources import MetricAttribution

WINDOW_SECONDS = 900  # 15-minute tumbling windows, aligned to the epoch like CloudWatch's 900 s periods
LIVE_MAX_AGE_SECONDS = 14 * 86400  # AWS: records older than 14 days are left out of CloudWatch metrics
SOURCE_NAME_UNDEFINED = "SOURCE_NAME_UNDEFINED"
# How the live series stores a RATIO's two parts (the report shows their quotient as MATH_FUNCTION ``ratio``).
RATIO_NUMERATOR = "ratio_numerator"
RATIO_DENOMINATOR = "ratio_denominator"
MAX_SOURCES_PER_DATASET_GROUP = 100


def window_start(timestamp: float) -> int:
    return int(math.floor(timestamp / WINDOW_SECONDS) * WINDOW_SECONDS)


def resolve_source(event: Interaction, recommendation_source: Callable[[str], str | None]) -> str:
    """``eventAttributionSource`` if given; else the recommender or campaign that issued ``recommendationId``;
    else SOURCE_NAME_UNDEFINED (AWS: "If you provide both attributes, Amazon Personalize uses only the
    eventAttributionSource")."""
    if event.attribution_source:
        return event.attribution_source
    if event.recommendation_id:
        issuer = recommendation_source(event.recommendation_id)
        if issuer:
            return issuer
    return SOURCE_NAME_UNDEFINED


@dataclass(frozen=True)
class CompiledMetric:
    """A metric ready to count: names upper-cased as reports show them."""

    metric_name: str  # upper-case
    event_type: str  # upper-case
    expression: MetricExpression
    counting_since: float

    @property
    def function(self) -> str:
        return self.expression.function

    def parts(self) -> tuple[tuple[str, MetricExpression], ...]:
        """(series function label, aggregate) of what the series stores for this metric: the aggregate itself,
        or a RATIO's numerator and denominator, kept apart so that windows and ranges can be summed before
        dividing (``combine_ratios``)."""
        expression = self.expression
        if expression.function == "ratio":
            numerator, denominator = expression.aggregates()
            return ((RATIO_NUMERATOR, numerator), (RATIO_DENOMINATOR, denominator))
        return ((expression.function, expression),)


@dataclass(frozen=True)
class CompiledAttribution:
    arn: str
    series_id: str
    dataset_group_arn: str
    metrics: tuple[CompiledMetric, ...]
    # Upper-cased event types that a SUM(ITEMS.col) metric counts: only their events need the item.
    item_event_types: frozenset[str] = field(init=False, compare=False)

    def __post_init__(self) -> None:
        types = frozenset(m.event_type for m in self.metrics if m.expression.reads("ITEMS"))
        object.__setattr__(self, "item_event_types", types)

    @property
    def needs_items(self) -> bool:
        return any(m.expression.reads("ITEMS") for m in self.metrics)

    @property
    def counts_impressions(self) -> bool:
        return any(m.expression.counts_impressions for m in self.metrics)


def metric_parts(metrics: Iterable[CompiledMetric]) -> tuple[tuple[CompiledMetric, ...], tuple[str, ...]]:
    """Metrics as single aggregates for a bulk query, with each one's series function label: a RATIO becomes its
    numerator and its denominator (same name and event type), combined again when the rows are read."""
    parts: list[CompiledMetric] = []
    labels: list[str] = []
    for metric in metrics:
        for label, aggregate in metric.parts():
            parts.append(
                CompiledMetric(metric.metric_name, metric.event_type, aggregate, metric.counting_since)
            )
            labels.append(label)
    return tuple(parts), tuple(labels)


def item_columns(metrics: Iterable[CompiledMetric]) -> list[str]:
    """The Items columns SUM(ITEMS.col) aggregates of ``metrics`` read (in a RATIO too), sorted."""
    return sorted(
        {
            part.column
            for metric in metrics
            for part in metric.expression.aggregates()
            if part.dataset == "ITEMS" and part.column
        }
    )


def compile_attribution(attribution: MetricAttribution) -> CompiledAttribution:
    return CompiledAttribution(
        arn=attribution.arn,
        series_id=attribution.series_id,
        dataset_group_arn=attribution.dataset_group_arn,
        metrics=tuple(
            CompiledMetric(
                metric_name=m.metric_name.upper(),
                event_type=m.event_type.upper(),
                expression=parse_expression(m.expression),
                counting_since=m.counting_since,
            )
            for m in attribution.metrics
        ),
    )


def metric_value(
    aggregate: MetricExpression, event: Interaction, item: Mapping[str, Any] | None
) -> float | None:
    """What one event adds to an aggregate: 1 for SAMPLECOUNT(); the column's value for SUM, or None when the item
    or event lacks it (SUM over a missing value contributes nothing); None for IMPRESSIONCOUNT(), which counts
    exposures, not events."""
    expression = aggregate
    if expression.function == "samplecount":
        return 1.0
    if expression.function != "sum":
        return None
    assert expression.column is not None
    value = (
        (item or {}).get(expression.column)
        if expression.dataset == "ITEMS"
        else event.value_of(expression.column)
    )
    if value is None or isinstance(value, bool):
        return None
    return float(value)


Contribution = tuple[CompiledMetric, str, int, float]  # (metric, series function label, window start, value)


def live_contributions(
    attribution: CompiledAttribution,
    event: Interaction,
    received_at: float,
    item: Mapping[str, Any] | None,
) -> list[Contribution]:
    """(metric, function label, window start, value) for each metric of the attribution this event counts toward
    in the live series: event type matched case-insensitively, received after the metric was created (no
    back-fill), and not older than 14 days when received."""
    if received_at - event.sent_at > LIVE_MAX_AGE_SECONDS:
        return []
    event_type = event.event_type.upper()
    result = []
    for metric in attribution.metrics:
        if metric.event_type != event_type or received_at < metric.counting_since:
            continue
        for label, aggregate in metric.parts():
            value = metric_value(aggregate, event, item)
            if value is not None:
                result.append((metric, label, window_start(event.sent_at), value))
    return result


def exposure_contributions(
    attribution: CompiledAttribution, shown_at: float, received_at: float, items_shown: int
) -> list[Contribution]:
    """What ``items_shown`` exposures (items a source showed at ``shown_at``) add to IMPRESSIONCOUNT() aggregates,
    whatever the metric's event type, under the same counting rules as events."""
    if received_at - shown_at > LIVE_MAX_AGE_SECONDS or items_shown <= 0:
        return []
    result = []
    for metric in attribution.metrics:
        if received_at < metric.counting_since:
            continue
        for label, aggregate in metric.parts():
            if aggregate.function == "impressioncount":
                result.append((metric, label, window_start(shown_at), float(items_shown)))
    return result


def counted_live(metric: CompiledMetric, event_type: str | None, sent_at: float, received_at: float) -> bool:
    """Whether the live path counted this event (or, with no event type, this exposure) toward ``metric`` when it
    arrived."""
    return (
        (event_type is None or event_type.upper() == metric.event_type)
        and received_at >= metric.counting_since
        and received_at - sent_at <= LIVE_MAX_AGE_SECONDS
    )


def _left_to_backfill(
    metric: CompiledMetric,
    event_type: str | None,
    sent_at: float,
    received_at: float,
    target: Mapping[str, Coverage],
    done: Mapping[str, Coverage | None],
) -> bool:
    """The live path skipped it (received before the metric existed, or more than 14 days late), it lies in the
    region this backfill covers (``target``, by metric name), and no earlier backfill covered it (``done``)."""
    if not target[metric.metric_name].holds(sent_at, received_at):
        return False
    previous = done.get(metric.metric_name)
    if previous is not None and previous.holds(sent_at, received_at):
        return False
    return not counted_live(metric, event_type, sent_at, received_at)


@dataclass(frozen=True)
class Coverage:
    """The stored events a metric's backfills have counted: event time >= ``since`` and received before
    ``received_before`` (a rectangle in (event time, arrival time); later backfills only ever grow it)."""

    since: float
    received_before: float

    def holds(self, sent_at: float, received_at: float) -> bool:
        return sent_at >= self.since and received_at < self.received_before

    def union(self, other: Coverage | None) -> Coverage:
        """The smallest rectangle holding both: a backfill from a later ``since`` still covers down to the
        earlier one, so the covered region stays one rectangle."""
        if other is None:
            return self
        return Coverage(min(self.since, other.since), max(self.received_before, other.received_before))


def backfill_contributions(
    attribution: CompiledAttribution,
    event: Interaction,
    received_at: float,
    item: Mapping[str, Any] | None,
    target: Mapping[str, Coverage],
    done: Mapping[str, Coverage | None],
) -> list[Contribution]:
    """(metric, function label, window start, value) for each metric this stored event should count toward but does
    not yet (``_left_to_backfill``)."""
    event_type = event.event_type.upper()
    result = []
    for metric in attribution.metrics:
        if metric.event_type != event_type:
            continue
        if not _left_to_backfill(metric, event_type, event.sent_at, received_at, target, done):
            continue
        for label, aggregate in metric.parts():
            value = metric_value(aggregate, event, item)
            if value is not None:
                result.append((metric, label, window_start(event.sent_at), value))
    return result


def backfill_exposure_contributions(
    attribution: CompiledAttribution,
    shown_at: float,
    received_at: float,
    items_shown: int,
    target: Mapping[str, Coverage],
    done: Mapping[str, Coverage | None],
) -> list[Contribution]:
    """What a stored exposure adds to the IMPRESSIONCOUNT() aggregates it should count toward but does not yet,
    whatever the metric's event type: the denominators of click-through rates, backfilled with their numerators."""
    if items_shown <= 0:
        return []
    result = []
    for metric in attribution.metrics:
        if not metric.expression.counts_impressions:
            continue
        if not _left_to_backfill(metric, None, shown_at, received_at, target, done):
            continue
        for label, aggregate in metric.parts():
            if aggregate.function == "impressioncount":
                result.append((metric, label, window_start(shown_at), float(items_shown)))
    return result


def new_sources(sources: Sequence[str], known: set[str]) -> list[str]:
    """Sources of a request not seen before in the dataset group, in first-seen order. SOURCE_NAME_UNDEFINED is
    the absence of a source and does not count toward the 100-source limit."""
    seen: list[str] = []
    for source in sources:
        if source != SOURCE_NAME_UNDEFINED and source not in known and source not in seen:
            seen.append(source)
    return seen
