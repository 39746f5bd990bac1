"""Create / Describe / List / Delete of every control-plane resource through boto3, pagination, and tags."""

from __future__ import annotations

import datetime as dt
import json
import re
import uuid
from typing import Any

import pytest

from tests.conftest import (
    INTERACTIONS_SCHEMA,
    ITEMS_SCHEMA,
    ROLE_ARN,
    Group,
    output_config,
    seed_metrics,
    unique,
)

ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:personalize:us-east-1:{ACCOUNT}"
KMS_ARN = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"


def assert_timestamps(record: dict[str, Any], before: dt.datetime, after: dt.datetime) -> None:
    """Both timestamps parsed by botocore into aware datetimes within the call's window, equal for a new record."""
    created, updated = record["creationDateTime"], record["lastUpdatedDateTime"]
    assert isinstance(created, dt.datetime)
    assert isinstance(updated, dt.datetime)
    assert created.tzinfo is not None
    assert before - dt.timedelta(seconds=1) <= created <= after + dt.timedelta(seconds=1)
    assert created == updated


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def all_pages(personalize: Any, method: str, result_key: str, **params: Any) -> list[dict[str, Any]]:
    """Every item of a List call, following nextToken by hand."""
    items: list[dict[str, Any]] = []
    token = None
    while True:
        page = getattr(personalize, method)(**params, **({"nextToken": token} if token else {}))
        items.extend(page[result_key])
        token = page.get("nextToken")
        if not token:
            return items


# --- dataset groups -------------------------------------------------------------------------------------------------


def test_dataset_group_lifecycle(personalize: Any) -> None:
    name = unique("dg")
    tags = [{"tagKey": "team", "tagValue": "growth"}, {"tagKey": "env", "tagValue": "test"}]
    before = now()
    created = personalize.create_dataset_group(name=name, domain="ECOMMERCE", tags=tags)
    after = now()
    arn = created["datasetGroupArn"]
    assert arn == f"{ARN_PREFIX}:dataset-group/{name}"
    assert created["domain"] == "ECOMMERCE"

    group = personalize.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]
    assert group["name"] == name
    assert group["datasetGroupArn"] == arn
    assert group["status"] == "ACTIVE"
    assert group["domain"] == "ECOMMERCE"
    for absent in ("roleArn", "kmsKeyArn", "failureReason"):
        assert absent not in group
    assert_timestamps(group, before, after)
    assert "tags" not in group  # tags are only seen through ListTagsForResource

    assert sorted(
        personalize.list_tags_for_resource(resourceArn=arn)["tags"], key=lambda t: t["tagKey"]
    ) == sorted(tags, key=lambda t: t["tagKey"])

    summaries = {
        g["datasetGroupArn"]: g for g in all_pages(personalize, "list_dataset_groups", "datasetGroups")
    }
    summary = summaries[arn]
    assert summary["name"] == name
    assert summary["status"] == "ACTIVE"
    assert summary["domain"] == "ECOMMERCE"
    assert summary["creationDateTime"] == group["creationDateTime"]
    assert summary["lastUpdatedDateTime"] == group["lastUpdatedDateTime"]

    personalize.delete_dataset_group(datasetGroupArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=arn)
    assert arn not in {
        g["datasetGroupArn"] for g in all_pages(personalize, "list_dataset_groups", "datasetGroups")
    }
    # The name is free again.
    assert personalize.create_dataset_group(name=name)["datasetGroupArn"] == arn


def test_dataset_group_without_domain_and_with_role_and_key(personalize: Any) -> None:
    name = unique("dg")
    created = personalize.create_dataset_group(name=name, roleArn=ROLE_ARN, kmsKeyArn=KMS_ARN)
    assert "domain" not in created
    group = personalize.describe_dataset_group(datasetGroupArn=created["datasetGroupArn"])["datasetGroup"]
    assert group["roleArn"] == ROLE_ARN
    assert group["kmsKeyArn"] == KMS_ARN
    assert "domain" not in group


def test_dataset_group_kms_key_needs_a_role(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset_group(name=unique("dg"), kmsKeyArn=KMS_ARN)


def test_list_dataset_groups_is_newest_first(personalize: Any) -> None:
    names = [unique("order") for _ in range(3)]
    arns = [personalize.create_dataset_group(name=n)["datasetGroupArn"] for n in names]
    listed = [g["datasetGroupArn"] for g in all_pages(personalize, "list_dataset_groups", "datasetGroups")]
    assert [a for a in listed if a in arns] == list(reversed(arns))


# --- schemas --------------------------------------------------------------------------------------------------------


def test_schema_lifecycle(personalize: Any) -> None:
    name = unique("schema")
    text = json.dumps(INTERACTIONS_SCHEMA)
    before = now()
    arn = personalize.create_schema(name=name, schema=text, domain="ECOMMERCE")["schemaArn"]
    after = now()
    assert arn == f"{ARN_PREFIX}:schema/{name}"

    schema = personalize.describe_schema(schemaArn=arn)["schema"]
    assert schema["name"] == name
    assert schema["schemaArn"] == arn
    assert schema["schema"] == text  # exactly as sent
    assert schema["domain"] == "ECOMMERCE"
    assert_timestamps(schema, before, after)

    summaries = {s["schemaArn"]: s for s in all_pages(personalize, "list_schemas", "schemas")}
    assert summaries[arn]["name"] == name
    assert summaries[arn]["domain"] == "ECOMMERCE"
    assert summaries[arn]["creationDateTime"] == schema["creationDateTime"]
    assert "schema" not in summaries[arn]  # the summary shape has no schema text

    personalize.delete_schema(schemaArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_schema(schemaArn=arn)
    assert arn not in {s["schemaArn"] for s in all_pages(personalize, "list_schemas", "schemas")}


def test_schema_text_is_kept_verbatim(personalize: Any) -> None:
    # Whitespace, key order and the non-standard "categorical" attribute are all preserved.
    text = json.dumps(ITEMS_SCHEMA, indent=2, sort_keys=True)
    arn = personalize.create_schema(name=unique("schema"), schema=text)["schemaArn"]
    described = personalize.describe_schema(schemaArn=arn)["schema"]
    assert described["schema"] == text
    assert "domain" not in described


# --- datasets -------------------------------------------------------------------------------------------------------


def test_dataset_lifecycle(personalize: Any) -> None:
    group_name = unique("dg")
    group_arn = personalize.create_dataset_group(name=group_name)["datasetGroupArn"]
    interactions_schema = personalize.create_schema(
        name=unique("int"), schema=json.dumps(INTERACTIONS_SCHEMA)
    )["schemaArn"]
    items_schema = personalize.create_schema(name=unique("items"), schema=json.dumps(ITEMS_SCHEMA))[
        "schemaArn"
    ]
    name = unique("interactions")
    tags = [{"tagKey": "k", "tagValue": "v"}]

    before = now()
    arn = personalize.create_dataset(
        name=name,
        datasetGroupArn=group_arn,
        datasetType="Interactions",
        schemaArn=interactions_schema,
        tags=tags,
    )["datasetArn"]
    after = now()
    assert arn == f"{ARN_PREFIX}:dataset/{group_name}/INTERACTIONS"

    dataset = personalize.describe_dataset(datasetArn=arn)["dataset"]
    assert dataset["name"] == name
    assert dataset["datasetArn"] == arn
    assert dataset["datasetGroupArn"] == group_arn
    assert dataset["datasetType"] == "INTERACTIONS"
    assert dataset["schemaArn"] == interactions_schema
    assert dataset["status"] == "ACTIVE"
    assert_timestamps(dataset, before, after)
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == tags

    items_arn = personalize.create_dataset(
        name=unique("items"), datasetGroupArn=group_arn, datasetType="Items", schemaArn=items_schema
    )["datasetArn"]
    assert items_arn == f"{ARN_PREFIX}:dataset/{group_name}/ITEMS"

    listed = personalize.list_datasets(datasetGroupArn=group_arn)["datasets"]
    assert [d["datasetArn"] for d in listed] == [items_arn, arn]  # newest first
    summary = listed[1]
    assert summary["name"] == name
    assert summary["datasetType"] == "INTERACTIONS"
    assert summary["status"] == "ACTIVE"
    assert summary["creationDateTime"] == dataset["creationDateTime"]
    # Listing without a group includes them too.
    everything = {d["datasetArn"] for d in all_pages(personalize, "list_datasets", "datasets")}
    assert {arn, items_arn} <= everything

    personalize.delete_dataset(datasetArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset(datasetArn=arn)
    assert [d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=group_arn)["datasets"]] == [
        items_arn
    ]
    # The type is free again in this group.
    again = personalize.create_dataset(
        name=unique("again"),
        datasetGroupArn=group_arn,
        datasetType="INTERACTIONS",
        schemaArn=interactions_schema,
    )["datasetArn"]
    assert again == arn


def test_list_datasets_is_scoped_to_the_group(personalize: Any) -> None:
    first, second = Group(personalize), Group(personalize, with_items=False)
    assert {d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=second.arn)["datasets"]} == {
        second.interactions_dataset
    }
    assert {d["datasetArn"] for d in personalize.list_datasets(datasetGroupArn=first.arn)["datasets"]} == {
        first.interactions_dataset,
        first.items_dataset,
    }


# --- event trackers -------------------------------------------------------------------------------------------------


def test_event_tracker_lifecycle(personalize: Any) -> None:
    group_arn = personalize.create_dataset_group(name=unique("dg"))["datasetGroupArn"]
    name = unique("tracker")
    before = now()
    created = personalize.create_event_tracker(name=name, datasetGroupArn=group_arn)
    after = now()
    arn, tracking_id = created["eventTrackerArn"], created["trackingId"]
    assert re.fullmatch(rf"{re.escape(ARN_PREFIX)}:event-tracker/[0-9a-f]{{8}}", arn)
    assert str(uuid.UUID(tracking_id)) == tracking_id  # a canonical UUID string

    tracker = personalize.describe_event_tracker(eventTrackerArn=arn)["eventTracker"]
    assert tracker["name"] == name
    assert tracker["eventTrackerArn"] == arn
    assert tracker["trackingId"] == tracking_id
    assert tracker["accountId"] == ACCOUNT
    assert tracker["datasetGroupArn"] == group_arn
    assert tracker["status"] == "ACTIVE"
    assert_timestamps(tracker, before, after)

    listed = personalize.list_event_trackers(datasetGroupArn=group_arn)["eventTrackers"]
    assert len(listed) == 1
    assert listed[0]["eventTrackerArn"] == arn
    assert listed[0]["name"] == name
    assert listed[0]["status"] == "ACTIVE"
    assert "trackingId" not in listed[0]  # not part of the summary shape
    assert arn in {
        t["eventTrackerArn"] for t in all_pages(personalize, "list_event_trackers", "eventTrackers")
    }

    personalize.delete_event_tracker(eventTrackerArn=arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_event_tracker(eventTrackerArn=arn)
    assert personalize.list_event_trackers(datasetGroupArn=group_arn)["eventTrackers"] == []
    # A new tracker for the group gets a new ARN and a new tracking id.
    renewed = personalize.create_event_tracker(name=name, datasetGroupArn=group_arn)
    assert renewed["eventTrackerArn"] != arn
    assert renewed["trackingId"] != tracking_id


def test_event_trackers_of_different_groups_are_distinct(personalize: Any) -> None:
    created = [
        personalize.create_event_tracker(
            name=unique("t"),
            datasetGroupArn=personalize.create_dataset_group(name=unique("dg"))["datasetGroupArn"],
        )
        for _ in range(3)
    ]
    assert len({c["eventTrackerArn"] for c in created}) == 3
    assert len({c["trackingId"] for c in created}) == 3


# --- metric attributions --------------------------------------------------------------------------------------------


def test_metric_attribution_describe_and_list(personalize: Any, group: Group) -> None:
    name = unique("ma")
    before = now()
    arn = personalize.create_metric_attribution(
        name=name, datasetGroupArn=group.arn, metrics=seed_metrics(), metricsOutputConfig=output_config()
    )["metricAttributionArn"]
    after = now()
    assert arn == f"{ARN_PREFIX}:metric-attribution/{name}"
    attribution = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert attribution["status"] == "ACTIVE"
    assert_timestamps(attribution, before, after)
    summary = next(
        a
        for a in all_pages(personalize, "list_metric_attributions", "metricAttributions")
        if a["metricAttributionArn"] == arn
    )
    assert summary["name"] == name
    assert summary["status"] == "ACTIVE"
    # Not members of the summary shape.
    assert "metricsOutputConfig" not in summary
    assert "datasetGroupArn" not in summary


# --- pagination -----------------------------------------------------------------------------------------------------


def test_list_schemas_pages_by_next_token(personalize: Any) -> None:
    prefix = unique("page")
    created = {
        personalize.create_schema(name=f"{prefix}-{i}", schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
        for i in range(5)
    }
    seen: list[str] = []
    pages = 0
    token = None
    while True:
        page = personalize.list_schemas(maxResults=2, **({"nextToken": token} if token else {}))
        pages += 1
        assert len(page["schemas"]) <= 2
        seen.extend(s["schemaArn"] for s in page["schemas"])
        token = page.get("nextToken")
        if not token:
            break
    assert pages >= 3
    ours = [arn for arn in seen if arn.split("/")[-1].startswith(prefix)]
    assert sorted(ours) == sorted(created)  # each exactly once
    assert len(seen) == len(set(seen))
    # Ours come newest first.
    assert ours == [f"{ARN_PREFIX}:schema/{prefix}-{i}" for i in reversed(range(5))]


def test_list_schemas_paginator(personalize: Any) -> None:
    prefix = unique("pager")
    created = {
        personalize.create_schema(name=f"{prefix}-{i}", schema=json.dumps(INTERACTIONS_SCHEMA))["schemaArn"]
        for i in range(5)
    }
    paginator = personalize.get_paginator("list_schemas")
    pages = list(paginator.paginate(PaginationConfig={"PageSize": 2}))
    assert all(len(p["schemas"]) <= 2 for p in pages)
    seen = [s["schemaArn"] for p in pages for s in p["schemas"]]
    assert len(seen) == len(set(seen))
    assert {arn for arn in seen if arn.split("/")[-1].startswith(prefix)} == created
    # MaxItems stops early and hands back a token that resumes where it stopped.
    first = paginator.paginate(PaginationConfig={"PageSize": 2, "MaxItems": 3}).build_full_result()
    assert len(first["schemas"]) == 3
    rest = paginator.paginate(
        PaginationConfig={"PageSize": 2, "StartingToken": first["NextToken"]}
    ).build_full_result()
    resumed = [s["schemaArn"] for s in first["schemas"] + rest["schemas"]]
    assert resumed == seen


def test_list_metric_attribution_metrics_pages(personalize: Any, group: Group) -> None:
    metrics = [
        {"eventType": "View", "metricName": f"metric{i}", "expression": "SAMPLECOUNT()"} for i in range(5)
    ]
    arn = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group.arn, metrics=metrics, metricsOutputConfig=output_config()
    )["metricAttributionArn"]
    pages = list(
        personalize.get_paginator("list_metric_attribution_metrics").paginate(
            metricAttributionArn=arn, PaginationConfig={"PageSize": 2}
        )
    )
    assert [len(p["metrics"]) for p in pages] == [2, 2, 1]
    seen = [m for p in pages for m in p["metrics"]]
    assert sorted(seen, key=lambda m: m["metricName"]) == metrics


def test_list_dataset_groups_pages_by_next_token(personalize: Any) -> None:
    prefix = unique("dgpage")
    created = [personalize.create_dataset_group(name=f"{prefix}-{i}")["datasetGroupArn"] for i in range(3)]
    seen = [
        g["datasetGroupArn"]
        for g in all_pages(personalize, "list_dataset_groups", "datasetGroups", maxResults=1)
    ]
    assert len(seen) == len(set(seen))
    assert [a for a in seen if a in created] == list(reversed(created))


@pytest.mark.parametrize(
    ("method", "params"),
    [
        ("list_schemas", {}),
        ("list_dataset_groups", {}),
        ("list_datasets", {}),
        ("list_event_trackers", {}),
        ("list_metric_attributions", {}),
    ],
)
def test_invalid_next_token(personalize: Any, method: str, params: dict[str, Any]) -> None:
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        getattr(personalize, method)(nextToken="garbage", **params)


def test_next_token_of_valid_base64_but_not_a_cursor_is_invalid(personalize: Any) -> None:
    import base64

    for payload in (b"not json", b"{}", b"[]", b'"text"'):
        token = base64.urlsafe_b64encode(payload).decode()
        with pytest.raises(personalize.exceptions.InvalidNextTokenException):
            personalize.list_schemas(nextToken=token)


# --- tags -----------------------------------------------------------------------------------------------------------


def _tags(personalize: Any, arn: str) -> dict[str, str]:
    return {t["tagKey"]: t["tagValue"] for t in personalize.list_tags_for_resource(resourceArn=arn)["tags"]}


def test_tag_and_untag_resource(personalize: Any) -> None:
    arn = personalize.create_dataset_group(
        name=unique("dg"), tags=[{"tagKey": "a", "tagValue": "1"}, {"tagKey": "b", "tagValue": "2"}]
    )["datasetGroupArn"]
    assert _tags(personalize, arn) == {"a": "1", "b": "2"}

    personalize.tag_resource(
        resourceArn=arn, tags=[{"tagKey": "b", "tagValue": "20"}, {"tagKey": "c", "tagValue": ""}]
    )
    # b overwritten, c added with an empty value
    assert _tags(personalize, arn) == {"a": "1", "b": "20", "c": ""}

    personalize.untag_resource(resourceArn=arn, tagKeys=["a", "not-there"])
    assert _tags(personalize, arn) == {"b": "20", "c": ""}

    personalize.untag_resource(resourceArn=arn, tagKeys=["b", "c"])
    assert _tags(personalize, arn) == {}


def test_tags_on_schema_tracker_and_dataset(personalize: Any, group: Group) -> None:
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(ITEMS_SCHEMA))["schemaArn"]
    tracker = personalize.create_event_tracker(
        name=unique("t"), datasetGroupArn=group.arn, tags=[{"tagKey": "kind", "tagValue": "tracker"}]
    )["eventTrackerArn"]
    assert _tags(personalize, tracker) == {"kind": "tracker"}
    assert _tags(personalize, group.interactions_dataset) == {}
    for arn in (schema, tracker, group.interactions_dataset):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "x", "tagValue": arn[-5:]}])
        assert _tags(personalize, arn)["x"] == arn[-5:]


def test_tag_operations_on_unknown_resource_are_not_found(personalize: Any) -> None:
    arn = f"{ARN_PREFIX}:dataset-group/{unique('missing')}"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "a", "tagValue": "1"}])
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.untag_resource(resourceArn=arn, tagKeys=["a"])
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.list_tags_for_resource(resourceArn=arn)


def test_more_than_fifty_tags_on_create(personalize: Any) -> None:
    name = unique("dg")
    tags = [{"tagKey": f"k{i}", "tagValue": "v"} for i in range(51)]
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.create_dataset_group(name=name, tags=tags)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=f"{ARN_PREFIX}:dataset-group/{name}")
    # Fifty is the limit, not a violation of it.
    arn = personalize.create_dataset_group(name=name, tags=tags[:50])["datasetGroupArn"]
    assert len(_tags(personalize, arn)) == 50


def test_more_than_fifty_tags_through_tag_resource(personalize: Any) -> None:
    arn = personalize.create_dataset_group(
        name=unique("dg"), tags=[{"tagKey": f"k{i}", "tagValue": "v"} for i in range(48)]
    )["datasetGroupArn"]
    with pytest.raises(personalize.exceptions.TooManyTagsException):
        personalize.tag_resource(
            resourceArn=arn, tags=[{"tagKey": f"new{i}", "tagValue": "v"} for i in range(3)]
        )
    assert len(_tags(personalize, arn)) == 48  # nothing of the refused request was kept
    # Overwriting existing keys does not count against the limit.
    personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": f"k{i}", "tagValue": "w"} for i in range(48)])
    personalize.tag_resource(
        resourceArn=arn, tags=[{"tagKey": "new0", "tagValue": "v"}, {"tagKey": "new1", "tagValue": "v"}]
    )
    tags = _tags(personalize, arn)
    assert len(tags) == 50
    assert tags["k0"] == "w"
