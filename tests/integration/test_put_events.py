"""PutEvents, PutItems and PutUsers through boto3's ``personalize-events`` client, and what the live series (read
back through the HTTP read API) makes of them: validation, properties, items, duplicates, the source limit, and
when events count."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError

from recimpact.cli.client import ApiError, get_series
from tests.conftest import INTERACTIONS_SCHEMA, unique
from tests.integration.ingest import (
    CLICK_VALUE,
    DAY,
    MARGIN,
    UNDEFINED,
    VIEWS,
    WINDOW,
    Tracked,
    base_time,
    event,
)
from tests.server import ServerProcess

DISCOUNT_SCHEMA = {
    **INTERACTIONS_SCHEMA,
    "fields": [
        *INTERACTIONS_SCHEMA["fields"],
        {"name": "DISCOUNT", "type": ["null", "float"]},
        {"name": "SHIPPING_COST", "type": ["null", "double"]},
        {"name": "DEVICE", "type": ["null", "string"]},
    ],
}
USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}],
    "version": "1.0",
}


@pytest.fixture
def tracked(server: ServerProcess) -> Tracked:
    return Tracked(server, [VIEWS, MARGIN, CLICK_VALUE])


def views(count: float, ts: int, source: str = UNDEFINED) -> tuple[Any, ...]:
    return ("COUNTVIEWS", "VIEW", float(count), "samplecount", source, ts)


def margin(total: float, ts: int, source: str = UNDEFINED) -> tuple[Any, ...]:
    return ("SUMMARGIN", "PURCHASE", float(total), "sum", source, ts)


def clicks(total: float, ts: int, source: str = UNDEFINED) -> tuple[Any, ...]:
    return ("CLICKVALUE", "CLICK", float(total), "sum", source, ts)


def error_code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


# --- model constraints, checked by the server (botocore checks only required/type/min) -------------------------


@pytest.mark.parametrize(
    "events",
    [
        pytest.param([event("View", 1_700_000_000 + i) for i in range(11)], id="eleven-events"),
        pytest.param([event("View", 1_700_000_000, recommendation_id="r" * 41)], id="recommendation-id-41"),
        pytest.param(
            [event("View", 1_700_000_000, impression=[f"i{n}" for n in range(26)])], id="26-impressions"
        ),
        pytest.param([event("View", 1_700_000_000, source="   ")], id="blank-source"),
        pytest.param([event("View", 1_700_000_000, source="x" * 1025)], id="source-1025"),
        pytest.param([event("View", 1_700_000_000, event_id="e" * 257)], id="event-id-257"),
        pytest.param([event("V" * 257, 1_700_000_000)], id="event-type-257"),
        pytest.param([event("View", 1_700_000_000, item="i" * 257)], id="item-id-257"),
        pytest.param(
            [event("View", 1_700_000_000, properties=json.dumps({"discount": 1.0}) + " " * 1010)],
            id="properties-1025",
        ),
    ],
)
def test_model_constraints_are_enforced_by_the_server(tracked: Tracked, events: list[dict[str, Any]]) -> None:
    with pytest.raises(tracked.events.exceptions.InvalidInputException) as info:
        tracked.put(*events)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "failed to satisfy constraint" in str(info.value)
    assert tracked.rows() == []


def test_limits_at_the_boundary_are_accepted(server: ServerProcess) -> None:
    tracked = Tracked(server, [VIEWS], interactions_schema=DISCOUNT_SCHEMA)
    ts = base_time()
    properties = json.dumps({"discount": 1.0})
    properties += " " * (1024 - len(properties))
    tracked.put(
        *[event("View", ts + i) for i in range(9)],
        event(
            "View",
            ts + 9,
            recommendation_id="RID-12345678-1234-1234-1234-abcdefghijkl",  # 40 characters, the docs' example
            impression=[f"i{n}" for n in range(25)],
            source=" a ",  # blanks around a visible character fit the pattern
            properties=properties,
        ),
    )
    assert tracked.rows() == [views(1, ts, " a "), views(9, ts)]  # sources in byte order: " a " < "SOURCE..."


def test_userid_and_sessionid_over_256_are_invalid(tracked: Tracked) -> None:
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.put(event("View", base_time()), user="u" * 257)
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.put(event("View", base_time()), session="s" * 257)
    assert tracked.rows() == []


@pytest.mark.parametrize(
    "key", ["userId", "SESSIONID", "eventType", "timestamp", "recommendationId", "impression"]
)
def test_forbidden_property_keys_are_invalid(server: ServerProcess, key: str) -> None:
    tracked = Tracked(server, [VIEWS], interactions_schema=DISCOUNT_SCHEMA)
    with pytest.raises(tracked.events.exceptions.InvalidInputException) as info:
        tracked.put(event("View", base_time(), properties=json.dumps({key: "x", "discount": 1.0})))
    assert key in str(info.value)
    assert tracked.rows() == []


def test_unknown_tracking_id_is_not_found(tracked: Tracked) -> None:
    with pytest.raises(tracked.events.exceptions.ResourceNotFoundException) as info:
        tracked.events.put_events(
            trackingId=str(uuid.uuid4()), sessionId="s", eventList=[event("View", base_time())]
        )
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_tracking_id_of_deleted_tracker_is_not_found(tracked: Tracked) -> None:
    tracker = tracked.personalize.list_event_trackers(datasetGroupArn=tracked.group.arn)["eventTrackers"][0]
    tracked.personalize.delete_event_tracker(eventTrackerArn=tracker["eventTrackerArn"])
    with pytest.raises(tracked.events.exceptions.ResourceNotFoundException):
        tracked.put(event("View", base_time()))


def test_group_without_interactions_dataset_is_not_found(server: ServerProcess) -> None:
    personalize = server.client("personalize")
    group = personalize.create_dataset_group(name=unique("dg"))["datasetGroupArn"]
    tracking_id = personalize.create_event_tracker(name=unique("et"), datasetGroupArn=group)["trackingId"]
    events = server.client("personalize-events")
    with pytest.raises(events.exceptions.ResourceNotFoundException) as info:
        events.put_events(trackingId=tracking_id, sessionId="s", eventList=[event("View", base_time())])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_a_rejected_event_rejects_the_whole_call(tracked: Tracked) -> None:
    ts = base_time()
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.put(
            event("View", ts, event_id="ok"), event("View", ts + 1, properties=json.dumps({"nope": 1}))
        )
    tracked.put(event("View", ts + 2))
    assert tracked.rows() == [views(1, ts)]
    # The first event was not stored either: its eventId is still free.
    tracked.put(event("View", ts + 3, event_id="ok"))
    assert tracked.rows() == [views(2, ts)]


# --- properties ----------------------------------------------------------------------------------------------------


def test_properties_map_camel_case_keys_onto_schema_columns(server: ServerProcess) -> None:
    tracked = Tracked(
        server,
        [
            {"eventType": "Purchase", "expression": "SUM(INTERACTIONS.DISCOUNT)", "metricName": "discounts"},
            {
                "eventType": "Purchase",
                "expression": "SUM(interactions.shipping_cost)",
                "metricName": "shipping",
            },
        ],
        interactions_schema=DISCOUNT_SCHEMA,
    )
    ts = base_time()
    tracked.put(
        event("Purchase", ts, properties=json.dumps({"discount": 2.5, "shippingCost": 4})),
        event("purchase", ts + 1, properties=json.dumps({"DISCOUNT": 1.25, "device": "phone"})),
        event("Purchase", ts + 2, properties=json.dumps({"discount": None})),
        event("Purchase", ts + 3),
    )
    assert tracked.rows() == [
        ("DISCOUNTS", "PURCHASE", 3.75, "sum", UNDEFINED, ts),
        ("SHIPPING", "PURCHASE", 4.0, "sum", UNDEFINED, ts),
    ]


@pytest.mark.parametrize(
    "properties",
    [
        pytest.param({"colour": "red"}, id="unknown-key"),
        pytest.param({"discount": "cheap"}, id="string-for-float"),
        pytest.param({"discount": True}, id="bool-for-float"),
        pytest.param({"device": 3}, id="number-for-string"),
        pytest.param({"itemId": "i1"}, id="dedicated-member-item-id"),
        pytest.param({"eventValue": 1.0}, id="dedicated-member-event-value"),
        pytest.param(["discount"], id="not-an-object"),
    ],
)
def test_properties_not_matching_the_schema_are_invalid(server: ServerProcess, properties: Any) -> None:
    tracked = Tracked(server, [VIEWS], interactions_schema=DISCOUNT_SCHEMA)
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.put(event("View", base_time(), properties=json.dumps(properties)))
    assert tracked.rows() == []


def test_properties_that_are_not_json_are_invalid(server: ServerProcess) -> None:
    tracked = Tracked(server, [VIEWS], interactions_schema=DISCOUNT_SCHEMA)
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.put(event("View", base_time(), properties="{discount: 1"))


# --- PutItems / PutUsers -------------------------------------------------------------------------------------------


def test_put_items_and_users_to_unknown_dataset_are_not_found(tracked: Tracked) -> None:
    unknown = f"arn:aws:personalize:us-east-1:000000000000:dataset/{unique('nope')}/ITEMS"
    with pytest.raises(tracked.events.exceptions.ResourceNotFoundException) as info:
        tracked.events.put_items(datasetArn=unknown, items=[{"itemId": "i1"}])
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    with pytest.raises(tracked.events.exceptions.ResourceNotFoundException):
        tracked.events.put_users(datasetArn=unknown.replace("/ITEMS", "/USERS"), users=[{"userId": "u1"}])


def test_put_items_and_users_to_the_wrong_dataset_type_are_invalid(tracked: Tracked) -> None:
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.events.put_items(
            datasetArn=tracked.group.interactions_dataset, items=[{"itemId": "i1", "properties": "{}"}]
        )
    assert tracked.group.items_dataset is not None
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.events.put_users(datasetArn=tracked.group.items_dataset, users=[{"userId": "u1"}])


def test_put_users_checks_properties_against_the_users_schema(tracked: Tracked) -> None:
    schema = tracked.personalize.create_schema(name=unique("users"), schema=json.dumps(USERS_SCHEMA))[
        "schemaArn"
    ]
    users = tracked.personalize.create_dataset(
        name=unique("users"), datasetGroupArn=tracked.group.arn, datasetType="Users", schemaArn=schema
    )["datasetArn"]
    tracked.events.put_users(
        datasetArn=users, users=[{"userId": "u1", "properties": json.dumps({"age": 31})}, {"userId": "u2"}]
    )
    for bad in ({"age": "old"}, {"height": 180}, {"userId": "u9"}):
        with pytest.raises(tracked.events.exceptions.InvalidInputException):
            tracked.events.put_users(
                datasetArn=users, users=[{"userId": "u1", "properties": json.dumps(bad)}]
            )


def test_put_items_checks_properties_against_the_items_schema(tracked: Tracked) -> None:
    assert tracked.group.items_dataset is not None
    for bad in ({"margin": "high"}, {"colour": "red"}, {"itemId": "other"}):
        with pytest.raises(tracked.events.exceptions.InvalidInputException):
            tracked.events.put_items(
                datasetArn=tracked.group.items_dataset,
                items=[{"itemId": "i1", "properties": json.dumps(bad)}],
            )
    with pytest.raises(tracked.events.exceptions.InvalidInputException):
        tracked.events.put_items(
            datasetArn=tracked.group.items_dataset,
            items=[{"itemId": f"i{n}", "properties": "{}"} for n in range(11)],
        )


def test_items_feed_sum_over_items(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put_items(
        ("cheap", {"margin": 1.5, "categoryL1": "toys", "price": 10}),
        ("dear", {"MARGIN": 20}),
        ("unknown-margin", {"price": 3.0}),
    )
    tracked.put(
        event("Purchase", ts, item="cheap"),
        event("PURCHASE", ts + 1, item="dear", source="email"),
        event("Purchase", ts + 2, item="cheap", source="email"),
        event("Purchase", ts + 3, item="unknown-margin"),  # no MARGIN: contributes nothing
        event("Purchase", ts + 4, item="never-put"),  # no item: contributes nothing
        event("Purchase", ts + 5),  # no itemId at all
        event("View", ts + 6, item="dear"),  # SAMPLECOUNT() counts it whatever the item
    )
    assert tracked.rows() == [views(1, ts), margin(1.5, ts), margin(21.5, ts, "email")]


def test_sum_with_nothing_to_add_has_no_row(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put_items(("no-margin", {"price": 3.0}))
    tracked.put(event("Purchase", ts, item="no-margin"), event("Click", ts + 1), event("Purchase", ts + 2))
    assert tracked.rows() == []


def test_updating_an_item_changes_later_contributions_only(tracked: Tracked) -> None:
    ts = base_time()
    later = ts + WINDOW
    tracked.put_items(("i1", {"margin": 2.5}))
    tracked.put(event("Purchase", ts, item="i1"))
    tracked.put_items(("i1", {"margin": 4.0}))
    tracked.put(event("Purchase", ts + 1, item="i1"), event("Purchase", later, item="i1"))
    # 2.5 + 4.0 in the first window (not 8.0: the first event keeps the value it arrived with).
    assert tracked.rows() == [margin(4.0, later), margin(6.5, ts)]
    # PutItems replaces the whole item: without MARGIN, later purchases add nothing.
    tracked.put_items(("i1", {"price": 9.0}))
    tracked.put(event("Purchase", ts + 2, item="i1"), event("Purchase", later + 1, item="i1"))
    assert tracked.rows() == [margin(4.0, later), margin(6.5, ts)]


# --- sources, event types, windows ---------------------------------------------------------------------------------


def test_sources_event_types_and_windows(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(
        event("View", ts + 899, source="email"),
        event("view", ts + 900, source="email"),
        event("VIEW", ts + 901, source="Email"),  # sources are kept exactly as sent
        event("vIeW", ts + 10, recommendation_id="RID-not-issued-by-this-server"),
        event("View", ts + 11, source="partner, inc.", recommendation_id="RID-x"),  # the explicit source wins
        event("Click", ts + 12, value=2.25, source="email"),
        event("click", ts + 13, value=-1.0, source="email"),
        event("Click", ts + 14),  # no eventValue: nothing to add
        event("AddToCart", ts + 15),  # no metric for it
    )
    assert tracked.rows() == [
        views(1, ts + WINDOW, "Email"),
        views(1, ts + WINDOW, "email"),
        clicks(1.25, ts, "email"),
        views(1, ts, UNDEFINED),
        views(1, ts, "email"),
        views(1, ts, "partner, inc."),
    ]


def test_fractional_sent_at_uses_its_window(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts + WINDOW - 0.5), event("View", ts + WINDOW + 0.25))
    assert tracked.rows() == [views(1, ts + WINDOW), views(1, ts)]


# --- duplicates ----------------------------------------------------------------------------------------------------


def test_same_event_id_counts_once_across_requests(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts, event_id="e1", source="a"))
    tracked.put(event("View", ts + 5, event_id="e1", source="b"))  # other content, same id: still a duplicate
    tracked.put(
        event("View", ts + 6, event_id="e1", source="a"), event("View", ts + 7, event_id="e2", source="a")
    )
    assert tracked.rows() == [views(2, ts, "a")]


def test_same_event_id_within_one_request_counts_once(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts, event_id="e1"), event("View", ts + 1, event_id="e1"))
    assert tracked.rows() == [views(1, ts)]


def test_a_rejected_duplicate_reserves_neither_its_id_nor_its_content(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts, event_id="e1", source="a"))
    tracked.put(event("View", ts + 5, event_id="e1", source="b"))  # a duplicate by id: not stored...
    tracked.put(event("View", ts + 5, source="b"))  # ...so its content is new
    tracked.put(event("View", ts, event_id="e2", source="a"))  # a duplicate by content: not stored...
    tracked.put(event("View", ts + 6, event_id="e2", source="a"))  # ...so its id is free
    assert tracked.rows() == [views(2, ts, "a"), views(1, ts, "b")]


def test_events_stored_before_the_attribution_still_dedupe(server: ServerProcess) -> None:
    tracked = Tracked(server)
    ts = base_time()
    tracked.put(event("View", ts, event_id="early"), event("View", ts + 1))
    tracked.attribute([VIEWS])
    # Re-sent after the attribution exists: duplicates of stored events, so they never count.
    tracked.put(event("View", ts, event_id="early"), event("View", ts + 1), event("View", ts + 2))
    assert tracked.rows() == [views(1, ts)]


def test_event_ids_are_scoped_to_the_dataset_group(server: ServerProcess) -> None:
    first, second = Tracked(server, [VIEWS]), Tracked(server, [VIEWS])
    ts = base_time()
    first.put(event("View", ts, event_id="shared"))
    second.put(event("View", ts, event_id="shared"))
    assert first.rows() == second.rows() == [views(1, ts)]


def test_identical_content_counts_once(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put_items(("i1", {"margin": 3.0}))
    purchase = event(
        "Purchase", ts, item="i1", source="email", recommendation_id="r1", impression=["i1", "i2"]
    )
    tracked.put(purchase)
    tracked.put({**purchase, "eventId": "fresh-id"})  # a retry whose client minted an id: same content
    tracked.put(purchase, purchase)
    assert tracked.rows() == [margin(3.0, ts, "email")]


@pytest.mark.parametrize(
    ("change", "kwargs"),
    [
        ("event type", {"event_type": "purchase"}),
        ("sentAt", {"sent_at_delta": 1}),
        ("item", {"item": "i2"}),
        ("source", {"source": "sms"}),
        ("recommendationId", {"recommendation_id": "r2"}),
        ("impression", {"impression": ["i2", "i1"]}),
        ("user", {"user": "u2"}),
        ("no user", {"user": None}),
    ],
)
def test_events_differing_in_one_attribute_both_count(
    tracked: Tracked, change: str, kwargs: dict[str, Any]
) -> None:
    ts = base_time()
    tracked.put_items(("i1", {"margin": 3.0}), ("i2", {"margin": 3.0}))
    purchase: dict[str, Any] = {
        "event_type": "Purchase",
        "item": "i1",
        "source": "email",
        "recommendation_id": "r1",
        "impression": ["i1", "i2"],
    }
    tracked.put(event(purchase.pop("event_type"), ts, **purchase))
    purchase = {"event_type": "Purchase", **purchase, **kwargs}
    session, user = purchase.pop("session", "s1"), purchase.pop("user", "u1")
    sent_at = ts + purchase.pop("sent_at_delta", 0)
    tracked.put(event(purchase.pop("event_type"), sent_at, **purchase), session=session, user=user)
    source = purchase["source"]
    expected = (
        [margin(6.0, ts, "email")]
        if source == "email"
        else [margin(3.0, ts, "email"), margin(3.0, ts, source)]
    )
    assert tracked.rows() == expected, change


def test_the_session_tells_anonymous_visitors_apart_but_not_a_known_user(tracked: Tracked) -> None:
    """The dedupe key is the Interactions record, which holds USER_ID but no session: a known user's identical
    event sent from two sessions is one event; with no userId the session is the visitor, and two are two."""
    ts = base_time()
    tracked.put_items(("i1", {"margin": 3.0}))
    purchase = event("Purchase", ts, item="i1", source="email")
    tracked.put(purchase, session="s1", user="u1")
    tracked.put(purchase, session="s2", user="u1")
    assert tracked.rows() == [margin(3.0, ts, "email")]
    tracked.put(purchase, session="s1", user=None)
    tracked.put(purchase, session="s1", user=None)
    tracked.put(purchase, session="s2", user=None)
    assert tracked.rows() == [margin(9.0, ts, "email")]


def test_events_differing_in_value_or_properties_both_count(server: ServerProcess) -> None:
    tracked = Tracked(server, [CLICK_VALUE, VIEWS], interactions_schema=DISCOUNT_SCHEMA)
    ts = base_time()
    tracked.put(event("Click", ts, value=1.0), event("Click", ts, value=2.0), event("Click", ts, value=2.0))
    tracked.put(
        event("View", ts, properties=json.dumps({"discount": 1.0})),
        event("View", ts, properties=json.dumps({"discount": 2.0})),
        event("View", ts, properties=json.dumps({"discount": 2.0})),
    )
    assert tracked.rows() == [clicks(3.0, ts), views(2, ts)]


# --- the 100-source limit ------------------------------------------------------------------------------------------


def test_one_hundred_sources_then_the_101st_exceeds_the_limit(tracked: Tracked) -> None:
    ts = base_time()
    for batch in range(10):
        tracked.put(
            *[event("View", ts + batch * 10 + n, source=f"src-{batch * 10 + n:03}") for n in range(10)]
        )
    # SOURCE_NAME_UNDEFINED is the absence of a source: it is not one of the 100.
    tracked.put(event("View", ts + 200), event("View", ts + 201, recommendation_id="not-issued"))
    before = tracked.rows()
    assert len(before) == 101
    assert sum(row[2] for row in before) == 102.0

    # InvalidInputException, which personalize-events models (botocore raises its class) and no retry mode
    # retries; the LimitExceededException of the control plane is not in this service's model, and boto3's
    # standard and adaptive modes retry that code as throttling.
    retrying = tracked.server.client("personalize-events", retries={"mode": "standard", "max_attempts": 5})
    with pytest.raises(ClientError) as info:
        retrying.put_events(
            trackingId=tracked.tracking_id,
            userId="u1",
            sessionId="s1",
            eventList=[
                event("View", ts + 300, source="src-000"),
                event("View", ts + 301, event_id="new", source="src-100"),
                event("View", ts + 302),
            ],
        )
    assert isinstance(info.value, retrying.exceptions.InvalidInputException)
    assert "limit of 100 unique event attribution sources" in info.value.response["Error"]["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert info.value.response["ResponseMetadata"]["RetryAttempts"] == 0
    assert tracked.rows() == before  # nothing of the rejected call was stored or counted

    # Known sources and the undefined source still go in, and the rejected event's id was never taken.
    tracked.put(
        event("View", ts + 300, source="src-000"),
        event("View", ts + 301, event_id="new", source="src-099"),
        event("View", ts + 302),
    )
    after = {row[4]: row[2] for row in tracked.rows()}
    assert (after["src-000"], after["src-099"], after[UNDEFINED]) == (2.0, 2.0, 3.0)
    with pytest.raises(ClientError) as info:
        tracked.put(event("View", ts + 400, source="another"))
    assert error_code(info.value) == "InvalidInputException"


def test_one_request_adding_more_than_the_limit_is_refused(tracked: Tracked) -> None:
    ts = base_time()
    for batch in range(9):
        tracked.put(*[event("View", ts + batch * 10 + n, source=f"s{batch * 10 + n}") for n in range(10)])
    tracked.put(*[event("View", ts + 100 + n, source=f"s{90 + n % 5}") for n in range(10)])  # 95 sources
    with pytest.raises(ClientError) as info:
        tracked.put(*[event("View", ts + 200 + n, source=f"s{95 + n}") for n in range(6)])  # 101
    assert error_code(info.value) == "InvalidInputException"
    tracked.put(*[event("View", ts + 200 + n, source=f"s{95 + n}") for n in range(5)])  # exactly 100
    assert len(tracked.rows()) == 100


def test_sources_count_per_dataset_group_even_without_attribution(server: ServerProcess) -> None:
    tracked = Tracked(server)  # no attribution: the limit still holds, and counts its sources
    ts = base_time()
    for batch in range(10):
        tracked.put(*[event("View", ts + batch * 10 + n, source=f"src-{batch * 10 + n}") for n in range(10)])
    with pytest.raises(ClientError) as info:
        tracked.put(event("View", ts, source="one-more"))
    assert error_code(info.value) == "InvalidInputException"
    other = Tracked(server, [VIEWS])  # another group has its own 100
    other.put(event("View", ts, source="one-more"))
    assert other.rows() == [views(1, ts, "one-more")]


# --- when events count ---------------------------------------------------------------------------------------------


def test_events_received_before_the_attribution_do_not_count(server: ServerProcess) -> None:
    tracked = Tracked(server)
    ts = base_time()
    tracked.put(event("View", ts, source="early"), event("View", ts + 1))
    tracked.attribute([VIEWS])
    assert tracked.rows() == []
    tracked.put(event("View", ts + 2, source="late"))
    assert tracked.rows() == [views(1, ts, "late")]


def test_an_added_metric_counts_only_events_received_after_it(tracked: Tracked) -> None:
    ts = base_time()
    conversions = {"eventType": "Conversion", "expression": "SAMPLECOUNT()", "metricName": "conversions"}
    tracked.put(event("Conversion", ts), event("View", ts + 1))
    tracked.personalize.update_metric_attribution(
        metricAttributionArn=tracked.attribution_arn, addMetrics=[conversions]
    )
    tracked.put(event("Conversion", ts + 2), event("conversion", ts + 3), event("View", ts + 4))
    assert tracked.rows() == [
        ("CONVERSIONS", "CONVERSION", 2.0, "samplecount", UNDEFINED, ts),
        views(2, ts),
    ]


def test_a_removed_metric_stops_counting_and_keeps_its_rows(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts), event("Click", ts, value=5.0))
    tracked.personalize.update_metric_attribution(
        metricAttributionArn=tracked.attribution_arn, removeMetrics=["countViews"]
    )
    tracked.put(event("View", ts + 1), event("Click", ts + 1, value=1.0), event("View", ts + WINDOW))
    assert tracked.rows() == [clicks(6.0, ts), views(1, ts)]


def test_a_deleted_attribution_has_no_series(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts))
    assert tracked.rows() == [views(1, ts)]
    tracked.personalize.delete_metric_attribution(metricAttributionArn=tracked.attribution_arn)
    with pytest.raises(ApiError, match="ResourceNotFoundException"):
        get_series(tracked.server.url, tracked.attribution_arn, None, None)
    tracked.put(event("View", ts + 1))  # still accepted, counted nowhere


def test_a_recreated_attribution_starts_empty(tracked: Tracked) -> None:
    ts = base_time()
    tracked.put(event("View", ts, source="old"))
    name = tracked.attribution_arn.rsplit("/", 1)[1]
    old_arn = tracked.attribution_arn
    tracked.personalize.delete_metric_attribution(metricAttributionArn=old_arn)
    tracked.put(event("View", ts + 1, source="between"))
    assert tracked.attribute([VIEWS], name=name) == old_arn  # the same name gives the same ARN
    assert tracked.rows() == []
    tracked.put(event("View", ts + 2, source="new"))
    assert tracked.rows() == [views(1, ts, "new")]


def test_fourteen_day_rule(tracked: Tracked) -> None:
    now = time.time()
    fresh, stale = base_time(13), base_time(15)
    just_fresh = now - 14 * DAY + 600
    tracked.put(
        event("View", fresh, event_id="fresh"),
        event("View", stale, event_id="stale"),
        event("View", just_fresh, event_id="just-fresh"),
        event("View", now - 14 * DAY - 600, event_id="just-stale"),
    )
    assert tracked.rows() == [views(1, fresh), views(1, int(just_fresh // WINDOW * WINDOW))]
    # The stale events were stored all the same: their ids are taken.
    tracked.put(event("View", fresh + 1, event_id="stale"), event("View", fresh + 2, event_id="just-stale"))
    assert tracked.rows() == [views(1, fresh), views(1, int(just_fresh // WINDOW * WINDOW))]
