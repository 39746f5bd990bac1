"""CreateDatasetGroup, DescribeDatasetGroup, ListDatasetGroups, DeleteDatasetGroup.

Provisioning that takes AWS minutes is instant here: a dataset group is ``ACTIVE`` as soon as it is created.
"""

from __future__ import annotations

from typing import Any

from recimpact.domain.errors import (
    InvalidInputException,
    ResourceAlreadyExistsException,
    ResourceInUseException,
)
from recimpact.domain.resources import DatasetGroup
from recimpact.services.common import describe_one, list_page, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request


@operation(CONTROL, "CreateDatasetGroup")
def create_dataset_group(ctx: RequestContext, params: Params) -> dict[str, Any]:
    if params.get("kmsKeyArn") and not params.get("roleArn"):
        raise InvalidInputException("roleArn is required when kmsKeyArn is given")
    now = ctx.clock()
    group = DatasetGroup(
        arn=ctx.scope.arn("dataset-group", params["name"]),
        name=params["name"],
        account=ctx.scope.account,
        region=ctx.scope.region,
        creation_date_time=now,
        last_updated_date_time=now,
        role_arn=params.get("roleArn"),
        kms_key_arn=params.get("kmsKeyArn"),
        domain=params.get("domain"),
        tags=tags_from_request(params),
    )
    with ctx.catalog.transaction() as tx:
        if tx.get(DatasetGroup, group.arn) is not None:
            raise ResourceAlreadyExistsException(f"Dataset group {group.arn} already exists.")
        tx.put(group)
    result = {"datasetGroupArn": group.arn}
    if group.domain:
        result["domain"] = group.domain
    return result


@operation(CONTROL, "DescribeDatasetGroup")
def describe_dataset_group(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, DatasetGroup, params, "datasetGroup")


@operation(CONTROL, "ListDatasetGroups")
def list_dataset_groups(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, DatasetGroup, params, "datasetGroups")


@operation(CONTROL, "DeleteDatasetGroup")
def delete_dataset_group(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        group = require(tx, ctx, DatasetGroup, params.get("datasetGroupArn"), "datasetGroupArn")
        children = tx.children(group.arn)
        if children:
            names = ", ".join(child.arn for child in children)
            raise ResourceInUseException(
                f"Dataset group {group.arn} still has resources; delete them first: {names}"
            )
        tx.delete(group.arn)
    return {}
