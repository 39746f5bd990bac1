"""Comparing two sources on one metric of the attribution, with intervals (``domain/statistics.py``).

The unit is the user, as in GrowthBook, Statsig and PostHog: every user with at least one event attributed to a
source in the range, or an exposure from it, is one unit of that source, with the metric's per-user value (0 when
they had no event of the metric's type). A RATIO metric (a click-through rate: clicks over IMPRESSIONCOUNT()), or
``per`` naming a second metric (margin per view), makes it a ratio metric: the numerator's total over the
denominator's, whose variance comes from the delta method. The data are the stored events in the range
(not the live series, so events the series left out count too) and items' current values for SUM(ITEMS.col).
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from recimpact.domain.attribution import CompiledMetric, compile_attribution
from recimpact.domain.errors import InvalidInputException
from recimpact.domain.expressions import MetricExpression
from recimpact.domain.resources import MetricAttribution
from recimpact.domain.statistics import MetricKind, SampleSummary, compare, randomization_warning
from recimpact.services.common import camel, require
from recimpact.services.context import RequestContext


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
    metric = _metric(attribution, metric_name)
    parts: list[tuple[str, MetricExpression]] = [
        (metric.event_type, a) for a in metric.expression.aggregates()
    ]
    if per:
        if metric.expression.function == "ratio":
            raise InvalidInputException(f"{metric.metric_name} is a RATIO already: compare it without per")
        denominator = _metric(attribution, per)
        if denominator.expression.function == "ratio":
            raise InvalidInputException(
                f"per names {denominator.metric_name}, a RATIO: name a count or a sum"
            )
        parts.append((denominator.event_type, denominator.expression))
    kind = MetricKind.RATIO if len(parts) == 2 else MetricKind.MEAN
    window = (start if start is not None else float("-inf"), end if end is not None else float("inf"))
    sources = (source_a, source_b)
    group = attribution.dataset_group_arn
    values = [
        ctx.events.per_user_totals(group, sources, *window, event_type, aggregate)
        for event_type, aggregate in parts
    ]
    units = ctx.events.exposed_users(group, sources, *window)
    summaries = {source: SampleSummary() for source in sources}
    for source, user in sorted(units):
        x = values[0].get((source, user), 0.0)
        y = values[1].get((source, user), 0.0) if kind is MetricKind.RATIO else 1.0
        summaries[source] = summaries[source].with_unit(x, y)
    result = compare(summaries[source_a], summaries[source_b], kind, alpha=alpha)
    warnings = list(result.warnings)
    users_a = {user for source, user in units if source == source_a}
    users_b = {user for source, user in units if source == source_b}
    overlap = randomization_warning(len(users_a & users_b), result.units_a, result.units_b)
    if overlap:
        warnings.append(overlap)
    body = {camel(key): value for key, value in asdict(result).items()}
    body.update(
        {
            "metricAttributionArn": attribution.arn,
            "metric": metric.metric_name,
            "per": per.upper() if per else None,
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
