"""CreateDataset, DescribeDataset, ListDatasets, DeleteDataset: one dataset of each type per dataset group."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from recimpact.domain.expressions import parse_expression
from recimpact.domain.resources import Dataset, DatasetGroup, DatasetImportJob, MetricAttribution, Schema
from recimpact.domain.schema import canonical_dataset_type, check_schema_for_dataset_type, parse_schema
from recimpact.services.common import describe_one, list_page, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request
from recimpact.store.parts import discard_part


@operation(CONTROL, "CreateDataset")
def create_dataset(ctx: RequestContext, params: Params) -> dict[str, Any]:
    dataset_type = canonical_dataset_type(params["datasetType"])
    tags = tags_from_request(params)
    with ctx.catalog.transaction() as tx:
        group = require(tx, ctx, DatasetGroup, params["datasetGroupArn"], "datasetGroupArn")
        if group.status != resources.ACTIVE:
            raise ResourceInUseException(f"Dataset group {group.arn} is {group.status}, not ACTIVE")
        schema = require(tx, ctx, Schema, params["schemaArn"], "schemaArn")
        if (schema.domain or None) != (group.domain or None):
            raise InvalidInputException(
                f"Schema {schema.arn} has domain {schema.domain or 'none'} but dataset group {group.arn} "
                f"has domain {group.domain or 'none'}; they must match"
            )
        check_schema_for_dataset_type(parse_schema(schema.schema), dataset_type)
        arn = ctx.scope.arn("dataset", f"{group.name}/{dataset_type}")
        if tx.get(Dataset, arn) is not None:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has a {dataset_type} dataset: {arn}"
            )
        now = ctx.clock()
        dataset = Dataset(
            arn=arn,
            name=params["name"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            dataset_group_arn=group.arn,
            dataset_type=dataset_type,
            schema_arn=schema.arn,
            tags=tags,
        )
        tx.put(dataset)
    return {"datasetArn": dataset.arn}


@operation(CONTROL, "DescribeDataset")
def describe_dataset(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, Dataset, params, "dataset")


@operation(CONTROL, "ListDatasets")
def list_datasets(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, Dataset, params, "datasets", "datasetGroupArn")


@operation(CONTROL, "DeleteDataset")
def delete_dataset(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        dataset = require(tx, ctx, Dataset, params.get("datasetArn"), "datasetArn")
        for attribution in tx.list(MetricAttribution, ctx.scope, parent=dataset.dataset_group_arn):
            if _attribution_reads(attribution, dataset.dataset_type):
                raise ResourceInUseException(
                    f"Metric attribution {attribution.arn} reads dataset {dataset.arn}; delete or update it first"
                )
        jobs = [j for j in tx.list(DatasetImportJob, ctx.scope) if j.dataset_arn == dataset.arn]
        running = [j.arn for j in jobs if j.status in resources.CREATING]
        if running:  # as AWS answers; the job would otherwise end ACTIVE with its data gone
            raise ResourceInUseException(
                f"Dataset {dataset.arn} has an import job in progress ({running[0]}); wait for it to finish"
            )
        # The dataset's import jobs go with it: a dataset created again under the same ARN starts with none.
        for job in jobs:
            tx.delete(job.arn)
        tx.delete(dataset.arn)
    for part in dataset.bulk_parts:
        discard_part(Path(ctx.settings.data_dir) / part)
    return {}


def _attribution_reads(attribution: MetricAttribution, dataset_type: str) -> bool:
    """Every attribution reads the Interactions dataset; SUM(ITEMS.x) also reads Items."""
    if dataset_type == "INTERACTIONS":
        return True
    return any(parse_expression(m.expression).reads(dataset_type) for m in attribution.metrics)
