"""Comparing two sources on one metric of the attribution, with intervals (``domain/statistics.py``).

The unit is the user, as in GrowthBook, Statsig and PostHog: every user with at least one event attributed to a
source in the range is one unit of that source, with the metric's per-user value (0 when they had no event of the
metric's type). ``per`` turns it into a ratio metric: the metric's total over another metric's total (margin per
view, purchases per view), whose variance comes from the delta method. The data are the stored events in the range
(not the live series, so events the series left out count too) and items' current values for SUM(ITEMS.col).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from recimpact.domain.attribution import CompiledMetric, compile_attribution
from recimpact.domain.errors import InvalidInputException
from recimpact.domain.resources import MetricAttribution
from recimpact.domain.statistics import MetricKind, SampleSummary, compare, randomization_warning
from recimpact.services.common import camel, require
from recimpact.services.context import RequestContext


def _value_sql(metric: CompiledMetric) -> tuple[str, list[Any]]:
    """What one event adds to the metric, as SQL over events ``e`` and items ``i``."""
    expression = metric.expression
    if expression.function == "samplecount":
        return "1.0", []
    if expression.dataset == "INTERACTIONS" and expression.column == "EVENT_VALUE":
        return "e.event_value", []
    table = "i" if expression.dataset == "ITEMS" else "e"
    return f"json_extract({table}.properties, ?)", [f"$.{expression.column}"]


def _metric(attribution: MetricAttribution, name: str) -> CompiledMetric:
    wanted = name.upper()
    for metric in compile_attribution(attribution).metrics:
        if metric.metric_name == wanted:
            return metric
    names = ", ".join(m.metric_name for m in attribution.metrics)
    raise InvalidInputException(
        f"Metric attribution {attribution.arn} has no metric {name!r} (it has {names})"
    )


def compare_sources(
    ctx: RequestContext,
    attribution_arn: str,
    metric_name: str,
    source_a: str,
    source_b: str,
    per: str | None = None,
    start: float | None = None,
    end: float | None = None,
    alpha: float = 0.05,
) -> dict[str, Any]:
    if source_a == source_b:
        raise InvalidInputException("Compare two different sources")
    with ctx.catalog.transaction() as tx:
        attribution = require(tx, ctx, MetricAttribution, attribution_arn, "metricAttributionArn")
    numerator = _metric(attribution, metric_name)
    denominator = _metric(attribution, per) if per else None
    units = _per_user(
        ctx, attribution.dataset_group_arn, numerator, denominator, (source_a, source_b), start, end
    )
    summaries = {source: SampleSummary() for source in (source_a, source_b)}
    users: dict[str, set[str]] = {source_a: set(), source_b: set()}
    for source, user, x, y in units:
        summaries[source] = summaries[source].with_unit(x, y)
        users[source].add(user)
    kind = MetricKind.RATIO if denominator else MetricKind.MEAN
    result = compare(summaries[source_a], summaries[source_b], kind, alpha=alpha)
    warnings = list(result.warnings)
    overlap = randomization_warning(len(users[source_a] & users[source_b]), result.units_a, result.units_b)
    if overlap:
        warnings.append(overlap)
    body = {camel(key): value for key, value in asdict(result).items()}
    body.update(
        {
            "metricAttributionArn": attribution.arn,
            "metric": numerator.metric_name,
            "per": denominator.metric_name if denominator else None,
            "sourceA": source_a,
            "sourceB": source_b,
            "start": start,
            "end": end,
            "kind": str(kind),
            "significant": result.significant,
            "significantSequential": result.significant_sequential,
            "warnings": warnings,
        }
    )
    return body


def _per_user(
    ctx: RequestContext,
    group: str,
    numerator: CompiledMetric,
    denominator: CompiledMetric | None,
    sources: tuple[str, str],
    start: float | None,
    end: float | None,
) -> list[tuple[str, str, float, float]]:
    """(source, user, metric value, denominator value or 1) for every user with an event of either source."""
    num_sql, num_args = _value_sql(numerator)
    if denominator is not None:
        den_sql, den_args = _value_sql(denominator)
        den = f"COALESCE(SUM(CASE WHEN upper(e.event_type) = ? THEN {den_sql} END), 0)"
        den_params: list[Any] = [denominator.event_type, *den_args]
    else:
        den, den_params = "1.0", []
    needs_items = any(m is not None and m.expression.dataset == "ITEMS" for m in (numerator, denominator))
    join = "LEFT JOIN items i ON i.dataset_group = g.arn AND i.item_id = e.item_id" if needs_items else ""
    sql = (
        f"SELECT e.source, e.user_id, COALESCE(SUM(CASE WHEN upper(e.event_type) = ? THEN {num_sql} END), 0), {den}"
        f" FROM events e JOIN dataset_groups g ON g.id = e.group_id {join}"
        " WHERE g.arn = ? AND e.source IN (?, ?) AND e.user_id IS NOT NULL AND e.sent_at >= ? AND e.sent_at < ?"
        " GROUP BY e.source, e.user_id"
    )
    args = [
        numerator.event_type,
        *num_args,
        *den_params,
        group,
        *sources,
        start if start is not None else float("-inf"),
        end if end is not None else float("inf"),
    ]
    return [(s, u, float(x), float(y)) for s, u, x, y in ctx.events.read(sql, args)]
