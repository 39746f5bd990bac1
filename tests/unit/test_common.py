"""Shared service helpers: the wire view of records and cursor pagination."""

from __future__ import annotations

import base64
import contextlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from recimpact.domain.arns import Scope
from recimpact.domain.errors import InvalidNextTokenException
from recimpact.domain.resources import Dataset, DatasetGroup, EventTracker, Metric, MetricAttribution
from recimpact.services.common import camel, paginate, resource_order, wire_view

SCOPE = Scope(account="111111111111", region="us-east-1")
GROUP_ARN = SCOPE.arn("dataset-group", "g")


def group(name: str, created: float) -> DatasetGroup:
    return DatasetGroup(
        arn=SCOPE.arn("dataset-group", name),
        name=name,
        creation_date_time=created,
        last_updated_date_time=created + 1,
        account=SCOPE.account,
        region=SCOPE.region,
        tags={"secret": "tag"},
    )


@pytest.mark.parametrize(
    ("snake", "expected"),
    [("name", "name"), ("dataset_group_arn", "datasetGroupArn"), ("creation_date_time", "creationDateTime")],
)
def test_camel(snake: str, expected: str) -> None:
    assert camel(snake) == expected


def test_wire_view_of_a_dataset_group() -> None:
    view = wire_view(group("g", 100.0))
    assert view == {
        "datasetGroupArn": GROUP_ARN,
        "name": "g",
        "creationDateTime": 100.0,
        "lastUpdatedDateTime": 101.0,
        "status": "ACTIVE",
        "roleArn": None,
        "kmsKeyArn": None,
        "domain": None,
        "failureReason": None,
    }


def test_wire_view_omits_internal_fields() -> None:
    view = wire_view(group("g", 100.0))
    for internal in ("account", "region", "tags", "arn"):
        assert internal not in view


def test_wire_view_of_a_dataset_keeps_its_group_arn_and_names_its_own() -> None:
    d = Dataset(
        arn=SCOPE.arn("dataset", "g/ITEMS"),
        name="items",
        creation_date_time=1.0,
        last_updated_date_time=1.0,
        account=SCOPE.account,
        region=SCOPE.region,
        dataset_group_arn=GROUP_ARN,
        dataset_type="ITEMS",
        schema_arn=SCOPE.arn("schema", "s"),
    )
    view = wire_view(d)
    assert view["datasetArn"] == d.arn
    assert view["datasetGroupArn"] == GROUP_ARN
    assert view["schemaArn"] == d.schema_arn
    assert view["datasetType"] == "ITEMS"


def test_wire_view_of_an_event_tracker() -> None:
    t = EventTracker(
        arn=SCOPE.arn("event-tracker", "0123abcd"),
        name="t",
        creation_date_time=1.0,
        last_updated_date_time=1.0,
        account=SCOPE.account,
        region=SCOPE.region,
        dataset_group_arn=GROUP_ARN,
        tracking_id="tid",
        account_id=SCOPE.account,
    )
    view = wire_view(t)
    assert view["eventTrackerArn"] == t.arn
    assert view["trackingId"] == "tid"
    assert view["accountId"] == SCOPE.account  # a member of the API's EventTracker, not the internal account


def test_wire_view_of_a_metric_attribution_with_nested_metrics() -> None:
    output = {"roleArn": "arn:aws:iam::111111111111:role/R", "s3DataDestination": {"path": "s3://b/p/"}}
    ma = MetricAttribution(
        arn=SCOPE.arn("metric-attribution", "ma"),
        name="ma",
        creation_date_time=5.0,
        last_updated_date_time=6.0,
        account=SCOPE.account,
        region=SCOPE.region,
        dataset_group_arn=GROUP_ARN,
        metrics=[
            Metric(event_type="View", metric_name="views", expression="SAMPLECOUNT()", counting_since=5.0),
            Metric(
                event_type="Buy", metric_name="margin", expression="SUM(ITEMS.MARGIN)", counting_since=9.0
            ),
        ],
        metrics_output_config=output,
    )
    view = wire_view(ma)
    assert view["metricAttributionArn"] == ma.arn
    assert view["datasetGroupArn"] == GROUP_ARN
    assert view["metrics"] == [
        {"eventType": "View", "metricName": "views", "expression": "SAMPLECOUNT()"},
        {"eventType": "Buy", "metricName": "margin", "expression": "SUM(ITEMS.MARGIN)"},
    ]
    # The output config is passed through as the client sent it (already camelCase, keys untouched).
    assert view["metricsOutputConfig"] == output
    assert set(view) == {
        "metricAttributionArn",
        "name",
        "creationDateTime",
        "lastUpdatedDateTime",
        "datasetGroupArn",
        "metrics",
        "metricsOutputConfig",
        "status",
        "failureReason",
    }  # no arn, account, region, seriesId, countingSince


def test_wire_view_passes_plain_values_through() -> None:
    assert wire_view([1, "a", None]) == [1, "a", None]
    assert wire_view({"snake_key": 1}) == {"snake_key": 1}


# --- pagination ---------------------------------------------------------------------------------------------


def records(count: int) -> list[DatasetGroup]:
    # Several share a creation time, so the ARN tie-break matters.
    return sorted((group(f"g{i:02d}", float(i // 3)) for i in range(count)), key=resource_order)


def all_pages(items: list[Any], max_results: int | None) -> list[list[Any]]:
    pages: list[list[Any]] = []
    params: dict[str, Any] = {"maxResults": max_results} if max_results else {}
    while True:
        page, token = paginate(items, params, resource_order)
        pages.append(page)
        if token is None:
            return pages
        assert len(pages) < 1000
        params = {**params, "nextToken": token}


def test_pages_cover_everything_exactly_once() -> None:
    items = records(7)
    pages = all_pages(items, 2)
    assert [len(p) for p in pages] == [2, 2, 2, 1]
    assert [r for p in pages for r in p] == items


def test_exact_multiple_of_the_page_size_ends_without_an_empty_page() -> None:
    pages = all_pages(records(6), 2)
    assert [len(p) for p in pages] == [2, 2, 2]


def test_default_page_size_is_100() -> None:
    items = records(150)
    page, token = paginate(items, {}, resource_order)
    assert page == items[:100]
    assert token is not None
    rest, token = paginate(items, {"nextToken": token}, resource_order)
    assert rest == items[100:]
    assert token is None


def test_empty_list() -> None:
    assert paginate([], {"maxResults": 2}, resource_order) == ([], None)


def test_newest_first() -> None:
    page, _ = paginate(records(5), {"maxResults": 5}, resource_order)
    times = [r.creation_date_time for r in page]
    assert times == sorted(times, reverse=True)


def test_deleting_a_record_between_pages_neither_skips_nor_repeats() -> None:
    items = records(8)
    first, token = paginate(items, {"maxResults": 2}, resource_order)
    # Delete the last record already returned and one not yet returned.
    deleted = {first[-1].arn, items[5].arn}
    remaining = [r for r in items if r.arn not in deleted]
    seen = list(first)
    while token:
        page, token = paginate(remaining, {"maxResults": 2, "nextToken": token}, resource_order)
        seen.extend(page)
    assert [r.arn for r in seen] == [r.arn for r in items if r.arn != items[5].arn]


def test_creating_an_older_record_between_pages_is_not_skipped_or_repeated() -> None:
    items = records(6)
    first, token = paginate(items, {"maxResults": 2}, resource_order)
    newcomer = group("zz", -1.0)  # oldest: sorts after everything seen so far
    grown = sorted([*items, newcomer], key=resource_order)
    seen = list(first)
    while token:
        page, token = paginate(grown, {"maxResults": 2, "nextToken": token}, resource_order)
        seen.extend(page)
    assert seen == grown


@given(
    count=st.integers(min_value=0, max_value=30),
    size=st.integers(min_value=1, max_value=100),
    deletions=st.sets(st.integers(min_value=0, max_value=29)),
)
def test_pagination_property(count: int, size: int, deletions: set[int]) -> None:
    """Whatever is deleted after the first page, the pages list every surviving record once, in order."""
    items = records(count)
    first, token = paginate(items, {"maxResults": size}, resource_order)
    remaining = [r for i, r in enumerate(items) if i not in deletions]
    seen = list(first)
    while token:
        page, token = paginate(remaining, {"maxResults": size, "nextToken": token}, resource_order)
        # An empty page is possible only as the last one: everything after the cursor was deleted.
        assert page or token is None, "a token must never lead to an empty page followed by more"
        seen.extend(page)
    expected = (
        first + [r for r in remaining if resource_order(r) > resource_order(first[-1])] if first else []
    )
    assert seen == expected
    assert len({r.arn for r in seen}) == len(seen)


@pytest.mark.parametrize(
    "token",
    [
        "garbage!!",
        "not base64",
        base64.urlsafe_b64encode(b"not json").decode(),
        base64.urlsafe_b64encode(b'{"a": 1}').decode(),
        base64.urlsafe_b64encode(b"[]").decode(),
        base64.urlsafe_b64encode(b"[null]").decode(),
        base64.urlsafe_b64encode(b"[[1]]").decode(),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_garbage_token_is_invalid_next_token(token: str) -> None:
    with pytest.raises(InvalidNextTokenException, match="Invalid next token"):
        paginate(records(3), {"nextToken": token}, resource_order)


def test_token_of_another_shape_is_invalid_next_token() -> None:
    # A token whose key types do not compare with this list's keys (string where a number is expected).
    token = base64.urlsafe_b64encode(b'["a", 1]').decode()
    with pytest.raises(InvalidNextTokenException):
        paginate(records(3), {"nextToken": token}, resource_order)


@given(st.text(max_size=40))
def test_arbitrary_tokens_only_ever_raise_invalid_next_token(token: str) -> None:
    with contextlib.suppress(InvalidNextTokenException):
        page, _ = paginate(records(4), {"nextToken": token, "maxResults": 2}, resource_order)
        assert len(page) <= 2
