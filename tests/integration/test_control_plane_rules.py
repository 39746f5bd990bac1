"""The control-plane rules of SPEC §2-3, each checked through boto3 against a live server for the exact modeled
exception class botocore raises."""

from __future__ import annotations

import copy
import json
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

ACCOUNT_PREFIX = "arn:aws:personalize:us-east-1:000000000000"


def metric(name: str, expression: str = "SAMPLECOUNT()", event_type: str = "View") -> dict[str, str]:
    return {"eventType": event_type, "metricName": name, "expression": expression}


def create_attribution(personalize: Any, group: Group, metrics: list[dict[str, str]], **extra: Any) -> str:
    arn: str = personalize.create_metric_attribution(
        name=extra.pop("name", unique("ma")),
        datasetGroupArn=group.arn,
        metrics=metrics,
        metricsOutputConfig=extra.pop("metricsOutputConfig", output_config()),
        **extra,
    )["metricAttributionArn"]
    return arn


def metric_names(personalize: Any, attribution_arn: str) -> list[str]:
    metrics = personalize.list_metric_attribution_metrics(metricAttributionArn=attribution_arn)["metrics"]
    return sorted(m["metricName"] for m in metrics)


def schema_without(field: str, base: dict[str, Any] = INTERACTIONS_SCHEMA) -> dict[str, Any]:
    schema = copy.deepcopy(base)
    schema["fields"] = [f for f in schema["fields"] if f["name"] != field]
    return schema


def new_schema(personalize: Any, schema: dict[str, Any] | str, **extra: Any) -> str:
    text = schema if isinstance(schema, str) else json.dumps(schema)
    arn: str = personalize.create_schema(name=unique("schema"), schema=text, **extra)["schemaArn"]
    return arn


def new_group(personalize: Any, **extra: Any) -> tuple[str, str]:
    name = unique("dg")
    return name, personalize.create_dataset_group(name=name, **extra)["datasetGroupArn"]


# --- metric attributions -------------------------------------------------------------------------------------------


def test_one_attribution_per_dataset_group(personalize: Any, group: Group) -> None:
    first = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        create_attribution(personalize, group, seed_metrics())
    listed = personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"]
    assert [a["metricAttributionArn"] for a in listed] == [first]


def test_attribution_can_be_recreated_after_delete(personalize: Any, group: Group) -> None:
    name = unique("ma")
    first = create_attribution(personalize, group, seed_metrics(), name=name)
    personalize.delete_metric_attribution(metricAttributionArn=first)
    second = create_attribution(personalize, group, seed_metrics(), name=name)
    assert second == first
    assert metric_names(personalize, second) == ["countViews", "sumMargin"]


def test_more_than_ten_metrics_on_create_is_invalid(personalize: Any, group: Group) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        create_attribution(personalize, group, [metric(f"m{i}") for i in range(11)])
    assert personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"] == []


def test_exactly_ten_metrics_on_create_is_accepted(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, [metric(f"m{i}") for i in range(10)])
    assert len(metric_names(personalize, arn)) == 10


def test_update_leaving_more_than_ten_metrics_exceeds_the_limit(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, [metric(f"m{i}") for i in range(8)])
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.update_metric_attribution(
            metricAttributionArn=arn, addMetrics=[metric("x1"), metric("x2"), metric("x3")]
        )
    assert len(metric_names(personalize, arn)) == 8  # nothing of the refused update was applied
    # Counted after removals: removing one while adding three leaves exactly ten.
    personalize.update_metric_attribution(
        metricAttributionArn=arn, removeMetrics=["m0"], addMetrics=[metric("x1"), metric("x2"), metric("x3")]
    )
    assert len(metric_names(personalize, arn)) == 10
    with pytest.raises(personalize.exceptions.LimitExceededException):
        personalize.update_metric_attribution(metricAttributionArn=arn, addMetrics=[metric("x4")])


@pytest.mark.parametrize(
    "expression",
    [
        "COUNT()",
        "SUM(USERS.AGE)",
        "SUM(ITEMS)",
        "SUM()",
        "SAMPLECOUNT(ITEMS.MARGIN)",
        "SUM(ITEMS.MARGIN",
        "AVG(ITEMS.MARGIN)",
        "SUM(ITEMS.MARGIN) + 1",
        "",
    ],
)
def test_bad_expression_is_invalid(personalize: Any, group: Group, expression: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        create_attribution(personalize, group, [metric("bad", expression)])
    assert personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"] == []


def test_bad_expression_is_invalid_on_update(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_metric_attribution(metricAttributionArn=arn, addMetrics=[metric("bad", "COUNT()")])
    assert metric_names(personalize, arn) == ["countViews", "sumMargin"]


def test_expressions_are_case_insensitive(personalize: Any, group: Group) -> None:
    metrics = [
        metric("a", "sum(items.margin)", "Purchase"),
        metric("b", "samplecount()"),
        metric("c", "SUM(Items.MARGIN)", "Purchase"),
        metric("d", "Sum(Interactions.event_value)", "Click"),
        metric("e", " SUM ( ITEMS . PRICE ) ", "Purchase"),
    ]
    arn = create_attribution(personalize, group, metrics)
    stored = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    # Stored and returned as the client wrote them.
    assert sorted(stored, key=lambda m: m["metricName"]) == metrics


def test_sum_over_a_string_column_is_invalid(personalize: Any, group: Group) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        create_attribution(personalize, group, [metric("cat", "SUM(ITEMS.CATEGORY_L1)", "Purchase")])
    assert "CATEGORY_L1" in info.value.response["Error"]["Message"]


@pytest.mark.parametrize("expression", ["SUM(ITEMS.NO_SUCH_COLUMN)", "SUM(INTERACTIONS.MARGIN)"])
def test_sum_over_a_missing_column_is_invalid(personalize: Any, group: Group, expression: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        create_attribution(personalize, group, [metric("missing", expression, "Purchase")])


def test_sum_over_numeric_columns_of_either_dataset_is_accepted(personalize: Any, group: Group) -> None:
    arn = create_attribution(
        personalize,
        group,
        [
            metric("price", "SUM(ITEMS.PRICE)", "Purchase"),  # float
            metric("margin", "SUM(ITEMS.MARGIN)", "Purchase"),  # double
            metric("value", "SUM(INTERACTIONS.EVENT_VALUE)", "Click"),  # nullable float
            metric("ts", "SUM(INTERACTIONS.TIMESTAMP)", "Click"),  # long
        ],
    )
    assert metric_names(personalize, arn) == ["margin", "price", "ts", "value"]


def test_sum_over_items_without_an_items_dataset_is_invalid(personalize: Any) -> None:
    group = Group(personalize, with_items=False)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        create_attribution(personalize, group, seed_metrics())
    # Without the Items metric the same group is fine.
    create_attribution(personalize, group, [metric("views")])


def test_interactions_schema_without_event_type_is_invalid(personalize: Any) -> None:
    group = Group(personalize, interactions_schema=schema_without("EVENT_TYPE"))
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        create_attribution(personalize, group, [metric("views")])
    assert "EVENT_TYPE" in info.value.response["Error"]["Message"]


def test_group_without_interactions_dataset_is_invalid(personalize: Any) -> None:
    _, group_arn = new_group(personalize)
    items_schema = new_schema(personalize, ITEMS_SCHEMA)
    personalize.create_dataset(
        name=unique("items"), datasetGroupArn=group_arn, datasetType="Items", schemaArn=items_schema
    )
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=group_arn,
            metrics=[metric("views")],
            metricsOutputConfig=output_config(),
        )
    # An empty group is refused the same way.
    _, empty_group = new_group(personalize)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=empty_group,
            metrics=[metric("views")],
            metricsOutputConfig=output_config(),
        )


def test_attribution_on_unknown_dataset_group_is_not_found(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=f"{ACCOUNT_PREFIX}:dataset-group/{unique('nope')}",
            metrics=[metric("views")],
            metricsOutputConfig=output_config(),
        )


@pytest.mark.parametrize(("first", "second"), [("a", "A"), ("same", "same"), ("countViews", "COUNTVIEWS")])
def test_duplicate_metric_names_on_create_are_invalid(
    personalize: Any, group: Group, first: str, second: str
) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException):
        create_attribution(personalize, group, [metric(first), metric(second, event_type="Click")])
    assert personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"] == []


@pytest.mark.parametrize("name", ["countViews", "COUNTVIEWS", "countviews"])
def test_duplicate_metric_name_on_update_already_exists(personalize: Any, group: Group, name: str) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.update_metric_attribution(
            metricAttributionArn=arn, addMetrics=[metric(name, event_type="Click")]
        )
    assert metric_names(personalize, arn) == ["countViews", "sumMargin"]


def test_duplicate_names_within_add_metrics_already_exist(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.update_metric_attribution(
            metricAttributionArn=arn, addMetrics=[metric("new"), metric("NEW")]
        )
    assert metric_names(personalize, arn) == ["countViews", "sumMargin"]


def test_removing_an_unknown_metric_is_invalid(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_metric_attribution(
            metricAttributionArn=arn, removeMetrics=["countViews", "noSuchMetric"]
        )
    assert metric_names(personalize, arn) == [
        "countViews",
        "sumMargin",
    ]  # the known one was not removed either


def test_remove_metrics_matches_names_case_insensitively(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    personalize.update_metric_attribution(metricAttributionArn=arn, removeMetrics=["COUNTVIEWS"])
    assert metric_names(personalize, arn) == ["sumMargin"]


def test_update_with_nothing_is_invalid(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    before = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_metric_attribution(metricAttributionArn=arn)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_metric_attribution(metricAttributionArn=arn, addMetrics=[], removeMetrics=[])
    after = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert after == before


def test_update_without_an_arn_is_invalid(personalize: Any) -> None:
    # The model leaves metricAttributionArn optional; the server must still refuse a call without it.
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_metric_attribution(removeMetrics=["x"])


def test_update_of_unknown_attribution_is_not_found(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.update_metric_attribution(
            metricAttributionArn=f"{ACCOUNT_PREFIX}:metric-attribution/{unique('nope')}", removeMetrics=["x"]
        )


def test_update_output_config_replaces_it_wholesale(personalize: Any, group: Group) -> None:
    original = {
        "roleArn": ROLE_ARN,
        "s3DataDestination": {
            "path": "s3://bucket/metrics/",
            "kmsKeyArn": "arn:aws:kms:us-east-1:123456789012:key/abc",
        },
    }
    arn = create_attribution(personalize, group, seed_metrics(), metricsOutputConfig=original)
    described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert described["metricsOutputConfig"] == original

    role_only = {"roleArn": "arn:aws:iam::123456789012:role/OtherRole"}
    personalize.update_metric_attribution(metricAttributionArn=arn, metricsOutputConfig=role_only)
    described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert described["metricsOutputConfig"] == role_only
    assert "s3DataDestination" not in described["metricsOutputConfig"]
    # Only the output changed: the metrics are untouched.
    assert metric_names(personalize, arn) == ["countViews", "sumMargin"]

    with_path = {"roleArn": ROLE_ARN, "s3DataDestination": {"path": "s3://elsewhere/p/"}}
    personalize.update_metric_attribution(metricAttributionArn=arn, metricsOutputConfig=with_path)
    described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert described["metricsOutputConfig"] == with_path  # no kmsKeyArn carried over from the first config


def test_remove_then_add_same_name_in_one_update(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    replacement = {"eventType": "Click", "metricName": "countViews", "expression": "SAMPLECOUNT()"}
    personalize.update_metric_attribution(
        metricAttributionArn=arn, removeMetrics=["countViews"], addMetrics=[replacement]
    )
    stored = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    by_name = {m["metricName"]: m for m in stored}
    assert set(by_name) == {"countViews", "sumMargin"}
    assert by_name["countViews"] == replacement


def test_failed_update_changes_nothing(personalize: Any, group: Group) -> None:
    arn = create_attribution(personalize, group, seed_metrics())
    before = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.update_metric_attribution(
            metricAttributionArn=arn,
            removeMetrics=["countViews"],
            addMetrics=[metric("bad", "SUM(ITEMS.CATEGORY_L1)")],
            metricsOutputConfig={"roleArn": ROLE_ARN},
        )
    after = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert after == before
    assert metric_names(personalize, arn) == ["countViews", "sumMargin"]


def test_duplicate_attribution_name_already_exists(personalize: Any) -> None:
    name = unique("ma")
    first, second = Group(personalize), Group(personalize)
    create_attribution(personalize, first, seed_metrics(), name=name)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        create_attribution(personalize, second, seed_metrics(), name=name)
    assert personalize.list_metric_attributions(datasetGroupArn=second.arn)["metricAttributions"] == []


# --- deletion and references ---------------------------------------------------------------------------------------


def test_delete_group_with_datasets_is_in_use(personalize: Any, group: Group) -> None:
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset_group(datasetGroupArn=group.arn)
    personalize.delete_dataset(datasetArn=group.interactions_dataset)
    with pytest.raises(personalize.exceptions.ResourceInUseException):  # the Items dataset is still there
        personalize.delete_dataset_group(datasetGroupArn=group.arn)
    personalize.delete_dataset(datasetArn=group.items_dataset)
    personalize.delete_dataset_group(datasetGroupArn=group.arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=group.arn)


def test_delete_group_with_tracker_is_in_use(personalize: Any) -> None:
    _, group_arn = new_group(personalize)
    tracker = personalize.create_event_tracker(name=unique("et"), datasetGroupArn=group_arn)[
        "eventTrackerArn"
    ]
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset_group(datasetGroupArn=group_arn)
    personalize.delete_event_tracker(eventTrackerArn=tracker)
    personalize.delete_dataset_group(datasetGroupArn=group_arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=group_arn)


def test_delete_group_with_attribution_is_in_use(personalize: Any, group: Group) -> None:
    attribution = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.ResourceInUseException) as info:
        personalize.delete_dataset_group(datasetGroupArn=group.arn)
    assert attribution in info.value.response["Error"]["Message"]
    personalize.delete_metric_attribution(metricAttributionArn=attribution)
    # The datasets still hold the group, but the attribution no longer does.
    with pytest.raises(personalize.exceptions.ResourceInUseException) as info:
        personalize.delete_dataset_group(datasetGroupArn=group.arn)
    assert attribution not in info.value.response["Error"]["Message"]
    personalize.delete_dataset(datasetArn=group.interactions_dataset)
    personalize.delete_dataset(datasetArn=group.items_dataset)
    personalize.delete_dataset_group(datasetGroupArn=group.arn)
    assert personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"] == []


def test_delete_schema_used_by_dataset_is_in_use(personalize: Any) -> None:
    _, group_arn = new_group(personalize)
    schema = new_schema(personalize, INTERACTIONS_SCHEMA)
    dataset = personalize.create_dataset(
        name=unique("ds"), datasetGroupArn=group_arn, datasetType="Interactions", schemaArn=schema
    )["datasetArn"]
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_schema(schemaArn=schema)
    personalize.describe_schema(schemaArn=schema)  # still there
    personalize.delete_dataset(datasetArn=dataset)
    personalize.delete_schema(schemaArn=schema)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_schema(schemaArn=schema)


def test_delete_items_dataset_used_by_sum_over_items_is_in_use(personalize: Any, group: Group) -> None:
    attribution = create_attribution(personalize, group, seed_metrics())
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset(datasetArn=group.items_dataset)
    personalize.describe_dataset(datasetArn=group.items_dataset)  # still there
    # Once no metric reads Items, the Items dataset may go.
    personalize.update_metric_attribution(metricAttributionArn=attribution, removeMetrics=["sumMargin"])
    personalize.delete_dataset(datasetArn=group.items_dataset)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset(datasetArn=group.items_dataset)


def test_delete_items_dataset_unused_by_attribution_is_allowed(personalize: Any, group: Group) -> None:
    create_attribution(personalize, group, [metric("views")])
    personalize.delete_dataset(datasetArn=group.items_dataset)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset(datasetArn=group.items_dataset)


def test_delete_interactions_dataset_used_by_attribution_is_in_use(personalize: Any, group: Group) -> None:
    create_attribution(personalize, group, [metric("views")])
    with pytest.raises(personalize.exceptions.ResourceInUseException):
        personalize.delete_dataset(datasetArn=group.interactions_dataset)


# --- one per group, unique names ------------------------------------------------------------------------------------


@pytest.mark.parametrize("dataset_type", ["Interactions", "INTERACTIONS", "interactions"])
def test_one_dataset_per_type_per_group(personalize: Any, group: Group, dataset_type: str) -> None:
    schema = new_schema(personalize, INTERACTIONS_SCHEMA)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset(
            name=unique("again"), datasetGroupArn=group.arn, datasetType=dataset_type, schemaArn=schema
        )
    datasets = personalize.list_datasets(datasetGroupArn=group.arn)["datasets"]
    assert sorted(d["datasetArn"] for d in datasets) == sorted(
        [group.interactions_dataset, group.items_dataset]
    )


def test_one_event_tracker_per_group(personalize: Any) -> None:
    _, group_arn = new_group(personalize)
    personalize.create_event_tracker(name=unique("et"), datasetGroupArn=group_arn)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_event_tracker(name=unique("et"), datasetGroupArn=group_arn)
    assert len(personalize.list_event_trackers(datasetGroupArn=group_arn)["eventTrackers"]) == 1


def test_duplicate_dataset_group_name_already_exists(personalize: Any) -> None:
    name, _ = new_group(personalize)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_dataset_group(name=name, domain="ECOMMERCE")


def test_duplicate_schema_name_already_exists(personalize: Any) -> None:
    name = unique("schema")
    personalize.create_schema(name=name, schema=json.dumps(INTERACTIONS_SCHEMA))
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        personalize.create_schema(name=name, schema=json.dumps(ITEMS_SCHEMA))
    described = personalize.describe_schema(schemaArn=f"{ACCOUNT_PREFIX}:schema/{name}")["schema"]
    assert json.loads(described["schema"]) == INTERACTIONS_SCHEMA  # the first one was kept


# --- unknown ARNs --------------------------------------------------------------------------------------------------

UNKNOWN = [
    ("describe_dataset_group", "datasetGroupArn", "dataset-group"),
    ("delete_dataset_group", "datasetGroupArn", "dataset-group"),
    ("describe_schema", "schemaArn", "schema"),
    ("delete_schema", "schemaArn", "schema"),
    ("describe_dataset", "datasetArn", "dataset"),
    ("delete_dataset", "datasetArn", "dataset"),
    ("describe_event_tracker", "eventTrackerArn", "event-tracker"),
    ("delete_event_tracker", "eventTrackerArn", "event-tracker"),
    ("describe_metric_attribution", "metricAttributionArn", "metric-attribution"),
    ("delete_metric_attribution", "metricAttributionArn", "metric-attribution"),
    ("list_metric_attribution_metrics", "metricAttributionArn", "metric-attribution"),
    ("list_tags_for_resource", "resourceArn", "dataset-group"),
]


@pytest.mark.parametrize(("method", "member", "kind"), UNKNOWN, ids=[u[0] for u in UNKNOWN])
def test_unknown_arn_is_not_found(personalize: Any, method: str, member: str, kind: str) -> None:
    arn = f"{ACCOUNT_PREFIX}:{kind}/{unique('missing')}"
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        getattr(personalize, method)(**{member: arn})


def test_arn_of_another_kind_is_not_found(personalize: Any, group: Group) -> None:
    # A real ARN, but of a dataset group: describing it as a schema or dataset finds nothing.
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_schema(schemaArn=group.arn)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset(datasetArn=group.arn)


def test_dataset_with_unknown_schema_or_group_is_not_found(personalize: Any) -> None:
    _, group_arn = new_group(personalize)
    schema = new_schema(personalize, INTERACTIONS_SCHEMA)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset(
            name=unique("ds"),
            datasetGroupArn=group_arn,
            datasetType="Interactions",
            schemaArn=f"{ACCOUNT_PREFIX}:schema/{unique('missing')}",
        )
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_dataset(
            name=unique("ds"),
            datasetGroupArn=f"{ACCOUNT_PREFIX}:dataset-group/{unique('missing')}",
            datasetType="Interactions",
            schemaArn=schema,
        )
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.create_event_tracker(
            name=unique("et"), datasetGroupArn=f"{ACCOUNT_PREFIX}:dataset-group/{unique('missing')}"
        )


# --- schemas and datasets ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("group_domain", "schema_domain"),
    [("ECOMMERCE", None), (None, "ECOMMERCE"), ("ECOMMERCE", "VIDEO_ON_DEMAND")],
)
def test_schema_domain_must_match_group_domain(
    personalize: Any, group_domain: str | None, schema_domain: str | None
) -> None:
    _, group_arn = new_group(personalize, **({"domain": group_domain} if group_domain else {}))
    schema = new_schema(
        personalize, INTERACTIONS_SCHEMA, **({"domain": schema_domain} if schema_domain else {})
    )
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset(
            name=unique("ds"), datasetGroupArn=group_arn, datasetType="Interactions", schemaArn=schema
        )
    assert personalize.list_datasets(datasetGroupArn=group_arn)["datasets"] == []


def test_schema_domain_matching_group_domain_is_accepted(personalize: Any) -> None:
    _, group_arn = new_group(personalize, domain="VIDEO_ON_DEMAND")
    schema = new_schema(personalize, INTERACTIONS_SCHEMA, domain="VIDEO_ON_DEMAND")
    arn = personalize.create_dataset(
        name=unique("ds"), datasetGroupArn=group_arn, datasetType="Interactions", schemaArn=schema
    )["datasetArn"]
    assert personalize.describe_dataset(datasetArn=arn)["dataset"]["schemaArn"] == schema


def _with_field(name: str, avro_type: Any) -> dict[str, Any]:
    schema = copy.deepcopy(INTERACTIONS_SCHEMA)
    schema["fields"].append({"name": name, "type": avro_type})
    return schema


INVALID_SCHEMAS = {
    "not-json": "{this is not json",
    "json-array": json.dumps([INTERACTIONS_SCHEMA]),
    "not-a-record": json.dumps({"type": "enum", "name": "E", "symbols": ["A"]}),
    "no-fields": json.dumps({"type": "record", "name": "Interactions", "fields": []}),
    "unsupported-type-bytes": json.dumps(_with_field("BLOB", "bytes")),
    "unsupported-type-map": json.dumps(_with_field("TAGS", {"type": "map", "values": "string"})),
    "unknown-type-name": json.dumps(_with_field("X", "decimal")),
    "two-non-null-types": json.dumps(_with_field("X", ["int", "string"])),
    "duplicate-field": json.dumps(_with_field("USER_ID", "string")),
    "categorical-number": json.dumps(
        {
            **INTERACTIONS_SCHEMA,
            "fields": [*INTERACTIONS_SCHEMA["fields"], {"name": "N", "type": "int", "categorical": True}],
        }
    ),
}


@pytest.mark.parametrize("text", list(INVALID_SCHEMAS.values()), ids=list(INVALID_SCHEMAS))
def test_invalid_avro_schema_is_invalid(personalize: Any, text: str) -> None:
    name = unique("bad")
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_schema(name=name, schema=text)
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_schema(schemaArn=f"{ACCOUNT_PREFIX}:schema/{name}")


def _retyped(field: str, avro_type: Any) -> dict[str, Any]:
    schema = copy.deepcopy(INTERACTIONS_SCHEMA)
    for spec in schema["fields"]:
        if spec["name"] == field:
            spec["type"] = avro_type
    return schema


BAD_FOR_INTERACTIONS = {
    "missing-USER_ID": schema_without("USER_ID"),
    "missing-ITEM_ID": schema_without("ITEM_ID"),
    "missing-TIMESTAMP": schema_without("TIMESTAMP"),
    "TIMESTAMP-int": _retyped("TIMESTAMP", "int"),
    "TIMESTAMP-string": _retyped("TIMESTAMP", "string"),
    "TIMESTAMP-nullable": _retyped("TIMESTAMP", ["null", "long"]),
    "USER_ID-int": _retyped("USER_ID", "int"),
}


@pytest.mark.parametrize("schema", list(BAD_FOR_INTERACTIONS.values()), ids=list(BAD_FOR_INTERACTIONS))
def test_schema_unfit_for_interactions_is_invalid_at_create_dataset(
    personalize: Any, schema: dict[str, Any]
) -> None:
    _, group_arn = new_group(personalize)
    schema_arn = new_schema(personalize, schema)  # a valid Avro record: only its use as Interactions is wrong
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset(
            name=unique("ds"), datasetGroupArn=group_arn, datasetType="Interactions", schemaArn=schema_arn
        )
    assert personalize.list_datasets(datasetGroupArn=group_arn)["datasets"] == []


def test_items_schema_is_unfit_for_interactions(personalize: Any) -> None:
    _, group_arn = new_group(personalize)
    items = new_schema(personalize, ITEMS_SCHEMA)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset(
            name=unique("ds"), datasetGroupArn=group_arn, datasetType="Interactions", schemaArn=items
        )
    # ...but fine for Items.
    personalize.create_dataset(
        name=unique("ds"), datasetGroupArn=group_arn, datasetType="Items", schemaArn=items
    )


@pytest.mark.parametrize(
    ("dataset_type", "suffix"),
    [("interactions", "INTERACTIONS"), ("InTeRaCtIoNs", "INTERACTIONS"), ("items", "ITEMS")],
)
def test_dataset_type_is_case_insensitive(personalize: Any, dataset_type: str, suffix: str) -> None:
    name, group_arn = new_group(personalize)
    schema = new_schema(personalize, INTERACTIONS_SCHEMA if suffix == "INTERACTIONS" else ITEMS_SCHEMA)
    arn = personalize.create_dataset(
        name=unique("ds"), datasetGroupArn=group_arn, datasetType=dataset_type, schemaArn=schema
    )["datasetArn"]
    assert arn == f"{ACCOUNT_PREFIX}:dataset/{name}/{suffix}"
    assert personalize.describe_dataset(datasetArn=arn)["dataset"]["datasetType"] == suffix


@pytest.mark.parametrize("dataset_type", ["Ratings", "Interaction", "ITEMS_", "Events"])
def test_unknown_dataset_type_is_invalid(personalize: Any, dataset_type: str) -> None:
    _, group_arn = new_group(personalize)
    schema = new_schema(personalize, INTERACTIONS_SCHEMA)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.create_dataset(
            name=unique("ds"), datasetGroupArn=group_arn, datasetType=dataset_type, schemaArn=schema
        )
    assert personalize.list_datasets(datasetGroupArn=group_arn)["datasets"] == []
