"""Bad requests by the thousand against one live server: zero 5xx, zero crashes, and a known set of good events intact.

Two sources of bad input, interleaved on one server (``test_model_fuzz.py`` fuzzes each operation on its own):
- request bodies built from botocore's input shapes (``tests/model_strategies.py``) for operations drawn from every
  one the server registers, naming the ARNs and tracking id of a throw-away dataset group so that some requests
  get past validation into the handlers; as many as the hypothesis profile's ``max_examples``;
- raw byte mutations of valid requests (flipped, inserted, deleted and truncated bytes in the body, the headers or
  the request line), sent on raw sockets.

The good events go to a second dataset group the fuzzer never names; its live series must be the same before and
after, and re-sending the good events (same eventIds) must change nothing, which proves they are all still stored.
"""

from __future__ import annotations

import json
import random
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import recimpact.services  # noqa: F401  (registers the operation handlers)
from recimpact.cli.client import get_series
from recimpact.domain.service_names import CONTROL
from recimpact.services import registry
from recimpact.wire.models import service_model
from tests.conftest import AWS_TEST_ENV, INTERACTIONS_SCHEMA, unique
from tests.fuzz_wire import Wire, answer_problems, request_for
from tests.model_strategies import ShapeStrategies, personalize_hints
from tests.server import ServerProcess

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


def test_bad_requests_cause_no_5xx_no_crash_and_leave_good_events_intact(
    live: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    fuzzed, known = Target(live), Target(live)
    send_good(live, known.tracking_id)
    before = series(live, known.attribution)
    assert (
        sum(row["VALUE"] for row in before if row["METRIC_NAME"] == "COUNTVIEWS")
        == GOOD_EVENTS - GOOD_EVENTS // 3
    )

    wire = Wire(live)
    hints, hinted_only = personalize_hints(str(tmp_path_factory.mktemp("fuzz-locations")))
    strategies = ShapeStrategies(real_values(fuzzed), hints, hinted_only)
    operations = registry.registered()
    statuses: list[int] = []

    @settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(data=st.data())
    def shaped(data: st.DataObject) -> None:
        service, name = data.draw(st.sampled_from(operations))
        body = data.draw(strategies.body(service_model(service).operation_model(name).input_shape))
        answer = wire.call(service, name, body.encode())
        statuses.append(answer.status)
        assert not answer_problems(service, name, answer), (service, name, body)

    shaped()

    rng = random.Random(20261123)
    seeds = [
        request_for(
            "personalize-events",
            "PutEvents",
            json.dumps(
                {
                    "trackingId": fuzzed.tracking_id,
                    "sessionId": "s",
                    "userId": "u",
                    "eventList": good_events()[:3],
                }
            ).encode(),
        ),
        request_for(CONTROL, "ListDatasetGroups", json.dumps({"maxResults": 5}).encode()),
        request_for(
            CONTROL,
            "DescribeMetricAttribution",
            json.dumps({"metricAttributionArn": fuzzed.attribution}).encode(),
        ),
    ]
    closed = 0
    for index in range(RAW_MUTATIONS):
        path, headers, body = rng.choice(seeds)
        if index % 3:
            status: int | None = wire.post(path, headers, mutate(body, rng)).status
        else:
            status = raw_status(wire.host, wire.port, mutate(raw_request(path, headers, body), rng))
            closed += status is None
        assert status is None or status < 500, (status, path)
        if status is not None:
            statuses.append(status)

    wire.close()
    assert sum(1 for status in statuses if status == 200) > 20  # some fuzz got all the way through
    assert live.proc is not None
    assert live.proc.poll() is None
    output = "".join(live.output)
    assert "Traceback" not in output
    assert "internal error" not in output

    after = series(live, known.attribution)
    assert after == before
    send_good(live, known.tracking_id)  # the same eventIds again: all stored, so nothing is counted twice
    assert series(live, known.attribution) == before
    print(f"fuzz: {len(statuses) + closed} requests, {closed} closed without an answer")
