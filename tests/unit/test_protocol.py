"""The AWS protocols: request parsing, serialization by output shape, error responses botocore understands."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from botocore.parsers import create_parser
from starlette.responses import Response

from recimpact.domain.errors import (
    InternalFailure,
    InvalidInputException,
    LimitExceededException,
    ResourceInUseException,
    ResourceNotFoundException,
    ServiceError,
)
from recimpact.domain.service_names import CONTROL, EVENTS, RUNTIME
from recimpact.wire.models import service_model
from recimpact.wire.protocol import error_response, parse_request, serialize, success_response


def operation(name: str, service: str = CONTROL) -> Any:
    return service_model(service).operation_model(name)


def body_of(response: Response) -> Any:
    return json.loads(bytes(response.body))


def botocore_parse(service: str, op: str, response: Response) -> dict[str, Any]:
    """What botocore's own parser makes of the response: the client's view."""
    model = service_model(service)
    parser = create_parser(model.protocol)
    raw = {
        "status_code": response.status_code,
        "headers": dict(response.headers),
        "body": bytes(response.body),
    }
    return parser.parse(raw, model.operation_model(op).output_shape)  # type: ignore[no-any-return]


# --- parse_request ------------------------------------------------------------------------------------------


def test_parse_request_validates() -> None:
    body = json.dumps({"maxResults": 5, "unknown": 1}).encode()
    assert parse_request(operation("ListMetricAttributions"), body) == {"maxResults": 5}


@pytest.mark.parametrize("body", [b"", b"  \n"])
def test_empty_body_is_an_empty_request(body: bytes) -> None:
    assert parse_request(operation("ListMetricAttributions"), body) == {}
    with pytest.raises(InvalidInputException, match="Value null at 'name'"):
        parse_request(operation("CreateDatasetGroup"), body)


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"\xff\xfe\x00",
        b'{"maxResults": ' + b"1" * 5000 + b"}",  # over Python's int-from-string limit
        b"[" * 100_000 + b"]" * 100_000,  # nesting beyond the recursion limit
    ],
)
def test_undecodable_bodies_are_invalid_input(body: bytes) -> None:
    with pytest.raises(InvalidInputException, match="not valid JSON"):
        parse_request(operation("ListMetricAttributions"), body)


@pytest.mark.parametrize(
    ("body", "path"),
    [
        (b'{"name": "file-\\udcff"}', "'name'"),  # an escaped lone low surrogate, as JSON writes it
        (b'{"name": "a\\ud800b"}', "'name'"),  # a high surrogate with no low one after it
        (b'{"name": "x", "tags": [{"tagKey": "k\\udfff", "tagValue": "v"}]}', "'tags.1.member.tagKey'"),
        (b'{"name": "x", "unknown": {"\\ud800": 1}}', "Key at 'unknown'"),
        (b'{"name": "file-\xed\xb3\xbf"}', "not valid JSON"),  # the same surrogate, encoded as UTF-8 bytes
    ],
)
def test_lone_surrogates_are_invalid_input(body: bytes, path: str) -> None:
    """Text that is not Unicode cannot be stored (SQLite and every file format write UTF-8), so it is refused
    where it arrives, whichever member carries it."""
    with pytest.raises(InvalidInputException, match=re.escape(path)):
        parse_request(operation("CreateDatasetGroup"), body)


def test_surrogate_pairs_and_escaped_backslashes_are_text() -> None:
    event = b'{"eventType": "View", "sentAt": 1, "itemId": "\\ud83d\\ude00", "eventId": "\\\\ud800"}'
    body = b'{"trackingId": "t", "sessionId": "s", "eventList": [' + event + b"]}"
    params = parse_request(operation("PutEvents", EVENTS), body)
    assert (params["eventList"][0]["itemId"], params["eventList"][0]["eventId"]) == ("\U0001f600", "\\ud800")


def test_nesting_is_refused_before_decoding_far_below_the_recursion_limit() -> None:
    """Deep enough to refuse, shallow enough that nothing else running on the stack meanwhile runs out of it."""
    deep = b'{"name": "x", "tags": ' + b"[" * 101 + b"]" * 101 + b"}"
    with pytest.raises(InvalidInputException, match="nested more than 100 levels"):
        parse_request(operation("CreateDatasetGroup"), deep)


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    """In the body, the properties document is a string; in the document, the note is."""
    properties = json.dumps({"note": "[" * 500})
    event = {"eventType": "View", "sentAt": 1, "properties": properties}
    body = json.dumps({"trackingId": "t", "sessionId": "s", "eventList": [event]}).encode()
    assert parse_request(operation("PutEvents", EVENTS), body)["eventList"][0]["properties"] == properties


def test_body_that_is_not_an_object() -> None:
    with pytest.raises(InvalidInputException, match="must be a JSON object"):
        parse_request(operation("ListMetricAttributions"), b"[1, 2]")


# --- serialize ----------------------------------------------------------------------------------------------

WHEN = dt.datetime(2024, 5, 1, 12, 0, 30, 500000, tzinfo=dt.UTC)


def test_serialize_drops_unknown_members_and_converts_datetimes() -> None:
    shape = operation("DescribeMetricAttribution").output_shape
    value = {
        "metricAttribution": {
            "metricAttributionArn": "arn:aws:personalize:us-east-1:1:metric-attribution/ma",
            "name": "ma",
            "status": "ACTIVE",
            "creationDateTime": WHEN,
            "lastUpdatedDateTime": 1714564830.5,
            "metricsOutputConfig": {"roleArn": "r", "s3DataDestination": {"path": "s3://b/", "bogus": 1}},
            "metrics": [{"metricName": "m"}],  # not a member of the MetricAttribution shape
            "account": "secret",
            "failureReason": None,
        },
        "internal": True,
    }
    assert serialize(shape, value) == {
        "metricAttribution": {
            "metricAttributionArn": "arn:aws:personalize:us-east-1:1:metric-attribution/ma",
            "name": "ma",
            "status": "ACTIVE",
            "creationDateTime": WHEN.timestamp(),
            "lastUpdatedDateTime": 1714564830.5,
            "metricsOutputConfig": {"roleArn": "r", "s3DataDestination": {"path": "s3://b/"}},
        }
    }
    assert WHEN.timestamp() == 1714564830.5


def test_serialize_lists_of_structures() -> None:
    shape = operation("ListMetricAttributionMetrics").output_shape
    value = {
        "metrics": [
            {"eventType": "View", "metricName": "v", "expression": "SAMPLECOUNT()", "countingSince": 1.0},
            {"eventType": "Buy", "metricName": "b", "expression": "SUM(ITEMS.X)", "extra": [1]},
        ],
        "nextToken": "t",
    }
    assert serialize(shape, value) == {
        "metrics": [
            {"eventType": "View", "metricName": "v", "expression": "SAMPLECOUNT()"},
            {"eventType": "Buy", "metricName": "b", "expression": "SUM(ITEMS.X)"},
        ],
        "nextToken": "t",
    }


def test_serialize_maps_and_nested_lists() -> None:
    shape = operation("GetRecommendations", RUNTIME).output_shape
    value = {
        "itemList": [{"itemId": "i1", "score": 0.5, "metadata": {"k": "v"}, "reason": ["r"], "rank": 1}],
        "recommendationId": "RID-1",
    }
    assert serialize(shape, value) == {
        "itemList": [{"itemId": "i1", "score": 0.5, "metadata": {"k": "v"}, "reason": ["r"]}],
        "recommendationId": "RID-1",
    }


def test_serialize_none() -> None:
    assert serialize(operation("ListMetricAttributions").output_shape, None) is None


def test_success_response_is_readable_by_botocore() -> None:
    op = operation("DescribeMetricAttribution")
    response = success_response(CONTROL, op, {"metricAttribution": {"name": "ma", "creationDateTime": WHEN}})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert response.headers["x-amzn-requestid"]
    parsed = botocore_parse(CONTROL, "DescribeMetricAttribution", response)
    assert parsed["metricAttribution"] == {"name": "ma", "creationDateTime": WHEN}


def test_success_without_output_shape() -> None:
    json_response = success_response(CONTROL, operation("DeleteMetricAttribution"), None)
    assert (json_response.status_code, bytes(json_response.body)) == (200, b"{}")
    rest_response = success_response(EVENTS, operation("PutEvents", EVENTS), None)
    assert (rest_response.status_code, bytes(rest_response.body)) == (200, b"")
    assert rest_response.headers["content-type"] == "application/json"


# --- errors -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        InvalidInputException("bad name"),
        ResourceNotFoundException("Resource x does not exist."),
        LimitExceededException("too many"),
        ResourceInUseException("busy"),
    ],
)
def test_control_plane_errors(error: ServiceError) -> None:
    response = error_response(CONTROL, error)
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == error.code
    assert response.headers["content-type"] == "application/x-amz-json-1.1"
    assert body_of(response) == {"__type": error.code, "message": error.message}
    parsed = botocore_parse(CONTROL, "CreateMetricAttribution", response)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message


@pytest.mark.parametrize(
    ("error", "status"),
    [
        (ResourceNotFoundException("Tracking ID t does not exist."), 404),
        (InvalidInputException("bad"), 400),
        (ResourceInUseException("busy"), 409),
    ],
)
def test_events_errors_take_their_status_from_the_model(error: ServiceError, status: int) -> None:
    response = error_response(EVENTS, error)
    assert response.status_code == status
    assert response.headers["x-amzn-ErrorType"] == error.code
    assert response.headers["content-type"] == "application/json"
    assert body_of(response) == {"__type": error.code, "message": error.message}
    parsed = botocore_parse(EVENTS, "PutEvents", response)
    assert parsed["Error"]["Code"] == error.code
    assert parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["HTTPStatusCode"] == status


def test_runtime_not_found_is_404() -> None:
    assert error_response(RUNTIME, ResourceNotFoundException("no campaign")).status_code == 404


def test_error_not_in_the_model_falls_back_to_its_own_status() -> None:
    response = error_response(EVENTS, LimitExceededException("too many sources"))
    assert response.status_code == 400
    assert response.headers["x-amzn-ErrorType"] == "LimitExceededException"
    assert error_response(CONTROL, InternalFailure("oops")).status_code == 500


def test_error_message_is_json_escaped() -> None:
    message = "Value 'a\"b\\c' at 'name'\nline"
    assert body_of(error_response(CONTROL, InvalidInputException(message)))["message"] == message
