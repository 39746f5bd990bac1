"""Read-only summaries for the dashboard (recimpact's read API, not AWS's): totals per source over a range, a
dataset group's import jobs with their reports, and the numeric columns an attribution's SUM may name."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from recimpact.domain.attribution import RATIO_DENOMINATOR, RATIO_NUMERATOR
from recimpact.domain.expressions import parse_expression
from recimpact.domain.resources import Dataset, DatasetGroup, DatasetImportJob, MetricAttribution, Schema
from recimpact.domain.schema import parse_schema
from recimpact.services.common import require
from recimpact.services.context import HasSnapshot, RequestContext

# The dataset types a metric expression can name (SUM(ITEMS.col), SUM(INTERACTIONS.col)).
EXPRESSION_DATASETS = ("INTERACTIONS", "ITEMS")
# Numeric, but a sum of them means nothing: the builder does not offer them.
TIME_COLUMNS = frozenset({"TIMESTAMP", "CREATION_TIMESTAMP"})


def source_totals(
    ctx: RequestContext, attribution_arn: str, start: float | None, end: float | None
) -> list[dict[str, Any]]:
    """Per metric of the attribution, the sum of its windows starting in [start, end) per source, with each
    source's share of the metric's total (0 when the total is 0). Every metric is listed, even one with no data
    yet, so a client can show it; sources are ordered by value, largest first."""
    with ctx.catalog.transaction() as tx:
        attribution = require(tx, ctx, MetricAttribution, attribution_arn, "metricAttributionArn")
    # (metric, source) → series function → sum: a RATIO's parts are summed over the range before dividing.
    sums: dict[str, dict[str, dict[str, float]]] = defaultdict(
        lambda: defaultdict(lambda: defaultdict(float))
    )
    for point in ctx.events.series(attribution.series_id, start, end):
        sums[point.key.metric_name][point.key.source][point.key.function] += float(point.value)
    totals = []
    for metric in attribution.metrics:
        name = metric.metric_name.upper()
        function = parse_expression(metric.expression).function
        by_source = sums.get(name, {})
        if function == "ratio":
            # A ratio's total is its overall quotient, and shares of a ratio mean nothing.
            values = {s: _ratio(parts) for s, parts in by_source.items() if parts.get(RATIO_DENOMINATOR)}
            total: float | None = _ratio(_summed(by_source.values())) if values else None
            shares: dict[str, float | None] = dict.fromkeys(values)
        else:
            values = {s: sum(parts.values()) for s, parts in by_source.items()}
            total = sum(values.values())
            shares = {s: v / total if total else 0.0 for s, v in values.items()}
        sources = sorted(values.items(), key=lambda item: (-item[1], item[0]))
        totals.append(
            {
                "metricName": name,
                "eventType": metric.event_type.upper(),
                "expression": metric.expression,
                "mathFunction": function,
                "total": total,
                "sources": [{"source": s, "value": v, "share": shares[s]} for s, v in sources],
            }
        )
    return totals


def _summed(parts: Iterable[dict[str, float]]) -> dict[str, float]:
    summed: dict[str, float] = defaultdict(float)
    for part in parts:
        for function, value in part.items():
            summed[function] += value
    return summed


def _ratio(parts: Mapping[str, float]) -> float:
    return parts.get(RATIO_NUMERATOR, 0.0) / parts[RATIO_DENOMINATOR]


def group_import_jobs(
    ctx: RequestContext, group_arn: str, progress: Mapping[str, HasSnapshot]
) -> list[dict[str, Any]]:
    """The import jobs of every dataset in the group, newest first, with where each one's report went (AWS's
    DescribeDatasetImportJob does not say; the dashboard links the file) and the progress of running ones."""
    with ctx.catalog.transaction() as tx:
        require(tx, ctx, DatasetGroup, group_arn, "datasetGroupArn")
        datasets = {d.arn: d for d in tx.list(Dataset, ctx.scope, parent=group_arn)}
        jobs = [job for arn in datasets for job in tx.list(DatasetImportJob, ctx.scope, parent=arn)]
    jobs.sort(key=lambda job: (-job.creation_date_time, job.arn))
    views = []
    for job in jobs:
        running = progress.get(job.arn)
        views.append(
            {
                "datasetImportJobArn": job.arn,
                "jobName": job.name,
                "datasetArn": job.dataset_arn,
                "datasetType": datasets[job.dataset_arn].dataset_type,
                "dataLocation": job.data_source.get("dataLocation"),
                "importMode": job.import_mode,
                "publishAttributionMetricsToS3": job.publish_attribution_metrics_to_s3,
                "status": job.status,
                "failureReason": job.failure_reason,
                "creationDateTime": job.creation_date_time,
                "lastUpdatedDateTime": job.last_updated_date_time,
                "rows": job.rows,
                "report": job.report,
                "reportName": job.report.rsplit("/", 1)[-1] if job.report else None,
                "progress": running.snapshot() if running is not None else None,
            }
        )
    return views


def numeric_columns(ctx: RequestContext, group_arn: str) -> list[dict[str, str]]:
    """The columns a SUM expression may name: numeric columns of the group's Interactions and Items schemas,
    by the same rules CreateMetricAttribution checks (``domain/schema.py``)."""
    with ctx.catalog.transaction() as tx:
        require(tx, ctx, DatasetGroup, group_arn, "datasetGroupArn")
        schemas = {}
        for dataset in tx.list(Dataset, ctx.scope, parent=group_arn):
            schema = tx.get(Schema, dataset.schema_arn)
            if dataset.dataset_type in EXPRESSION_DATASETS and schema is not None:
                schemas[dataset.dataset_type] = parse_schema(schema.schema)
    return [
        {"dataset": dataset_type, "column": column.name.upper(), "type": column.type}
        for dataset_type in EXPRESSION_DATASETS
        if dataset_type in schemas
        for column in schemas[dataset_type].columns
        if column.numeric and column.name.upper() not in TIME_COLUMNS
    ]
