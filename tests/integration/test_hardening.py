"""What a live server does with bad clients: oversized, malformed, mistyped, deeply nested or slow requests, unknown
targets and paths each get an AWS-format error (or a clean close), never a 500 and never a stuck worker; and the
access log records requests without secrets or event properties."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import socket
import threading
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.conftest import AWS_TEST_ENV, INTERACTIONS_SCHEMA, unique
from tests.server import ServerProcess

TIMEOUTS = {"RECIMPACT_BODY_TIMEOUT": "2", "RECIMPACT_HEAD_TIMEOUT": "2"}


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("hardened")
    with ServerProcess(data, "--access-log", env={**AWS_TEST_ENV, **TIMEOUTS}) as server:
        yield server


@pytest.fixture(scope="module")
def tracking_id(hardened: ServerProcess) -> str:
    personalize = hardened.client("personalize")
    group = personalize.create_dataset_group(name=unique("dg"))["datasetGroupArn"]
    with_note = {
        **INTERACTIONS_SCHEMA,
        "fields": [*INTERACTIONS_SCHEMA["fields"], {"name": "NOTE", "type": ["null", "string"]}],
    }
    schema = personalize.create_schema(name=unique("s"), schema=json.dumps(with_note))["schemaArn"]
    personalize.create_dataset(
        name=unique("d"), datasetGroupArn=group, datasetType="Interactions", schemaArn=schema
    )
    tracking: str = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group)["trackingId"]
    return tracking


def address(server: ServerProcess) -> tuple[str, int]:
    parts = urllib.parse.urlsplit(server.url)
    return parts.hostname or "127.0.0.1", parts.port or 80


def post(
    server: ServerProcess, path: str, body: bytes, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection(*address(server), timeout=15)
    try:
        conn.request("POST", path, body, headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def aws_error(status: int, headers: dict[str, str], body: bytes) -> tuple[int, str]:
    """(status, code) of an AWS-format error: the code in both the header and the body."""
    doc = json.loads(body)
    assert headers["x-amzn-errortype"] == doc["__type"], (headers, doc)
    assert doc["message"]
    return status, doc["__type"]


CONTROL = {
    "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups",
    "Content-Type": "application/x-amz-json-1.1",
}


def raw_exchange(server: ServerProcess, *parts: bytes, pause: float = 0.0, timeout: float = 10.0) -> bytes:
    """Send ``parts`` on one connection (``pause`` seconds apart), then read until the server closes it."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        for part in parts:
            sock.sendall(part)
            time.sleep(pause)
        received = b""
        while True:
            try:
                chunk = sock.recv(65536)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
        return received


def wait_for_access_lines(
    server: ServerProcess, request_ids: set[str], timeout: float = 10.0
) -> dict[str, dict[str, Any]]:
    """The access log lines of ``request_ids`` (by request id), polled from the server's output as it arrives."""
    deadline = time.monotonic() + timeout
    while True:
        found = {
            line["request_id"]: line
            for line in (json.loads(text) for text in list(server.output) if text.startswith("{"))
            if line["request_id"] in request_ids
        }
        if found.keys() == request_ids:
            return found
        assert time.monotonic() < deadline, (
            f"no access log line for {request_ids - found.keys()} in {timeout} s"
        )
        time.sleep(0.01)


def test_a_declared_oversized_body_is_refused_before_it_is_sent(hardened: ServerProcess) -> None:
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: 50000000\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_exchange(hardened, head)
    assert time.monotonic() - started < 5
    assert answer.startswith(b"HTTP/1.1 413 ")
    assert b"RequestEntityTooLargeException" in answer


def test_an_oversized_chunked_body_is_cut_off(hardened: ServerProcess) -> None:
    chunk = b"x" * 65536
    head = b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: AmazonPersonalize.ListDatasetGroups\r\nTransfer-Encoding: chunked\r\n\r\n"
    body = b"".join(b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(40))
    answer = raw_exchange(hardened, head, body)
    assert answer.startswith(b"HTTP/1.1 413 ")


def test_the_largest_put_events_the_model_allows_passes(hardened: ServerProcess, tracking_id: str) -> None:
    """10 events of about 10 KB each (every member at its maximum length) fit the PutEvents body limit."""
    events = hardened.client("personalize-events")
    now = dt.datetime.now(dt.UTC)
    event_list = [
        {
            "eventId": unique("e").ljust(256, "e"),
            "eventType": "View".ljust(256, "w"),
            "itemId": "i".ljust(256, "i"),
            "properties": json.dumps({"note": "n" * 1000}),  # 1,013 of its 1,024 characters
            "recommendationId": "r".ljust(40, "r"),
            "impression": ["i".ljust(256, str(k % 10)) for k in range(25)],
            "metricAttribution": {"eventAttributionSource": "s".ljust(1024, "s")},
            "sentAt": now,
        }
        for _ in range(10)
    ]
    assert len(json.dumps(event_list, default=str)) > 95_000
    response = events.put_events(trackingId=tracking_id, userId="u", sessionId="s", eventList=event_list)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"{", "InvalidInputException"),
        (b"\xff\xfe\x00", "InvalidInputException"),
        (b"[1, 2]", "InvalidInputException"),
        (b'{"maxResults": "ten"}', "InvalidInputException"),
        (b'{"maxResults": 1e999}', "InvalidInputException"),
        (b'{"maxResults": ' + b"9" * 5000 + b"}", "InvalidInputException"),
        (b"[" * 100_000 + b"]" * 100_000, "InvalidInputException"),
        (b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "InvalidInputException"),
        (b'{"nextToken": "' + b"\\ud800" + b'"}', "InvalidInputException"),
    ],
)
def test_malformed_or_mistyped_json_is_a_400(hardened: ServerProcess, body: bytes, code: str) -> None:
    assert aws_error(*post(hardened, "/", body, CONTROL)) == (400, code)


def test_huge_properties_are_refused_without_echoing_them(hardened: ServerProcess, tracking_id: str) -> None:
    marker = "SENSITIVE-PROPERTY-VALUE"
    event = {"eventType": "View", "sentAt": time.time(), "properties": json.dumps({"k": marker * 400})}
    body = json.dumps({"trackingId": tracking_id, "sessionId": "s", "eventList": [event]}).encode()
    status, headers, answer = post(hardened, "/events", body, {"Content-Type": "application/json"})
    assert aws_error(status, headers, answer) == (400, "InvalidInputException")
    assert marker.encode() not in answer


@pytest.mark.parametrize(
    "properties", ['{"a": ' * 400 + "1" + "}" * 400, "[" * 500 + "]" * 500, '{"n": 1e999}', "not json"]
)
def test_pathological_properties_are_a_400(
    hardened: ServerProcess, tracking_id: str, properties: str
) -> None:
    event = {"eventType": "View", "sentAt": time.time(), "properties": properties}
    body = json.dumps({"trackingId": tracking_id, "sessionId": "s", "eventList": [event]}).encode()
    status, headers, answer = post(hardened, "/events", body, {"Content-Type": "application/json"})
    assert aws_error(status, headers, answer) == (400, "InvalidInputException")


@pytest.mark.parametrize(
    ("method", "path", "headers", "expected"),
    [
        ("POST", "/", {"X-Amz-Target": "AmazonPersonalize.NoSuchThing"}, (400, "UnknownOperationException")),
        ("POST", "/", {"X-Amz-Target": "Other.ListDatasetGroups"}, (400, "UnknownOperationException")),
        ("POST", "/", {}, (400, "UnknownOperationException")),
        ("POST", "/no/such/path", {}, (404, "UnknownOperationException")),
        ("DELETE", "/events", {}, (404, "UnknownOperationException")),
        ("PUT", "/%2e%2e/%00", {}, (404, "UnknownOperationException")),
    ],
)
def test_unknown_targets_and_paths_get_an_aws_error(
    hardened: ServerProcess, method: str, path: str, headers: dict[str, str], expected: tuple[int, str]
) -> None:
    conn = http.client.HTTPConnection(*address(hardened), timeout=10)
    conn.request(method, path, b"{}", headers)
    response = conn.getresponse()
    result = response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    conn.close()
    assert aws_error(*result) == expected


def test_a_body_that_stops_arriving_is_a_408_and_a_close(hardened: ServerProcess) -> None:
    head = (
        b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    started = time.monotonic()
    answer = raw_exchange(hardened, head, b'{"trackingId"')
    assert 1.5 < time.monotonic() - started < 8
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"RequestTimeoutException" in answer


def test_headers_that_never_finish_are_a_408_and_a_close(hardened: ServerProcess) -> None:
    started = time.monotonic()
    answer = raw_exchange(hardened, b"POST / HTTP/1.1\r\nHost: x\r\n", b"X-Slow: 1\r\n", pause=0.5)
    assert 1.5 < time.monotonic() - started < 8
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_connection_that_sends_nothing_is_closed(hardened: ServerProcess) -> None:
    started = time.monotonic()
    raw_exchange(hardened)
    assert time.monotonic() - started < 8


def test_oversized_headers_are_a_431_and_a_close(hardened: ServerProcess) -> None:
    head = b"POST / HTTP/1.1\r\nHost: x\r\n" + b"".join(
        b"X-Pad-%d: %s\r\n" % (i, b"p" * 1000) for i in range(100)
    )
    answer = raw_exchange(hardened, head + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431 ")


def test_slow_clients_do_not_hold_up_anyone_else(hardened: ServerProcess) -> None:
    """Fifty connections trickling their headers and bodies while a normal client is served at full speed."""
    slow = [socket.create_connection(address(hardened)) for _ in range(50)]
    try:
        for index, sock in enumerate(slow):
            if index % 2:
                sock.sendall(b"POST /events HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n{")
            else:
                sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")
        personalize = hardened.client("personalize")
        started = time.monotonic()
        for _ in range(20):
            personalize.list_dataset_groups()
        assert time.monotonic() - started < 5
    finally:
        for sock in slow:
            sock.close()


def test_bad_clients_in_parallel_leave_the_server_healthy(hardened: ServerProcess, tracking_id: str) -> None:
    bodies = [b"{", b"[" * 10_000, b'{"eventList": 5}', b"\x00" * 1000, b'{"trackingId": null}']
    failures: list[Any] = []

    def hammer() -> None:
        for body in bodies * 10:
            status, _, _ = post(hardened, "/events", body, {"Content-Type": "application/json"})
            if status >= 500:
                failures.append(status)

    threads = [threading.Thread(target=hammer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    events = hardened.client("personalize-events")
    events.put_events(
        trackingId=tracking_id,
        userId="u",
        sessionId="s",
        eventList=[{"eventType": "View", "sentAt": time.time()}],
    )


def test_the_access_log_has_one_json_line_per_request_and_no_secrets(
    hardened: ServerProcess, tracking_id: str
) -> None:
    marker = "PROPERTY-MARKER-NEVER-LOGGED"
    events = hardened.client("personalize-events")
    sent = events.put_events(
        trackingId=tracking_id,
        userId="u",
        sessionId="s",
        eventList=[{"eventType": "View", "sentAt": time.time(), "properties": json.dumps({"note": marker})}],
    )
    with pytest.raises(ClientError) as refused:
        hardened.client("personalize").describe_dataset_group(
            datasetGroupArn="arn:aws:personalize:us-east-1:000000000000:dataset-group/missing"
        )
    # The server writes a request's line once its response is sent: wait for both lines, by request id.
    put_id = sent["ResponseMetadata"]["RequestId"]
    missing_id = refused.value.response["ResponseMetadata"]["RequestId"]
    lines = wait_for_access_lines(hardened, {put_id, missing_id})
    output = "".join(hardened.output)
    assert marker not in output
    assert "Credential=" not in output
    assert "testing" not in output  # the access key id and secret of the test clients
    put = lines[put_id]
    assert set(put) == {
        "time",
        "remote",
        "method",
        "path",
        "service",
        "operation",
        "status",
        "error",
        "latency_ms",
        "account",
        "request_id",
    }
    assert (put["service"], put["path"], put["account"]) == ("personalize-events", "/events", "000000000000")
    assert (put["operation"], put["status"]) == ("PutEvents", 200)
    missing = lines[missing_id]
    assert missing["operation"] == "DescribeDatasetGroup"
    assert (missing["status"], missing["error"]) == (400, "ResourceNotFoundException")
    logged = [json.loads(line) for line in list(hardened.output) if line.startswith("{")]
    assert all(line["status"] is None or line["status"] < 500 for line in logged)
