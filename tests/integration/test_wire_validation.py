"""What the server checks that botocore does not (max lengths, patterns, enums, list maxima), the raw wire contract
of errors, and the request's region."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

import pytest

from tests.conftest import INTERACTIONS_SCHEMA, ROLE_ARN, Group, output_config, seed_metrics, unique
from tests.server import ServerProcess

ACCOUNT_PREFIX = "arn:aws:personalize:us-east-1:000000000000"
JSON_11 = "application/x-amz-json-1.1"


def _many_metrics(count: int) -> list[dict[str, str]]:
    return [{"eventType": "View", "metricName": f"m{i}", "expression": "SAMPLECOUNT()"} for i in range(count)]


# Each case: a call botocore lets through unchanged (it checks only required/type/min) that the model forbids.
INVALID_CALLS: dict[str, Callable[[Any], Any]] = {
    "name-64-chars": lambda p: p.create_dataset_group(name="a" * 64),
    "name-pattern": lambda p: p.create_dataset_group(name="-bad"),
    "name-pattern-space": lambda p: p.create_schema(name="has space", schema=json.dumps(INTERACTIONS_SCHEMA)),
    "arn-pattern": lambda p: p.describe_dataset_group(datasetGroupArn="bad"),
    "arn-wrong-service": lambda p: p.describe_dataset_group(datasetGroupArn="arn:aws:s3:::bucket/key"),
    "domain-enum": lambda p: p.create_dataset_group(name=unique("dg"), domain="WEIRD"),
    "schema-domain-enum": lambda p: p.create_schema(
        name=unique("s"), schema=json.dumps(INTERACTIONS_SCHEMA), domain="ecommerce"
    ),
    "max-results-101": lambda p: p.list_schemas(maxResults=101),
    "max-results-101-groups": lambda p: p.list_dataset_groups(maxResults=101),
    "role-arn-pattern": lambda p: p.create_dataset_group(
        name=unique("dg"), roleArn="arn:aws:iam::123:role/short"
    ),
    "role-arn-not-iam": lambda p: p.create_dataset_group(
        name=unique("dg"), roleArn="arn:aws:personalize:us-east-1:123456789012:role/r"
    ),
    "kms-arn-pattern": lambda p: p.create_dataset_group(
        name=unique("dg"), roleArn=ROLE_ARN, kmsKeyArn="arn:aws:kms:us-east-1:1:key/x"
    ),
    "tag-key-pattern": lambda p: p.create_dataset_group(
        name=unique("dg"), tags=[{"tagKey": "bad#key", "tagValue": "v"}]
    ),
    "tag-key-129-chars": lambda p: p.create_dataset_group(
        name=unique("dg"), tags=[{"tagKey": "k" * 129, "tagValue": "v"}]
    ),
    "dataset-type-pattern": lambda p: p.create_dataset(
        name=unique("ds"),
        datasetGroupArn=f"{ACCOUNT_PREFIX}:dataset-group/x",
        datasetType="Inter-actions",
        schemaArn=f"{ACCOUNT_PREFIX}:schema/x",
    ),
    "next-token-non-ascii": lambda p: p.list_schemas(nextToken="é"),
}


@pytest.mark.parametrize("call", list(INVALID_CALLS.values()), ids=list(INVALID_CALLS))
def test_model_constraint_violation_is_a_validation_error(
    personalize: Any, call: Callable[[Any], Any]
) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        call(personalize)
    error = info.value.response["Error"]
    assert "validation error" in error["Message"]
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_eleven_metrics_is_a_validation_error(personalize: Any, group: Group) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=group.arn,
            metrics=_many_metrics(11),
            metricsOutputConfig=output_config(),
        )
    message = info.value.response["Error"]["Message"]
    assert "validation error" in message
    assert "metrics" in message
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.update_metric_attribution(
            metricAttributionArn=f"{ACCOUNT_PREFIX}:metric-attribution/x", addMetrics=_many_metrics(11)
        )
    assert "validation error" in info.value.response["Error"]["Message"]


def test_metric_expression_longer_than_256_is_a_validation_error(personalize: Any, group: Group) -> None:
    metrics = [{"eventType": "View", "metricName": "m", "expression": "SAMPLECOUNT()" + " " * 250}]
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.create_metric_attribution(
            name=unique("ma"), datasetGroupArn=group.arn, metrics=metrics, metricsOutputConfig=output_config()
        )
    assert "validation error" in info.value.response["Error"]["Message"]


def test_every_violation_is_counted(personalize: Any) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.create_dataset_group(name="-" + "a" * 70, domain="WEIRD")
    # name too long, domain enum (a value too long is not also matched against the pattern: see validation.py)
    assert info.value.response["Error"]["Message"].startswith("2 validation errors detected")
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.create_dataset_group(name="-" + "a" * 10, domain="WEIRD")
    assert info.value.response["Error"]["Message"].startswith("2 validation errors detected")  # pattern, enum


def test_limits_at_the_boundary_are_accepted(personalize: Any) -> None:
    name = "a" * 63
    name = name[: 63 - 11] + "-" + unique("x")[2:]  # unique, exactly 63 characters
    assert len(name) == 63
    arn = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    assert arn.endswith(f":dataset-group/{name}")
    assert len(personalize.list_schemas(maxResults=100)["schemas"]) <= 100


def test_reserved_tag_key_is_invalid_input(personalize: Any) -> None:
    name = unique("dg")
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.create_dataset_group(name=name, tags=[{"tagKey": "aws:owner", "tagValue": "me"}])
    assert "aws:" in info.value.response["Error"]["Message"]
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_group(datasetGroupArn=f"{ACCOUNT_PREFIX}:dataset-group/{name}")
    # And through TagResource, on an existing resource.
    arn = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    with pytest.raises(personalize.exceptions.InvalidInputException):
        personalize.tag_resource(resourceArn=arn, tags=[{"tagKey": "AWS:Owner", "tagValue": "me"}])
    assert personalize.list_tags_for_resource(resourceArn=arn)["tags"] == []


# --- raw HTTP -------------------------------------------------------------------------------------------------------


def raw_post(
    server: ServerProcess, path: str, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], dict[str, Any]]:
    url = urllib.parse.urlsplit(server.url)
    conn = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=10)
    try:
        conn.request("POST", path, body=body, headers=headers)
        response = conn.getresponse()
        data = response.read()
        lowered = {k.lower(): v for k, v in response.getheaders()}
        return response.status, lowered, json.loads(data)
    finally:
        conn.close()


def assert_error(
    result: tuple[int, dict[str, str], dict[str, Any]], code: str, status: int = 400
) -> dict[str, Any]:
    got_status, headers, body = result
    assert got_status == status
    assert headers["x-amzn-errortype"] == code
    assert body["__type"] == code
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def test_missing_target_is_unknown_operation(server: ServerProcess) -> None:
    result = raw_post(server, "/", b"{}", {"Content-Type": JSON_11})
    assert_error(result, "UnknownOperationException")


def test_target_with_wrong_prefix_is_unknown_operation(server: ServerProcess) -> None:
    result = raw_post(
        server, "/", b"{}", {"Content-Type": JSON_11, "X-Amz-Target": "DynamoDB_20120810.ListTables"}
    )
    assert_error(result, "UnknownOperationException")


def test_malformed_json_is_invalid_input(server: ServerProcess) -> None:
    result = raw_post(
        server,
        "/",
        b'{"name": ',
        {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup"},
    )
    assert_error(result, "InvalidInputException")


def test_json_that_is_not_an_object_is_invalid_input(server: ServerProcess) -> None:
    result = raw_post(
        server, "/", b'["x"]', {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.ListSchemas"}
    )
    assert_error(result, "InvalidInputException")


def test_wrong_member_type_is_invalid_input(server: ServerProcess) -> None:
    result = raw_post(
        server,
        "/",
        json.dumps({"maxResults": "ten"}).encode(),
        {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.ListSchemas"},
    )
    body = assert_error(result, "InvalidInputException")
    assert "validation error" in body["message"]


def test_missing_required_member_is_invalid_input(server: ServerProcess) -> None:
    result = raw_post(
        server, "/", b"{}", {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.CreateDatasetGroup"}
    )
    body = assert_error(result, "InvalidInputException")
    assert "name" in body["message"]


def test_unknown_operation_name_in_target(server: ServerProcess) -> None:
    result = raw_post(
        server, "/", b"{}", {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.DoSomethingElse"}
    )
    assert_error(result, "UnknownOperationException")


def test_modeled_operation_not_implemented_is_unknown_operation(server: ServerProcess) -> None:
    body = json.dumps(
        {"name": "f", "datasetGroupArn": f"{ACCOUNT_PREFIX}:dataset-group/x", "filterExpression": "x"}
    ).encode()
    result = raw_post(
        server, "/", body, {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.CreateFilter"}
    )
    assert_error(result, "UnknownOperationException")


def test_not_implemented_operation_through_boto3(personalize: Any) -> None:
    # botocore has no modeled class for it, so it surfaces as a ClientError carrying the code.
    with pytest.raises(personalize.exceptions.ClientError) as info:
        personalize.list_filters()
    assert info.value.response["Error"]["Code"] == "UnknownOperationException"


def test_post_to_unknown_path_is_404(server: ServerProcess) -> None:
    result = raw_post(server, "/no-such-path", b"{}", {"Content-Type": "application/json"})
    assert_error(result, "UnknownOperationException", status=404)


def test_success_carries_request_id(server: ServerProcess) -> None:
    status, headers, body = raw_post(
        server, "/", b"", {"Content-Type": JSON_11, "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups"}
    )
    assert status == 200
    assert headers["content-type"] == JSON_11
    assert headers["x-amzn-requestid"]
    assert isinstance(body["datasetGroups"], list)


# --- recimpact extension and regions --------------------------------------------------------------------------------


def test_file_url_output_path_is_accepted(personalize: Any, group: Group) -> None:
    config = output_config("file:///tmp/x/")
    arn = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group.arn, metrics=seed_metrics(), metricsOutputConfig=config
    )["metricAttributionArn"]
    described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert described["metricsOutputConfig"] == config


@pytest.mark.parametrize("path", ["ftp://host/x/", "/tmp/x/", "bucket/prefix/"])
def test_other_output_path_schemes_are_refused(personalize: Any, group: Group, path: str) -> None:
    with pytest.raises(personalize.exceptions.InvalidInputException) as info:
        personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=group.arn,
            metrics=seed_metrics(),
            metricsOutputConfig=output_config(path),
        )
    assert "validation error" in info.value.response["Error"]["Message"]


def _all_group_arns(client: Any) -> set[str]:
    arns: set[str] = set()
    for page in client.get_paginator("list_dataset_groups").paginate():
        arns.update(g["datasetGroupArn"] for g in page["datasetGroups"])
    return arns


def test_region_comes_from_the_client(server: ServerProcess, personalize: Any) -> None:
    europe = server.client("personalize", region="eu-west-1")
    name = unique("dg")
    arn = europe.create_dataset_group(name=name)["datasetGroupArn"]
    assert ":eu-west-1:" in arn
    assert arn == f"arn:aws:personalize:eu-west-1:000000000000:dataset-group/{name}"
    assert europe.describe_dataset_group(datasetGroupArn=arn)["datasetGroup"]["name"] == name
    assert arn in _all_group_arns(europe)
    assert arn not in _all_group_arns(personalize)
    # Names are unique per region: the same name is free in us-east-1.
    home = personalize.create_dataset_group(name=name)["datasetGroupArn"]
    assert home == f"{ACCOUNT_PREFIX}:dataset-group/{name}"
    assert home not in _all_group_arns(europe)


# --- bad input found by trying it as users would (issue 17) --------------------------------------------------------


def test_lone_surrogate_in_an_event_is_invalid_input_and_not_retried(
    server: ServerProcess, group: Group
) -> None:
    personalize = server.client("personalize")
    tracking_id = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group.arn)["trackingId"]
    event = '{"eventType": "View", "itemId": "file-\\udcff", "sentAt": 1700000000}'
    body = f'{{"trackingId": "{tracking_id}", "sessionId": "s", "eventList": [{event}]}}'.encode()
    result = raw_post(server, "/events", body, {"Content-Type": "application/json"})
    message = assert_error(result, "InvalidInputException")["message"]
    assert "eventList.1.member.itemId" in message


def test_schema_nested_deeper_than_the_decoder_recurses_is_invalid_input(personalize: Any) -> None:
    name = unique("s")
    with pytest.raises(personalize.exceptions.InvalidInputException, match="nested too deeply"):
        personalize.create_schema(name=name, schema="[" * 5000 + "]" * 5000)
    assert name not in {s["name"] for s in personalize.list_schemas()["schemas"]}


RECOMMENDER = f"{ACCOUNT_PREFIX}:recommender/none"


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"numResults": 51, "metadataColumns": {"ITEMS": ["PRICE"]}}, "at most 50 with metadataColumns"),
        ({"numResults": 501}, "at most 500"),
        ({"metadataColumns": {"ITEMS": [f"C{i}" for i in range(11)]}}, "at most 10"),
        ({"metadataColumns": {"USERS": ["AGE"]}}, "ITEMS only"),
    ],
)
def test_limits_the_runtime_model_documents_in_prose(
    server: ServerProcess, params: dict[str, Any], message: str
) -> None:
    """Checked before the recommender is looked up, as every other input constraint."""
    runtime = server.client("personalize-runtime")
    with pytest.raises(runtime.exceptions.InvalidInputException, match=message):
        runtime.get_recommendations(recommenderArn=RECOMMENDER, **params)


@pytest.mark.parametrize(
    "params", [{"numResults": 50, "metadataColumns": {"ITEMS": ["PRICE"]}}, {"numResults": 500}]
)
def test_limits_themselves_are_accepted(server: ServerProcess, params: dict[str, Any]) -> None:
    runtime = server.client("personalize-runtime")
    with pytest.raises(runtime.exceptions.ResourceNotFoundException):
        runtime.get_recommendations(recommenderArn=RECOMMENDER, **params)


def _first_token(page: dict[str, Any]) -> str:
    token = page.get("nextToken")
    assert isinstance(token, str)
    return token


def test_a_next_token_is_refused_by_another_operation(personalize: Any, group: Group) -> None:
    for _ in range(2):
        personalize.create_dataset_group(name=unique("dg"))
    token = _first_token(personalize.list_dataset_groups(maxResults=1))
    for call in (
        lambda: personalize.list_schemas(nextToken=token),
        lambda: personalize.list_datasets(datasetGroupArn=group.arn, nextToken=token),
        lambda: personalize.list_recipes(nextToken=token),
        lambda: personalize.list_metric_attributions(nextToken=token),
    ):
        with pytest.raises(personalize.exceptions.InvalidNextTokenException):
            call()


def test_a_next_token_is_refused_for_another_listing_of_the_same_operation(personalize: Any) -> None:
    first, second = Group(personalize), Group(personalize)
    token = _first_token(personalize.list_datasets(datasetGroupArn=first.arn, maxResults=1))
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_datasets(datasetGroupArn=second.arn, nextToken=token)
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_datasets(nextToken=token)  # every dataset of the account is another listing too
    # The same listing takes it, with any page size.
    rest = personalize.list_datasets(datasetGroupArn=first.arn, nextToken=token, maxResults=5)["datasets"]
    assert [d["datasetArn"] for d in rest] == [first.interactions_dataset]


def test_a_next_token_with_one_character_changed_is_refused(personalize: Any) -> None:
    for _ in range(2):
        personalize.create_schema(name=unique("s"), schema=json.dumps(INTERACTIONS_SCHEMA))
    token = _first_token(personalize.list_schemas(maxResults=1))
    changed = token[:5] + ("A" if token[5] != "A" else "B") + token[6:]
    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_schemas(nextToken=changed)


USERS_SCHEMA = {
    "type": "record",
    "name": "Users",
    "fields": [{"name": "USER_ID", "type": "string"}, {"name": "AGE", "type": ["null", "int"]}],
}


@pytest.mark.parametrize("kind", ["Items", "Users"])
def test_properties_nested_thousands_deep_are_invalid_input(
    server: ServerProcess, personalize: Any, group: Group, kind: str
) -> None:
    """ItemProperties hold 32,000 characters and UserProperties 24,000: room for 12,000 nested brackets, which
    the JSON decoder met with RecursionError (a 500; found by the model fuzz)."""
    if kind == "Items":
        dataset = group.items_dataset
    else:
        schema = personalize.create_schema(name=unique("users"), schema=json.dumps(USERS_SCHEMA))["schemaArn"]
        dataset = personalize.create_dataset(
            name=unique("users"), datasetGroupArn=group.arn, datasetType="Users", schemaArn=schema
        )["datasetArn"]
    member, key = ("items", "itemId") if kind == "Items" else ("users", "userId")
    records = [{key: "deep", "properties": "[" * 12_000 + "]" * 12_000}]
    body = json.dumps({"datasetArn": dataset, member: records}).encode()
    result = raw_post(server, f"/{member}", body, {"Content-Type": "application/json"})
    assert_error(result, "InvalidInputException")
