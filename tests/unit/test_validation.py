"""Server-side validation against botocore's real input shapes: what botocore leaves unchecked on the client."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

import botocore.session
import pytest

from recimpact.domain.errors import InvalidInputException
from recimpact.wire.validation import validate_input

ARN = "arn:aws:personalize:us-east-1:000000000000:dataset-group/dg"
ROLE = "arn:aws:iam::123456789012:role/PersonalizeRole"


@functools.cache
def _model(service: str) -> Any:
    return botocore.session.get_session().get_service_model(service)


def shape(operation: str, service: str = "personalize") -> Any:
    return _model(service).operation_model(operation).input_shape


def create_attribution(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "name": "ma",
        "datasetGroupArn": ARN,
        "metrics": [{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
        "metricsOutputConfig": {"roleArn": ROLE, "s3DataDestination": {"path": "s3://bucket/prefix/"}},
    }
    params.update(overrides)
    return params


def put_events(**overrides: Any) -> dict[str, Any]:
    params: dict[str, Any] = {
        "trackingId": "tracker",
        "userId": "user-1",
        "sessionId": "session-1",
        "eventList": [{"eventType": "View", "sentAt": 1_700_000_000, "itemId": "item-1"}],
    }
    params.update(overrides)
    return params


def invalid(operation: str, params: Any, service: str = "personalize") -> str:
    with pytest.raises(InvalidInputException) as info:
        validate_input(shape(operation, service), params)
    return info.value.message


def test_valid_request_passes_unchanged() -> None:
    params = create_attribution()
    assert validate_input(shape("CreateMetricAttribution"), params) == params


def test_no_input_shape_yields_empty_params() -> None:
    assert validate_input(None, {"anything": 1}) == {}


@pytest.mark.parametrize("body", [[], "x", 3, None])
def test_body_must_be_an_object(body: Any) -> None:
    assert "must be a JSON object" in invalid("CreateMetricAttribution", body)


def test_unknown_members_are_dropped_at_every_level() -> None:
    params = create_attribution(extra=1)
    params["metrics"][0]["bogus"] = "x"
    params["metricsOutputConfig"]["s3DataDestination"]["nope"] = True
    result = validate_input(shape("CreateMetricAttribution"), params)
    assert "extra" not in result
    assert result["metrics"] == [{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}]
    assert result["metricsOutputConfig"]["s3DataDestination"] == {"path": "s3://bucket/prefix/"}


def test_null_optional_members_are_dropped() -> None:
    result = validate_input(shape("ListMetricAttributions"), {"datasetGroupArn": None, "maxResults": 5})
    assert result == {"maxResults": 5}


# --- required -----------------------------------------------------------------------------------------------


def test_required_member_missing() -> None:
    params = create_attribution()
    del params["datasetGroupArn"]
    message = invalid("CreateMetricAttribution", params)
    assert message.startswith("1 validation error detected: ")
    assert "Value null at 'datasetGroupArn' failed to satisfy constraint: Member must not be null" in message


def test_required_member_null_counts_as_missing() -> None:
    message = invalid("CreateMetricAttribution", create_attribution(name=None))
    assert "Value null at 'name'" in message


def test_nested_required_member_missing() -> None:
    message = invalid("CreateMetricAttribution", create_attribution(metricsOutputConfig={}))
    assert "Value null at 'metricsOutputConfig.roleArn'" in message


def test_errors_are_counted_and_all_listed() -> None:
    params = create_attribution(name="x" * 64)
    del params["metrics"]
    message = invalid("CreateMetricAttribution", params)
    assert message.startswith("2 validation errors detected: ")
    assert "at 'name'" in message
    assert "at 'metrics'" in message


def test_message_reports_at_most_ten_but_counts_all() -> None:
    metrics = [
        {"eventType": "e" * 257, "expression": "SAMPLECOUNT()", "metricName": f"m{i}"} for i in range(10)
    ]
    message = invalid(
        "CreateMetricAttribution", create_attribution(name="-bad", metrics=metrics + metrics[:2])
    )
    # 12 metrics: list too long (1), every eventType too long (12), bad name pattern (1).
    assert message.startswith("14 validation errors detected: ")
    assert message.count("failed to satisfy constraint") == 10


# --- strings ------------------------------------------------------------------------------------------------


def test_max_length() -> None:
    validate_input(shape("CreateMetricAttribution"), create_attribution(name="n" * 63))
    message = invalid("CreateMetricAttribution", create_attribution(name="n" * 64))
    assert f"Value '{'n' * 64}' at 'name' failed to satisfy constraint" in message
    assert "Member must have length less than or equal to 63" in message


def test_min_length() -> None:
    message = invalid("CreateMetricAttribution", create_attribution(name=""))
    assert "Member must have length greater than or equal to 1" in message


def test_long_values_are_truncated_in_the_message() -> None:
    message = invalid(
        "CreateMetricAttribution", create_attribution(datasetGroupArn="arn:aws:personalize:::" + "x" * 300)
    )
    assert "x" * 101 not in message
    assert "..." in message


@pytest.mark.parametrize("name", ["-starts-with-dash", "has space", "dot.ted", "ünicode"])
def test_pattern_rejects(name: str) -> None:
    message = invalid("CreateMetricAttribution", create_attribution(name=name))
    assert "at 'name' failed to satisfy constraint: Member must satisfy regular expression pattern" in message


def test_pattern_is_matched_against_the_whole_value() -> None:
    # The model's pattern has no trailing anchor; AWS (Java) matches patterns against the whole value.
    message = invalid(
        "CreateDataset", {"name": "d", "schemaArn": ARN, "datasetGroupArn": ARN, "datasetType": "Items!"}
    )
    assert "at 'datasetType'" in message


@pytest.mark.parametrize("arn", ["not-an-arn", "arn:aws:s3:::bucket", "arn:aws:personalize:us-east-1:123"])
def test_arn_pattern(arn: str) -> None:
    assert "at 'datasetGroupArn'" in invalid(
        "CreateMetricAttribution", create_attribution(datasetGroupArn=arn)
    )


@pytest.mark.parametrize(
    ("member", "value"),
    [
        ("datasetGroupArn", "arn:aws\u0661:personalize:us-east-1:1:dataset-group/g"),  # an Arabic-Indic digit
        (
            "roleArn",
            "arn:aws:iam::\u0967\u0968\u0969\u096a\u096b\u096c\u096d\u096e\u096f\u0966\u0967\u0968:role/r",
        ),
    ],
)
def test_pattern_classes_are_ascii_as_in_java(member: str, value: str) -> None:
    """\\d in the models' patterns is Java's [0-9]; Python's would take any script's digits."""
    params = create_attribution()
    if member == "roleArn":
        params["metricsOutputConfig"] = {**params["metricsOutputConfig"], "roleArn": value}
    else:
        params[member] = value
    assert "regular expression pattern" in invalid("CreateMetricAttribution", params)


def test_unicode_property_classes_in_patterns() -> None:
    # NextToken's pattern is \p{ASCII}{0,1500}, which the standard ``re`` module cannot compile.
    validate_input(shape("ListMetricAttributions"), {"nextToken": "abc=="})
    assert "at 'nextToken'" in invalid("ListMetricAttributions", {"nextToken": "caf\u00e9"})


def test_enum() -> None:
    validate_input(shape("CreateDatasetGroup"), {"name": "g", "domain": "ECOMMERCE"})
    message = invalid("CreateDatasetGroup", {"name": "g", "domain": "ecommerce"})
    assert "Member must satisfy enum value set: [ECOMMERCE, VIDEO_ON_DEMAND]" in message


def test_enum_of_import_mode() -> None:
    base = {"jobName": "j", "datasetArn": ARN, "dataSource": {"dataLocation": "s3://b/k.csv"}}
    validate_input(shape("CreateDatasetImportJob"), {**base, "importMode": "INCREMENTAL"})
    assert "at 'importMode'" in invalid("CreateDatasetImportJob", {**base, "importMode": "PARTIAL"})


def test_string_type() -> None:
    assert "Member must be a string" in invalid("CreateMetricAttribution", create_attribution(name=5))


@pytest.mark.parametrize("path", ["file:///tmp/reports/", "s3://bucket/prefix/", "https://host/x"])
def test_s3_location_accepts_file_urls(path: str) -> None:
    params = create_attribution(metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": path}})
    result = validate_input(shape("CreateMetricAttribution"), params)
    assert result["metricsOutputConfig"]["s3DataDestination"]["path"] == path


def test_file_url_accepted_for_import_data_location() -> None:
    params = {"jobName": "j", "datasetArn": ARN, "dataSource": {"dataLocation": "file:///data/items.csv"}}
    validate_input(shape("CreateDatasetImportJob"), params)


@pytest.mark.parametrize("path", ["/tmp/reports/", "ftp://host/x", "file://", "s3:/bucket"])
def test_s3_location_rejects_other_schemes(path: str) -> None:
    params = create_attribution(metricsOutputConfig={"roleArn": ROLE, "s3DataDestination": {"path": path}})
    assert "at 'metricsOutputConfig.s3DataDestination.path'" in invalid("CreateMetricAttribution", params)


# --- lists and maps -----------------------------------------------------------------------------------------


def test_list_max() -> None:
    metrics = [{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": f"m{i}"} for i in range(11)]
    message = invalid("CreateMetricAttribution", create_attribution(metrics=metrics))
    assert message.startswith("1 validation error detected")
    assert (
        "at 'metrics' failed to satisfy constraint: Member must have length less than or equal to 10"
        in message
    )
    validate_input(shape("CreateMetricAttribution"), create_attribution(metrics=metrics[:10]))


def test_list_min_and_nested_paths() -> None:
    events = put_events(eventList=[])
    assert (
        "at 'eventList' failed to satisfy constraint: Member must have length greater than or equal to 1"
        in (invalid("PutEvents", events, "personalize-events"))
    )
    events = put_events()
    events["eventList"].append({"eventType": "x" * 257, "sentAt": 1})
    assert "at 'eventList.2.member.eventType'" in invalid("PutEvents", events, "personalize-events")


def test_list_type() -> None:
    assert "Member must be a list" in invalid("CreateMetricAttribution", create_attribution(metrics={"a": 1}))


def test_structure_type() -> None:
    assert "Member must be a structure" in invalid(
        "CreateMetricAttribution", create_attribution(metrics=["x"])
    )


def test_map_max_and_type() -> None:
    def solution(params: dict[str, Any]) -> dict[str, Any]:
        return {"name": "s", "datasetGroupArn": ARN, "solutionConfig": params}

    validate_input(
        shape("CreateSolution"), solution({"algorithmHyperParameters": {f"k{i}": "1" for i in range(100)}})
    )
    message = invalid(
        "CreateSolution", solution({"algorithmHyperParameters": {f"k{i}": "1" for i in range(101)}})
    )
    assert "at 'solutionConfig.algorithmHyperParameters'" in message
    assert "Member must be a map" in invalid("CreateSolution", solution({"algorithmHyperParameters": ["k"]}))


# --- numbers, booleans, timestamps --------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 50, 100, 7.0])
def test_integer_in_range(value: Any) -> None:
    result = validate_input(shape("ListMetricAttributions"), {"maxResults": value})
    assert result["maxResults"] == int(value)
    assert isinstance(result["maxResults"], int)


@pytest.mark.parametrize(
    ("value", "constraint"),
    [
        (0, "have value greater than or equal to 1"),
        (-5, "have value greater than or equal to 1"),
        (101, "have value less than or equal to 100"),
        (2.5, "be an integer"),
        ("10", "be an integer"),
        (True, "be an integer"),
    ],
)
def test_integer_out_of_range_or_wrong_type(value: Any, constraint: str) -> None:
    message = invalid("ListMetricAttributions", {"maxResults": value})
    assert f"at 'maxResults' failed to satisfy constraint: Member must {constraint}" in message


CAMPAIGN = {"name": "c", "solutionVersionArn": ARN}


@pytest.mark.parametrize("value", [2**31, 2**64, 10**400, 1e300])
def test_integers_past_32_bits_are_refused_where_the_model_sets_no_maximum(value: Any) -> None:
    """TransactionsPerSecond has a minimum only; the model's integer is 32-bit all the same."""
    message = invalid("CreateCampaign", {**CAMPAIGN, "minProvisionedTPS": value})
    assert "Member must be a 32-bit integer" in message


def test_the_largest_32_bit_integer_is_accepted() -> None:
    params = validate_input(shape("CreateCampaign"), {**CAMPAIGN, "minProvisionedTPS": 2**31 - 1})
    assert params["minProvisionedTPS"] == 2**31 - 1


@pytest.mark.parametrize("value", [0, 12, 12.5, -3.25])
def test_floats_accept_ints_and_floats(value: float) -> None:
    events = put_events()
    events["eventList"][0]["eventValue"] = value
    result = validate_input(shape("PutEvents", "personalize-events"), events)
    assert result["eventList"][0]["eventValue"] == value


@pytest.mark.parametrize("value", ["12", True, float("nan"), float("inf"), [1]])
def test_floats_reject_non_numbers(value: Any) -> None:
    events = put_events()
    events["eventList"][0]["eventValue"] = value
    message = invalid("PutEvents", events, "personalize-events")
    assert (
        "at 'eventList.1.member.eventValue' failed to satisfy constraint: Member must be a finite number"
        in message
    )


def test_double_range() -> None:
    def solution(weight: Any) -> dict[str, Any]:
        events_config = {"eventParametersList": [{"eventType": "click", "weight": weight}]}
        return {"name": "s", "datasetGroupArn": ARN, "solutionConfig": {"eventsConfig": events_config}}

    validate_input(shape("CreateSolution"), solution(0.5))
    validate_input(shape("CreateSolution"), solution(1))
    message = invalid("CreateSolution", solution(1.5))
    assert "eventParametersList.1.member.weight" in message
    assert "have value less than or equal to 1" in message
    assert "have value greater than or equal to 0" in invalid("CreateSolution", solution(-0.1))


@pytest.mark.parametrize("value", [True, False])
def test_booleans(value: bool) -> None:
    base = {"jobName": "j", "datasetArn": ARN, "dataSource": {"dataLocation": "s3://b/k.csv"}}
    result = validate_input(shape("CreateDatasetImportJob"), {**base, "publishAttributionMetricsToS3": value})
    assert result["publishAttributionMetricsToS3"] is value


@pytest.mark.parametrize("value", ["true", 1, 0])
def test_booleans_reject_other_values(value: Any) -> None:
    base = {"jobName": "j", "datasetArn": ARN, "dataSource": {"dataLocation": "s3://b/k.csv"}}
    message = invalid("CreateDatasetImportJob", {**base, "publishAttributionMetricsToS3": value})
    assert (
        "at 'publishAttributionMetricsToS3' failed to satisfy constraint: Member must be a boolean" in message
    )


EPOCH = 1_700_000_000.0
ISO = dt.datetime.fromtimestamp(EPOCH, dt.UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, EPOCH),
        (1_700_000_000.25, EPOCH + 0.25),
        ("1700000000", EPOCH),
        ("1700000000.5", EPOCH + 0.5),
        (ISO.isoformat(), EPOCH),  # 2023-11-14T22:13:20+00:00
        (ISO.strftime("%Y-%m-%dT%H:%M:%SZ"), EPOCH),
        (ISO.strftime("%Y-%m-%dT%H:%M:%S.250Z"), EPOCH + 0.25),
        (ISO.strftime("%Y-%m-%dT%H:%M:%S"), EPOCH),  # no zone: UTC
        ("2023-11-15T00:13:20+02:00", EPOCH),
    ],
)
def test_timestamps_are_normalized_to_float_epoch_seconds(value: Any, expected: float) -> None:
    events = put_events()
    events["eventList"][0]["sentAt"] = value
    result = validate_input(shape("PutEvents", "personalize-events"), events)
    sent_at = result["eventList"][0]["sentAt"]
    assert isinstance(sent_at, float)
    assert sent_at == pytest.approx(expected)


@pytest.mark.parametrize(
    "value",
    ["garbage", "", "nan", "inf", "-Infinity", "1e400", True, [1], {"s": 1}, float("nan"), float("inf")],
)
def test_bad_timestamps(value: Any) -> None:
    events = put_events()
    events["eventList"][0]["sentAt"] = value
    message = invalid("PutEvents", events, "personalize-events")
    assert (
        "at 'eventList.1.member.sentAt' failed to satisfy constraint: Member must be a timestamp" in message
    )


def test_put_events_missing_sent_at() -> None:
    events = put_events(eventList=[{"eventType": "View"}])
    assert "Value null at 'eventList.1.member.sentAt'" in invalid("PutEvents", events, "personalize-events")


# --- sensitive members --------------------------------------------------------------------------------------


def test_sensitive_values_are_not_echoed() -> None:
    secret = "user-" + "s" * 300
    message = invalid("PutEvents", put_events(userId=secret), "personalize-events")
    assert (
        "Value at 'userId' failed to satisfy constraint: Member must have length less than or equal to 256"
        in (message)
    )
    assert "sss" not in message
    assert secret[:20] not in message


def test_sensitive_nested_values_are_not_echoed() -> None:
    events = put_events()
    events["eventList"][0]["itemId"] = "private-item-" + "i" * 300
    events["eventList"][0]["properties"] = "{}" + " " * 1100
    message = invalid("PutEvents", events, "personalize-events")
    assert message.startswith("2 validation errors detected")
    assert "private-item" not in message
    assert "Value at 'eventList.1.member.itemId'" in message
    assert "Value at 'eventList.1.member.properties'" in message


def test_non_sensitive_values_are_echoed() -> None:
    message = invalid("PutEvents", put_events(sessionId="z" * 257), "personalize-events")
    assert f"Value '{'z' * 100}..." in message


def test_integers_too_big_for_a_float_are_refused_not_crashed() -> None:
    # JSON integers have no size limit; converting 10**400 to float overflows.
    events = put_events()
    events["eventList"][0]["eventValue"] = 10**400
    events["eventList"][0]["sentAt"] = 10**400
    message = invalid("PutEvents", events, "personalize-events")
    assert message.startswith("2 validation errors detected")
    assert "at 'eventList.1.member.eventValue'" in message
    assert "at 'eventList.1.member.sentAt'" in message
    assert "Member must be a 32-bit integer" in invalid("ListMetricAttributions", {"maxResults": 10**400})


@pytest.mark.parametrize(
    ("operation", "service", "params"),
    [
        (
            "PutItems",
            "personalize-events",
            {"datasetArn": ARN, "items": [{"itemId": "i", "properties": "P"}]},
        ),
        (
            "PutUsers",
            "personalize-events",
            {"datasetArn": ARN, "users": [{"userId": "u", "properties": "P"}]},
        ),
    ],
)
def test_json_value_members_nest_at_most_100_levels(
    operation: str, service: str, params: dict[str, Any]
) -> None:
    """The model marks ``properties`` as a JSON value; 12,000 brackets fit ItemProperties' 32,000 characters."""
    member = "items" if operation == "PutItems" else "users"
    for depth, refused in ((100, False), (101, True), (12_000, True)):
        record = {**params[member][0], "properties": "[" * depth + "]" * depth}
        request = {**params, member: [record]}
        if refused:
            message = invalid(operation, request, service)
            assert "be a JSON document nested at most 100 levels deep" in message
            assert "[[[" not in message  # sensitive: never echoed
        else:
            validate_input(shape(operation, service), request)


def test_brackets_inside_json_strings_are_not_nesting() -> None:
    events = put_events()
    events["eventList"][0]["properties"] = json.dumps({"note": "[" * 500})
    validate_input(shape("PutEvents", "personalize-events"), events)
