"""CreateMetricAttribution, DescribeMetricAttribution, ListMetricAttributions, ListMetricAttributionMetrics,
UpdateMetricAttribution, DeleteMetricAttribution: at most one attribution per dataset group."""

from __future__ import annotations

from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from recimpact.domain.metric_rules import apply_update, check_interactions_schema, check_new_metrics
from recimpact.domain.resources import Dataset, DatasetGroup, Metric, MetricAttribution, Schema
from recimpact.domain.schema import DatasetSchema, parse_schema
from recimpact.services.common import describe_one, list_page, paginate, require, wire_view
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.sinks.destinations import DestinationError, S3Config, check_writable, parse_location
from recimpact.store.catalog import CatalogTx


def destination_problem(ctx: RequestContext, output_config: dict[str, Any]) -> str | None:
    """Why the output configuration's destination cannot be written, or None. AWS validates its access when an
    attribution is created; recimpact writes and removes a small probe file there."""
    destination = output_config.get("s3DataDestination")
    if not destination:
        return None
    location = parse_location(destination["path"])
    try:
        check_writable(
            location, S3Config(ctx.settings.s3_endpoint_url, ctx.scope.region), destination.get("kmsKeyArn")
        )
    except DestinationError as exc:
        return f"The output destination {destination['path']} is not writable: {exc}"
    return None


def _metrics(params: list[dict[str, str]], since: float) -> list[Metric]:
    return [
        Metric(
            event_type=m["eventType"],
            metric_name=m["metricName"],
            expression=m["expression"],
            counting_since=since,
        )
        for m in params
    ]


def _group_schemas(tx: CatalogTx, ctx: RequestContext, group_arn: str) -> dict[str, DatasetSchema]:
    """The schema of each dataset in the group, by dataset type."""
    schemas: dict[str, DatasetSchema] = {}
    for dataset in tx.list(Dataset, ctx.scope, parent=group_arn):
        schema = tx.get(Schema, dataset.schema_arn)
        if schema is not None:
            schemas[dataset.dataset_type] = parse_schema(schema.schema)
    return schemas


@operation(CONTROL, "CreateMetricAttribution")
def create_metric_attribution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    now = ctx.clock()
    metrics = _metrics(params["metrics"], now)
    problem = destination_problem(ctx, params["metricsOutputConfig"])
    with ctx.catalog.transaction() as tx:
        group = require(tx, ctx, DatasetGroup, params["datasetGroupArn"], "datasetGroupArn")
        if group.status != resources.ACTIVE:
            raise ResourceInUseException(f"Dataset group {group.arn} is {group.status}, not ACTIVE")
        existing = tx.list(MetricAttribution, ctx.scope, parent=group.arn)
        if existing:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has a metric attribution: {existing[0].arn}"
            )
        arn = ctx.scope.arn("metric-attribution", params["name"])
        if tx.get(MetricAttribution, arn) is not None:
            raise ResourceAlreadyExistsException(f"Metric attribution {arn} already exists.")
        schemas = _group_schemas(tx, ctx, group.arn)
        check_interactions_schema(schemas)
        check_new_metrics(metrics, schemas, extensions=not ctx.settings.strict_aws)
        attribution = MetricAttribution(
            arn=arn,
            name=params["name"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            dataset_group_arn=group.arn,
            metrics=metrics,
            metrics_output_config=params["metricsOutputConfig"],
            status=resources.CREATE_FAILED if problem else resources.ACTIVE,
            failure_reason=problem,
        )
        tx.put(attribution)
    return {"metricAttributionArn": attribution.arn}


@operation(CONTROL, "DescribeMetricAttribution")
def describe_metric_attribution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, MetricAttribution, params, "metricAttribution")


@operation(CONTROL, "ListMetricAttributions")
def list_metric_attributions(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, MetricAttribution, params, "metricAttributions", "datasetGroupArn")


@operation(CONTROL, "ListMetricAttributionMetrics")
def list_metric_attribution_metrics(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        attribution = require(
            tx, ctx, MetricAttribution, params.get("metricAttributionArn"), "metricAttributionArn"
        )
    page, token = paginate(attribution.metrics, params, lambda m: (m.metric_name.upper(),))
    return {"metrics": wire_view(page), "nextToken": token}


@operation(CONTROL, "UpdateMetricAttribution")
def update_metric_attribution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    add = params.get("addMetrics") or []
    remove = params.get("removeMetrics") or []
    output = params.get("metricsOutputConfig")
    if not (add or remove or output):
        raise InvalidInputException(
            "Nothing to update: give addMetrics, removeMetrics or metricsOutputConfig"
        )
    now = ctx.clock()
    problem = destination_problem(ctx, output) if output else None
    with ctx.catalog.transaction() as tx:
        attribution = require(
            tx, ctx, MetricAttribution, params.get("metricAttributionArn"), "metricAttributionArn"
        )
        if attribution.status in resources.CREATING:
            raise ResourceInUseException(f"Metric attribution {attribution.arn} is {attribution.status}")
        if add or remove:
            schemas = _group_schemas(tx, ctx, attribution.dataset_group_arn)
            attribution.metrics = apply_update(
                attribution.metrics,
                _metrics(add, now),
                remove,
                schemas,
                extensions=not ctx.settings.strict_aws,
            )
        if output:
            attribution.metrics_output_config = output
            attribution.status = resources.CREATE_FAILED if problem else resources.ACTIVE
            attribution.failure_reason = problem
        attribution.last_updated_date_time = now
        tx.put(attribution)
    return {"metricAttributionArn": attribution.arn}


@operation(CONTROL, "DeleteMetricAttribution")
def delete_metric_attribution(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        attribution = require(
            tx, ctx, MetricAttribution, params.get("metricAttributionArn"), "metricAttributionArn"
        )
        tx.delete(attribution.arn)
    return {}
