"""CreateEventTracker, DescribeEventTracker, ListEventTrackers, DeleteEventTracker: one tracker per dataset group,
whose ``trackingId`` (a UUID) is what PutEvents callers send."""

from __future__ import annotations

import uuid
from typing import Any

from recimpact.domain import resources
from recimpact.domain.errors import ResourceAlreadyExistsException, ResourceInUseException
from recimpact.domain.resources import DatasetGroup, EventTracker
from recimpact.services.common import describe_one, list_page, require
from recimpact.services.context import RequestContext
from recimpact.services.registry import CONTROL, Params, operation
from recimpact.services.tags import tags_from_request


@operation(CONTROL, "CreateEventTracker")
def create_event_tracker(ctx: RequestContext, params: Params) -> dict[str, Any]:
    tags = tags_from_request(params)
    with ctx.catalog.transaction() as tx:
        group = require(tx, ctx, DatasetGroup, params["datasetGroupArn"], "datasetGroupArn")
        if group.status != resources.ACTIVE:
            raise ResourceInUseException(f"Dataset group {group.arn} is {group.status}, not ACTIVE")
        existing = tx.list(EventTracker, ctx.scope, parent=group.arn)
        if existing:
            raise ResourceAlreadyExistsException(
                f"Dataset group {group.arn} already has an event tracker: {existing[0].arn}"
            )
        now = ctx.clock()
        tracker = EventTracker(
            arn=ctx.scope.arn("event-tracker", uuid.uuid4().hex[:8]),
            name=params["name"],
            account=ctx.scope.account,
            region=ctx.scope.region,
            creation_date_time=now,
            last_updated_date_time=now,
            dataset_group_arn=group.arn,
            tracking_id=str(uuid.uuid4()),
            account_id=ctx.scope.account,
            tags=tags,
        )
        tx.put(tracker)
    return {"eventTrackerArn": tracker.arn, "trackingId": tracker.tracking_id}


@operation(CONTROL, "DescribeEventTracker")
def describe_event_tracker(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return describe_one(ctx, EventTracker, params, "eventTracker")


@operation(CONTROL, "ListEventTrackers")
def list_event_trackers(ctx: RequestContext, params: Params) -> dict[str, Any]:
    return list_page(ctx, EventTracker, params, "eventTrackers", "datasetGroupArn")


@operation(CONTROL, "DeleteEventTracker")
def delete_event_tracker(ctx: RequestContext, params: Params) -> dict[str, Any]:
    with ctx.catalog.transaction() as tx:
        tracker = require(tx, ctx, EventTracker, params.get("eventTrackerArn"), "eventTrackerArn")
        tx.delete(tracker.arn)
    return {}
