"""PutEvents, PutItems, PutUsers: ingest with durable, idempotent writes and live attribution.

The handler checks everything it can before queueing (tracking id, schema, properties) and prepares the rest
(sources, rows, each event's contributions to its 15-minute windows), then hands one unit of work to the event
store's group commit; the unit enforces the 100-source limit, appends the events that are not duplicates and adds
their contributions. The call returns once all of it is on disk.
"""

from __future__ import annotations

from recimpact.domain.errors import InvalidInputException, ResourceNotFoundException
from recimpact.domain.events import parse_event, parse_properties
from recimpact.ingest.events import prepare_events, record_events
from recimpact.ingest.targets import for_dataset, for_tracking_id
from recimpact.services.common import camel
from recimpact.services.context import RequestContext
from recimpact.services.registry import EVENTS, Params, operation
from recimpact.store.interfaces import IngestTx


@operation(EVENTS, "PutEvents")
async def put_events(ctx: RequestContext, params: Params) -> None:
    target = for_tracking_id(ctx, params["trackingId"])
    schema = target.schemas.get("INTERACTIONS")
    if schema is None:
        raise ResourceNotFoundException(
            f"Dataset group {target.dataset_group_arn} has no Interactions dataset to record events in"
        )
    events = [
        parse_event(event, params.get("userId"), params["sessionId"], schema, index)
        for index, event in enumerate(params["eventList"])
    ]
    prepared = prepare_events(ctx.events, target, events, ctx.clock())
    await ctx.events.submit_async(lambda tx: record_events(tx, target, prepared))


async def _put_records(ctx: RequestContext, params: Params, dataset_type: str, list_member: str) -> None:
    """PutItems / PutUsers: each record replaced whole by its id, all of one call in one transaction."""
    target = for_dataset(ctx, params["datasetArn"])
    if target.datasets.get(dataset_type) != params["datasetArn"]:
        raise InvalidInputException(f"{params['datasetArn']} is not an {dataset_type.capitalize()} dataset")
    schema = target.schemas[dataset_type]
    id_field = "ITEM_ID" if dataset_type == "ITEMS" else "USER_ID"
    id_member = camel(id_field.lower())  # ITEM_ID → itemId
    records = [
        (
            record[id_member],
            parse_properties(
                record.get("properties"), schema, frozenset({id_field}), f"{list_member}.{i + 1}"
            ),
        )
        for i, record in enumerate(params[list_member])
    ]
    now = ctx.clock()
    table = dataset_type.lower()

    def work(tx: IngestTx) -> None:
        tx.upsert_records(table, target.dataset_group_arn, records, now, "live")

    await ctx.events.submit_async(work)


@operation(EVENTS, "PutItems")
async def put_items(ctx: RequestContext, params: Params) -> None:
    """Items are upserted whole; SUM(ITEMS.col) reads the item as it is when each event arrives."""
    await _put_records(ctx, params, "ITEMS", "items")


@operation(EVENTS, "PutUsers")
async def put_users(ctx: RequestContext, params: Params) -> None:
    await _put_records(ctx, params, "USERS", "users")
