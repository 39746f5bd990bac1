"""CreateDatasetImportJob, DescribeDatasetImportJob, ListDatasetImportJobs.

A job is recorded ``CREATE PENDING`` and handed to the server's job runner, which moves it through
``CREATE IN_PROGRESS`` to ``ACTIVE`` or ``CREATE FAILED`` (``jobs/imports.py``); the request returns at
once, as AWS's does.
"""

from __future__ import annotations

from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import (
    InvalidInputException,
    LimitExceededException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from recimpact.domain.resources import Dataset, DatasetImportJob, MetricAttribution
from recimpact.services.common import describe_one, list_page, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request
from recimpact.sinks.destinations import parse_location

# AWS quota: "Pending or in-progress dataset import jobs per region: 5".
MAX_RUNNING_JOBS_PER_REGION = 5


@operation(CONTROL, "CreateDatasetImportJob")
def create_dataset_import_job(ctx: RequestContext, params: Params) -> dict[str, Any]:
    location = (params.get("dataSource") or {}).get("dataLocation")
    if not location:
        raise InvalidInputException("dataSource.dataLocation is required")
    parse_location(location)
    mode = params.get("importMode") or "FULL"
    publish = bool(params.get("publishAttributionMetricsToS3"))
    tags = tags_from_request(params)
    now = ctx.clock()
    with ctx.catalog.transaction() as tx:
        dataset = require(tx, ctx, Dataset, params["datasetArn"], "datasetArn")
        if dataset.status != resources.ACTIVE:
            raise ResourceInUseException(f"Dataset {dataset.arn} is {dataset.status}, not ACTIVE")
        arn = ctx.scope.arn("dataset-import-job", params["jobName"])
        if tx.get(DatasetImportJob, arn) is not None:
            raise ResourceAlreadyExistsException(f"Dataset import job {arn} already exists.")
        jobs = tx.list(DatasetImportJob, ctx.scope)
        if sum(job.status in resources.CREATING for job in jobs) >= MAX_RUNNING_JOBS_PER_REGION:
            raise LimitExceededException(
                f"At most {MAX_RUNNING_JOBS_PER_REGION} dataset import jobs can be pending or in progress per region"
            )
        if mode == "INCREMENTAL" and not any(
            job.dataset_arn == dataset.arn and job.status == resources.ACTIVE for job in jobs
        ):
            raise InvalidInputException(
                f"Dataset {dataset.arn} has no bulk records yet: its first import must use importMode FULL"
            )
        if publish:
            _check_publishable(tx, ctx, dataset)
        job = DatasetImportJob(
            arn=arn,
            name=params["jobName"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            dataset_arn=dataset.arn,
            dataset_group_arn=dataset.dataset_group_arn,
            data_source={"dataLocation": location},
            import_mode=mode,
            publish_attribution_metrics_to_s3=publish,
            role_arn=params.get("roleArn"),
            tags=tags,
        )
        tx.put(job)
    if ctx.jobs is not None:
        ctx.jobs.submit(job.arn)
    return {"datasetImportJobArn": job.arn}


def _check_publishable(tx: Any, ctx: RequestContext, dataset: Dataset) -> None:
    """Publishing needs an Interactions import and an attribution with an S3 (or file) destination."""
    if dataset.dataset_type != "INTERACTIONS":
        raise InvalidInputException("publishAttributionMetricsToS3 applies to Interactions imports only")
    attributions = tx.list(MetricAttribution, ctx.scope, parent=dataset.dataset_group_arn)
    if not attributions:
        raise InvalidInputException(
            f"Dataset group {dataset.dataset_group_arn} has no metric attribution to publish metrics for"
        )
    if not (attributions[0].metrics_output_config or {}).get("s3DataDestination"):
        raise InvalidInputException(
            f"Metric attribution {attributions[0].arn} has no s3DataDestination to publish metrics to"
        )


@operation(CONTROL, "DescribeDatasetImportJob")
def describe_dataset_import_job(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, DatasetImportJob, params, "datasetImportJob")


@operation(CONTROL, "ListDatasetImportJobs")
def list_dataset_import_jobs(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, DatasetImportJob, params, "datasetImportJobs", "datasetArn")
