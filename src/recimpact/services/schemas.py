"""CreateSchema, DescribeSchema, ListSchemas, DeleteSchema. Schemas belong to the account, not to a group."""

from __future__ import annotations

from typing import Any

from recimpact.domain.errors import ResourceAlreadyExistsException, ResourceInUseException
from recimpact.domain.resources import Dataset, Schema
from recimpact.domain.schema import parse_schema
from recimpact.services.common import describe_one, list_page, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation


@operation(CONTROL, "CreateSchema")
def create_schema(ctx: RequestContext, params: Params) -> dict[str, Any]:
    parse_schema(params["schema"])
    now = ctx.clock()
    schema = Schema(
        arn=ctx.scope.arn("schema", params["name"]),
        name=params["name"],
        account=ctx.scope.account,
        region=ctx.scope.region,
        creation_date_time=now,
        last_updated_date_time=now,
        schema=params["schema"],
        domain=params.get("domain"),
    )
    with ctx.catalog.transaction() as tx:
        if tx.get(Schema, schema.arn) is not None:
            raise ResourceAlreadyExistsException(f"Schema {schema.arn} already exists.")
        tx.put(schema)
    return {"schemaArn": schema.arn}


@operation(CONTROL, "DescribeSchema")
def describe_schema(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, Schema, params, "schema")


@operation(CONTROL, "ListSchemas")
def list_schemas(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, Schema, params, "schemas")


@operation(CONTROL, "DeleteSchema")
def delete_schema(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        schema = require(tx, ctx, Schema, params.get("schemaArn"), "schemaArn")
        users = [d.arn for d in tx.list(Dataset, ctx.scope) if d.schema_arn == schema.arn]
        if users:
            raise ResourceInUseException(f"Schema {schema.arn} is used by datasets: {', '.join(users)}")
        tx.delete(schema.arn)
    return {}
