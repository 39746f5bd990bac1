"""Tags: given at creation where the model has ``tags``, and TagResource / UntagResource / ListTagsForResource."""

from __future__ import annotations

from typing import Any

from recimpact.domain.errors import (
    InvalidInputException,
    ResourceNotFoundException,
    TooManyTagKeysException,
    TooManyTagsException,
)
from recimpact.services.common import visible
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation

# AWS: "50 tags per resource"; keys beginning with "aws:" are reserved for AWS.
MAX_TAGS_PER_RESOURCE = 50


def tags_from_request(params: Params) -> dict[str, str]:
    """The ``tags`` member of a Create request as a dict, checked against AWS's limits."""
    return merge_tags({}, params.get("tags") or [])


def merge_tags(current: dict[str, str], tags: list[dict[str, str]]) -> dict[str, str]:
    merged = dict(current)
    for tag in tags:
        key = tag["tagKey"]
        if key.lower().startswith("aws:"):
            raise InvalidInputException(f"Tag key {key!r} is reserved: keys may not begin with 'aws:'")
        merged[key] = tag["tagValue"]
    if len(merged) > MAX_TAGS_PER_RESOURCE:
        raise TooManyTagsException(
            f"A resource can have at most {MAX_TAGS_PER_RESOURCE} tags; this request would give it {len(merged)}"
        )
    return merged


def _taggable(ctx: RequestContext, tx: Any, arn: str) -> Any:
    record = tx.get_any(arn)
    if record is None or not visible(record, ctx):
        raise ResourceNotFoundException(f"Resource {arn} does not exist.")
    if not hasattr(record, "tags"):
        raise InvalidInputException(f"Resource {arn} does not support tags")
    return record


@operation(CONTROL, "TagResource")
def tag_resource(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        record = _taggable(ctx, tx, params["resourceArn"])
        record.tags = merge_tags(record.tags, params["tags"])
        tx.put(record)
    return {}


@operation(CONTROL, "UntagResource")
def untag_resource(ctx: RequestContext, params: Params) -> dict[str, Any]:
    keys = params["tagKeys"]
    if len(keys) > MAX_TAGS_PER_RESOURCE:
        raise TooManyTagKeysException(f"At most {MAX_TAGS_PER_RESOURCE} tag keys can be removed at once")
    with ctx.catalog.transaction() as tx:
        record = _taggable(ctx, tx, params["resourceArn"])
        record.tags = {k: v for k, v in record.tags.items() if k not in set(keys)}
        tx.put(record)
    return {}


@operation(CONTROL, "ListTagsForResource")
def list_tags_for_resource(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        record = _taggable(ctx, tx, params["resourceArn"])
    return {"tags": [{"tagKey": k, "tagValue": v} for k, v in sorted(record.tags.items())]}
