"""Thousands of bad requests against a live server: zero 5xx, zero crashes, and a known set of good events intact.

Two sources of bad input:
- requests built from botocore's input shapes by hypothesis, for every registered operation of the three services:
  members at, below and past their limits, wrong types, nulls, unknown members, non-finite and huge numbers, and
  real ARNs and tracking ids of a throw-away dataset group so that some requests get past validation into the
  handlers;
- raw byte mutations of valid requests (flipped, inserted, deleted and truncated bytes in the body, the headers or
  the request line), sent on raw sockets.

The good events go to a second dataset group the fuzzer never names; its live series must be the same before and
after, and re-sending the good events (same eventIds) must change nothing, which proves they are all still stored.
"""

from __future__ import annotations

import http.client
import json
import random
import socket
import time
import urllib.parse
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recimpact.services  # noqa: F401  (registers the operation handlers)
from recimpact.client import get_series
from recimpact.services import registry
from recimpact.wire.models import CONTROL, JSON_TARGET_PREFIX, service_model
from tests.conftest import AWS_TEST_ENV, INTERACTIONS_SCHEMA, unique
from tests.server import ServerProcess

SHAPE_EXAMPLES = 1400
RAW_MUTATIONS = 700
GOOD_EVENTS = 60

NOTE_SCHEMA = {
    **INTERACTIONS_SCHEMA,
    "fields": [*INTERACTIONS_SCHEMA["fields"], {"name": "NOTE", "type": ["null", "string"]}],
}
METRICS = [
    {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
    {"eventType": "Click", "expression": "SUM(INTERACTIONS.EVENT_VALUE)", "metricName": "clickValue"},
]


class Target:
    """A dataset group with Interactions, a tracker and an attribution."""

    def __init__(self, server: ServerProcess) -> None:
        p = server.client("personalize")
        self.group = p.create_dataset_group(name=unique("dg"))["datasetGroupArn"]
        self.schema = p.create_schema(name=unique("s"), schema=json.dumps(NOTE_SCHEMA))["schemaArn"]
        self.dataset = p.create_dataset(
            name=unique("d"), datasetGroupArn=self.group, datasetType="Interactions", schemaArn=self.schema
        )["datasetArn"]
        tracker = p.create_event_tracker(name=unique("t"), datasetGroupArn=self.group)
        self.tracker_arn, self.tracking_id = tracker["eventTrackerArn"], tracker["trackingId"]
        self.attribution = p.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=self.group,
            metrics=METRICS,
            metricsOutputConfig={
                "roleArn": "arn:aws:iam::000000000000:role/r",
                "s3DataDestination": {"path": "s3://b/"},
            },
        )["metricAttributionArn"]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    env = {**AWS_TEST_ENV, "RECIMPACT_BODY_TIMEOUT": "2", "RECIMPACT_HEAD_TIMEOUT": "2"}
    with ServerProcess(tmp_path_factory.mktemp("fuzz"), env=env) as server:
        yield server


def good_events() -> list[dict[str, Any]]:
    base = time.time() - 3600
    return [
        {
            "eventId": f"good-{i}",
            "eventType": "Click" if i % 3 == 0 else "View",
            "eventValue": float(i),
            "itemId": f"item-{i % 7}",
            "properties": json.dumps({"note": f"n{i}"}),
            "sentAt": base + i,
            "metricAttribution": {"eventAttributionSource": f"source-{i % 4}"},
        }
        for i in range(GOOD_EVENTS)
    ]


def send_good(server: ServerProcess, tracking_id: str) -> None:
    events = server.client("personalize-events")
    batch = good_events()
    for start in range(0, len(batch), 10):
        events.put_events(
            trackingId=tracking_id, userId="good-user", sessionId="good", eventList=batch[start : start + 10]
        )


def series(server: ServerProcess, attribution: str) -> list[Any]:
    rows: list[Any] = get_series(server.url, attribution, "-1d", None)["rows"]
    return sorted(rows, key=lambda row: json.dumps(row, sort_keys=True))


# -- strategies from botocore shapes --------------------------------------------------------------------------

_ANY_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)


def _string(shape: Any, real: list[str]) -> st.SearchStrategy[Any]:
    meta = shape.metadata
    low, high = meta.get("min", 0), min(meta.get("max", 64), 2048)
    options = [
        st.text(min_size=low, max_size=min(high, 40)),
        st.sampled_from(
            ["", " ", "\x00", "\ud7ff", "\U0001f600" * 3, "a" * (high + 1), "arn:aws:personalize:::x/"]
        ),
    ]
    if meta.get("enum"):
        options.append(st.sampled_from(meta["enum"]))
    if real:
        options.append(st.sampled_from(real))
    if shape.name.endswith("JSON") or "properties" in shape.name.lower():
        options.append(_ANY_JSON.map(json.dumps))
    return st.one_of(options)


def shape_strategy(
    shape: Any, real: dict[str, list[str]], name: str = "", depth: int = 0
) -> st.SearchStrategy[Any]:
    kind = shape.type_name
    if depth > 5:
        return st.none()
    if kind == "structure":
        members = {
            key: shape_strategy(member, real, key, depth + 1)
            for key, member in list(shape.members.items())[:30]
        }
        required = [key for key in shape.required_members if key in members]
        fixed = st.fixed_dictionaries(
            {key: members[key] for key in required},
            optional={key: strategy for key, strategy in members.items() if key not in required},
        )
        extra = st.dictionaries(st.text(max_size=10), _ANY_JSON, max_size=2)
        built = st.tuples(fixed, extra).map(lambda pair: {**pair[1], **pair[0]})
        return st.one_of(built, built, built, _ANY_JSON)
    if kind == "list":
        high = min(shape.metadata.get("max", 5), 12)
        return st.one_of(
            st.lists(shape_strategy(shape.member, real, name, depth + 1), max_size=high + 1), _ANY_JSON
        )
    if kind == "map":
        return st.dictionaries(
            st.text(max_size=10), shape_strategy(shape.value, real, name, depth + 1), max_size=4
        )
    if kind == "string":
        return st.one_of(_string(shape, real.get(name, [])), _ANY_JSON)
    if kind in ("integer", "long"):
        return st.one_of(st.integers(), st.sampled_from([-1, 0, 2**31, 2**63, 10**30]), _ANY_JSON)
    if kind in ("float", "double"):
        return st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), _ANY_JSON)
    if kind == "timestamp":
        return st.one_of(
            st.floats(allow_nan=True, allow_infinity=True),
            st.integers(min_value=-(2**70), max_value=2**70),
            st.text(max_size=30),
            st.just(time.time()),
        )
    if kind == "boolean":
        return st.one_of(st.booleans(), _ANY_JSON)
    return _ANY_JSON


def _operations() -> list[tuple[str, str]]:
    return [(service, name) for service, name in registry.registered()]


def request_for(service: str, operation_name: str, params: Any) -> tuple[str, dict[str, str], bytes]:
    """(path, headers, body) as botocore would send the call, with ``params`` as the JSON body."""
    body = json.dumps(params).encode()
    if service == CONTROL:
        return (
            "/",
            {
                "X-Amz-Target": f"{JSON_TARGET_PREFIX}.{operation_name}",
                "Content-Type": "application/x-amz-json-1.1",
            },
            body,
        )
    http = service_model(service).operation_model(operation_name).http
    return http["requestUri"], {"Content-Type": "application/json"}, body


class Wire:
    """One keep-alive connection that re-opens itself when the server closes it; every status is recorded."""

    def __init__(self, server: ServerProcess) -> None:
        parts = urllib.parse.urlsplit(server.url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.conn: http.client.HTTPConnection | None = None
        self.statuses: list[int] = []
        self.fivexx: list[tuple[int, str, bytes, bytes]] = []

    def post(self, path: str, headers: dict[str, str], body: bytes) -> int:
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=15)
            try:
                self.conn.request("POST", path, body, headers)
                response = self.conn.getresponse()
                answer = response.read()
                if response.getheader("connection", "").lower() == "close":
                    self.conn.close()
                    self.conn = None
            except (http.client.HTTPException, ConnectionError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            self.statuses.append(response.status)
            if response.status >= 500:
                self.fivexx.append((response.status, path, body[:300], answer[:300]))
            return response.status
        raise AssertionError("unreachable")


def real_values(target: Target) -> dict[str, list[str]]:
    return {
        "trackingId": [target.tracking_id],
        "datasetGroupArn": [target.group],
        "datasetArn": [target.dataset],
        "schemaArn": [target.schema],
        "eventTrackerArn": [target.tracker_arn],
        "metricAttributionArn": [target.attribution],
        "resourceArn": [target.group, target.attribution],
        "eventType": ["View", "Click"],
        "expression": ["SAMPLECOUNT()", "SUM(INTERACTIONS.EVENT_VALUE)"],
    }


# -- raw mutations ----------------------------------------------------------------------------------------------


def mutate(data: bytes, rng: random.Random) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(5)
        at = rng.randrange(len(data) + 1)
        if op == 0 and data:
            data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
        elif op == 1:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        elif op == 2:
            del data[at : at + rng.randint(1, 16)]
        elif op == 3:
            data = data[:at]
        else:
            data[at:at] = rng.choice([b"{", b"[" * 200, b'"', b"\\u", b"\r\n", b"\x00", b"1e99999", b"-"])
    return bytes(data)


def raw_request(path: str, headers: dict[str, str], body: bytes) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: fuzz\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


def raw_status(host: str, port: int, payload: bytes) -> int | None:
    """The status of the server's answer, or None when it closed without one (a clean close)."""
    with socket.create_connection((host, port), timeout=15) as sock:
        sock.sendall(payload)
        sock.shutdown(socket.SHUT_WR)
        received = b""
        while len(received) < 12:
            try:
                chunk = sock.recv(4096)
            except ConnectionResetError:
                break
            if not chunk:
                break
            received += chunk
    if not received:
        return None
    assert received.startswith(b"HTTP/1.1 "), received[:100]
    return int(received[9:12])


# -- the test ---------------------------------------------------------------------------------------------------


def test_thousands_of_bad_requests_cause_no_5xx_no_crash_and_leave_good_events_intact(
    live: ServerProcess,
) -> None:
    started = time.monotonic()
    fuzzed, known = Target(live), Target(live)
    send_good(live, known.tracking_id)
    before = series(live, known.attribution)
    assert (
        sum(row["VALUE"] for row in before if row["METRIC_NAME"] == "COUNTVIEWS")
        == GOOD_EVENTS - GOOD_EVENTS // 3
    )

    wire = Wire(live)
    real = real_values(fuzzed)
    operations = _operations()
    models = {service: service_model(service) for service, _ in operations}

    @settings(
        max_examples=SHAPE_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(data=st.data())
    def shaped(data: st.DataObject) -> None:
        service, name = data.draw(st.sampled_from(operations))
        shape = models[service].operation_model(name).input_shape
        params = data.draw(shape_strategy(shape, real) if shape is not None else _ANY_JSON)
        wire.post(*request_for(service, name, params))

    shaped()

    rng = random.Random(20261123)
    seeds = [
        request_for(
            "personalize-events",
            "PutEvents",
            {
                "trackingId": fuzzed.tracking_id,
                "sessionId": "s",
                "userId": "u",
                "eventList": good_events()[:3],
            },
        )
    ]
    seeds.append(request_for(CONTROL, "ListDatasetGroups", {"maxResults": 5}))
    seeds.append(
        request_for(CONTROL, "DescribeMetricAttribution", {"metricAttributionArn": fuzzed.attribution})
    )
    closed = raw_answered = 0
    for index in range(RAW_MUTATIONS):
        path, headers, body = rng.choice(seeds)
        if index % 3:
            status: int | None = wire.post(path, headers, mutate(body, rng))
        else:
            status = raw_status(wire.host, wire.port, mutate(raw_request(path, headers, body), rng))
            closed += status is None
            raw_answered += status is not None
        assert status is None or status < 500, (status, path)

    assert wire.fivexx == []
    sent = len(wire.statuses) + raw_answered + closed
    assert sent >= SHAPE_EXAMPLES + RAW_MUTATIONS - 50  # hypothesis may stop a few short of max_examples
    assert sum(1 for status in wire.statuses if status == 200) > 20  # some fuzz got all the way through
    assert live.proc is not None
    assert live.proc.poll() is None
    output = "".join(live.output)
    assert "Traceback" not in output
    assert "internal error" not in output

    after = series(live, known.attribution)
    assert after == before
    send_good(live, known.tracking_id)  # the same eventIds again: all stored, so nothing is counted twice
    assert series(live, known.attribution) == before
    elapsed = time.monotonic() - started
    assert elapsed < 120, elapsed
    print(
        f"fuzz: {sent} requests ({len(wire.statuses) - 2 * RAW_MUTATIONS // 3} from shapes) in {elapsed:.1f} s, {closed} closed without an answer"
    )
