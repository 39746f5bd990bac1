"""Publishing the live series to CloudWatch (SPEC §4, reference D.6), against moto in server mode.

The queries are AWS's own sample's: ``get_metric_data`` on namespace ``AWS/Personalize``, MetricName the upper-cased
metric name, dimensions ``EventAttributionSource`` (upper-cased source) and ``DatasetGroupArn``, ``Period=900``,
``Stat=Sum``.

Where moto differs from CloudWatch:
- moto starts its periods at ``StartTime`` as given, while CloudWatch aligns 900 s periods to the clock. The queries
  here pass a ``StartTime`` on a 15-minute boundary, where both agree and each returned timestamp is a window start.
- moto keeps every datum and sums them at query time; CloudWatch does the same for ``Sum`` (it aggregates the data
  points of a period), so re-publishing a whole window instead of its delta would double count on both.
- moto does not refuse data older than two weeks or more than two hours ahead, CloudWatch does (and refuses the
  whole call with it); the events here are recent, and the test of a far-ahead timestamp says what it proves.
- moto's ``list_metrics`` lists a metric with two or more dimensions once per datum (its dimension comparison
  never matches two dimensions); CloudWatch lists each metric once. The assertions compare the set of metrics.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from recimpact.client import get_series
from recimpact.domain.attribution import WINDOW_SECONDS, window_start
from tests.conftest import Group, output_config, seed_metrics, unique
from tests.server import ServerProcess

pytestmark = pytest.mark.timeout(120)

NAMESPACE = "AWS/Personalize"
SOURCES = ("recommended_for_you", "viewed_X_also_viewed")  # as in AWS's sample
MARGINS = {"item-1": 2.5, "item-2": 4.0, "item-3": 10.25}
CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
PUBLISH_INTERVAL = 0.2
POLL_SECONDS = 20.0

# (metric name, upper-cased source, window start) → expected Sum
Expected = Counter[tuple[str, str, int]]


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    moto.start()
    host, port = moto.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        moto.stop()


@pytest.fixture
def moto_url(moto_server: str) -> str:
    """moto emptied before each test (its backends are process-wide), so ``list_metrics`` sees only that test's
    metrics."""
    reset = urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10):
        return moto_server


def listed_metrics(cw: Any) -> set[tuple[str, str, frozenset[tuple[str, str]]]]:
    """``list_metrics`` on the namespace, as a set of (namespace, name, dimensions)."""
    return {
        (m["Namespace"], m["MetricName"], frozenset((d["Name"], d["Value"]) for d in m["Dimensions"]))
        for m in cw.list_metrics(Namespace=NAMESPACE)["Metrics"]
    }


def serve_publishing_to(data_dir: Path, endpoint_url: str) -> ServerProcess:
    return ServerProcess(
        data_dir,
        "--cloudwatch-endpoint-url",
        endpoint_url,
        "--cloudwatch-interval",
        str(PUBLISH_INTERVAL),
        # Credentials from the environment, as boto3 finds them anywhere; no profile or config file interferes.
        env={**CREDENTIALS, "AWS_CONFIG_FILE": "/dev/null", "AWS_SHARED_CREDENTIALS_FILE": "/dev/null"},
    )


class Shop:
    """A dataset group with items, an event tracker and the launch post's attribution (countViews, sumMargin)."""

    def __init__(self, server: ServerProcess) -> None:
        self.personalize = server.client("personalize")
        self.events = server.client("personalize-events")
        self.group = Group(self.personalize)
        self.attribution_arn = self.personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=self.group.arn,
            metricsOutputConfig=output_config(),
            metrics=seed_metrics(),
        )["metricAttributionArn"]
        self.tracking_id = self.personalize.create_event_tracker(
            name=unique("tracker"), datasetGroupArn=self.group.arn
        )["trackingId"]
        self.events.put_items(
            datasetArn=self.group.items_dataset,
            items=[
                {
                    "itemId": item_id,
                    "properties": json.dumps(
                        {"price": 20.0, "categoryL1": "shoes", "categoryL2": "running", "margin": margin}
                    ),
                }
                for item_id, margin in MARGINS.items()
            ],
        )
        self.sent: Expected = Counter()
        self.slowest_call = 0.0
        self._offset = 0  # distinct timestamps: events identical in every attribute but eventId count once

    def send(self, window: int, source: str, event_type: str, item_id: str, count: int = 1) -> None:
        """``count`` events of one kind in ``window`` (one PutEvents call each, ≤ 10 events), noting what the
        seed metrics should add up to."""
        for _ in range(count):
            self._offset += 1
            assert self._offset < WINDOW_SECONDS
            started = time.monotonic()
            self.events.put_events(
                trackingId=self.tracking_id,
                userId="user-1",
                sessionId="session-1",
                eventList=[
                    {
                        "eventId": uuid.uuid4().hex,
                        "eventType": event_type,
                        "itemId": item_id,
                        "sentAt": dt.datetime.fromtimestamp(window + self._offset, dt.UTC),
                        "metricAttribution": {"eventAttributionSource": source},
                    }
                ],
            )
            self.slowest_call = max(self.slowest_call, time.monotonic() - started)
            if event_type.upper() == "VIEW":
                self.sent["COUNTVIEWS", source.upper(), window] += 1
            elif event_type.upper() == "PURCHASE":
                self.sent["SUMMARGIN", source.upper(), window] += MARGINS[item_id]


def cloudwatch(moto_url: str) -> Any:
    return boto3.client(
        "cloudwatch",
        endpoint_url=moto_url,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


def past_windows(count: int) -> list[int]:
    """The ``count`` whole windows before the current one, oldest first: every event lands in the past, and the
    query's ``StartTime`` sits on a window boundary."""
    current = window_start(time.time())
    return [current - WINDOW_SECONDS * i for i in range(count, 0, -1)]


def sums(
    cw: Any, group_arn: str, metric: str, source: str, first: int, period: int = 900
) -> dict[int, float]:
    """AWS's sample query: window start → Sum, for one metric and one (upper-cased) source."""
    response = cw.get_metric_data(
        StartTime=dt.datetime.fromtimestamp(first, dt.UTC),
        EndTime=dt.datetime.fromtimestamp(window_start(time.time()) + WINDOW_SECONDS, dt.UTC),
        MetricDataQueries=[
            {
                "Id": "q1",
                "MetricStat": {
                    "Metric": {
                        "Namespace": NAMESPACE,
                        "MetricName": metric,
                        "Dimensions": [
                            {"Name": "EventAttributionSource", "Value": source},
                            {"Name": "DatasetGroupArn", "Value": group_arn},
                        ],
                    },
                    "Period": period,
                    "Stat": "Sum",
                },
            }
        ],
    )
    (result,) = response["MetricDataResults"]
    return {
        int(ts.timestamp()): value for ts, value in zip(result["Timestamps"], result["Values"], strict=True)
    }


def published(cw: Any, group_arn: str, first: int) -> Expected:
    """Everything CloudWatch holds for the group's seed metrics and both sources, in the shape of ``Shop.sent``."""
    found: Expected = Counter()
    for metric in ("COUNTVIEWS", "SUMMARGIN"):
        for source in SOURCES:
            for window, value in sums(cw, group_arn, metric, source.upper(), first).items():
                found[metric, source.upper(), window] += value
    return found


def wait_until(condition: Callable[[], bool], what: str, timeout: float = POLL_SECONDS) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


def settle() -> None:
    """Several publishing rounds, so anything that would be published (again) has been."""
    time.sleep(PUBLISH_INTERVAL * 8)


def test_publishes_each_window_once_per_metric_and_source(tmp_path: Path, moto_url: str) -> None:
    cw = cloudwatch(moto_url)
    windows = past_windows(3)
    with serve_publishing_to(tmp_path / "data", moto_url) as server:
        shop = Shop(server)
        rfy, vxav = SOURCES
        a, b, c = windows
        shop.send(a, rfy, "View", "item-1", count=3)
        shop.send(a, rfy, "Purchase", "item-1")
        shop.send(a, rfy, "Purchase", "item-2")
        shop.send(a, vxav, "View", "item-2")
        shop.send(a, vxav, "Purchase", "item-3")
        shop.send(b, rfy, "view", "item-3")  # event types match case-insensitively
        shop.send(b, vxav, "View", "item-1", count=2)
        shop.send(b, rfy, "Click", "item-1")  # no metric counts clicks
        shop.send(c, rfy, "PURCHASE", "item-3")
        shop.send(c, vxav, "Purchase", "item-2", count=2)
        expected = shop.sent
        assert len({w for _, _, w in expected}) == 3

        wait_until(lambda: published(cw, shop.group.arn, a) == expected, "the first publication")

        # One value per window and per (metric, source), at the window start, exactly what was sent.
        views = sums(cw, shop.group.arn, "COUNTVIEWS", "RECOMMENDED_FOR_YOU", a)
        assert views == {a: 3.0, b: 1.0}
        margins = sums(cw, shop.group.arn, "SUMMARGIN", "RECOMMENDED_FOR_YOU", a)
        assert margins == {a: 6.5, c: 10.25}
        assert sums(cw, shop.group.arn, "SUMMARGIN", "VIEWED_X_ALSO_VIEWED", a) == {a: 10.25, c: 8.0}
        # Each datum is timestamped at its window's start: one-minute periods put it in the window's first minute.
        assert sums(cw, shop.group.arn, "COUNTVIEWS", "RECOMMENDED_FOR_YOU", a, period=60) == views
        # The dimension value is the upper-cased source: the source as sent matches nothing.
        assert sums(cw, shop.group.arn, "COUNTVIEWS", "recommended_for_you", a) == {}

        assert listed_metrics(cw) == {
            (
                NAMESPACE,
                metric,
                frozenset({("EventAttributionSource", source.upper()), ("DatasetGroupArn", shop.group.arn)}),
            )
            for metric in ("COUNTVIEWS", "SUMMARGIN")
            for source in SOURCES
        }

        # Late events into an already published window: its Sum becomes the new total, nothing counted twice.
        shop.send(a, rfy, "View", "item-2", count=2)
        shop.send(a, vxav, "Purchase", "item-1")
        expected = shop.sent
        assert expected["COUNTVIEWS", "RECOMMENDED_FOR_YOU", a] == 5
        wait_until(lambda: published(cw, shop.group.arn, a) == expected, "the late events")
        settle()
        assert published(cw, shop.group.arn, a) == expected
        assert sums(cw, shop.group.arn, "COUNTVIEWS", "RECOMMENDED_FOR_YOU", a) == {a: 5.0, b: 1.0}

        # The live series (recimpact's read API) holds the same totals CloudWatch shows.
        rows = get_series(server.url, shop.attribution_arn, None, None)["rows"]
        live = Counter(
            {
                (r["METRIC_NAME"], r["EVENT_ATTRIBUTION_SOURCE"].upper(), int(r["TIMESTAMP"])): r["VALUE"]
                for r in rows
            }
        )
        assert live == expected


def test_deleted_attribution_publishes_nothing_more(tmp_path: Path, moto_url: str) -> None:
    cw = cloudwatch(moto_url)
    a, b = past_windows(2)
    with serve_publishing_to(tmp_path / "data", moto_url) as server:
        shop = Shop(server)
        rfy, vxav = SOURCES
        shop.send(a, rfy, "View", "item-1", count=2)
        shop.send(b, vxav, "Purchase", "item-2")
        before = shop.sent.copy()
        wait_until(lambda: published(cw, shop.group.arn, a) == before, "the first publication")

        shop.personalize.delete_metric_attribution(metricAttributionArn=shop.attribution_arn)
        shop.send(a, rfy, "View", "item-1", count=2)  # into a published window
        shop.send(b, rfy, "Purchase", "item-3")  # a new (metric, source) in a published window
        settle()

        # What was published stays; nothing new arrives.
        assert published(cw, shop.group.arn, a) == before
        assert {(name, dict(dims)["EventAttributionSource"]) for _, name, dims in listed_metrics(cw)} == {
            ("COUNTVIEWS", "RECOMMENDED_FOR_YOU"),
            ("SUMMARGIN", "VIEWED_X_ALSO_VIEWED"),
        }


def test_a_timestamp_cloudwatch_refuses_does_not_stop_publishing(tmp_path: Path, moto_url: str) -> None:
    """CloudWatch refuses a whole PutMetricData call when one datum is more than two hours ahead (moto does not
    check; here the year-58000 window below could not even be turned into a request). Such windows stay in the
    live series and never hold back the others."""
    cw = cloudwatch(moto_url)
    (a,) = past_windows(1)
    rfy, _ = SOURCES
    with serve_publishing_to(tmp_path / "data", moto_url) as server:
        shop = Shop(server)

        def put_raw(sent_at: float, source: str) -> None:
            """Unsigned JSON, as a client that is not boto3 sends it: boto3 refuses a float for sentAt."""
            body = {
                "trackingId": shop.tracking_id,
                "sessionId": "session-raw",
                "eventList": [
                    {
                        "eventType": "View",
                        "itemId": "item-1",
                        "sentAt": sent_at,
                        "metricAttribution": {"eventAttributionSource": source},
                    }
                ],
            }
            request = urllib.request.Request(
                f"{server.url}/events",
                data=json.dumps(body).encode(),
                headers={"Content-Type": "application/json"},
                method="POST",
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200

        put_raw(time.time() * 1000, "milliseconds_client")  # milliseconds where seconds are expected
        put_raw(time.time() + 3 * 3600, "clock_ahead")  # published once it is within two hours
        shop.send(a, rfy, "View", "item-1", count=2)

        wait_until(
            lambda: published(cw, shop.group.arn, a) == shop.sent, "publishing despite the bad timestamps"
        )
        settle()
        assert {dict(dims)["EventAttributionSource"] for _, _, dims in listed_metrics(cw)} == {
            "RECOMMENDED_FOR_YOU"
        }
        rows = get_series(server.url, shop.attribution_arn, None, None)["rows"]
        assert {r["EVENT_ATTRIBUTION_SOURCE"] for r in rows} == {rfy, "milliseconds_client", "clock_ahead"}


def test_unreachable_cloudwatch_never_blocks_ingest(tmp_path: Path, moto_url: str) -> None:
    """Publishing is off the ingest path: with CloudWatch down, PutEvents stays fast and the live series complete;
    when CloudWatch comes back, what accumulated is published, once."""
    with socket.socket() as probe:  # a port that nobody listens on: connections are refused
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    with serve_publishing_to(tmp_path / "data", f"http://127.0.0.1:{closed_port}") as server:
        shop = Shop(server)
        (a,) = past_windows(1)
        rfy, _ = SOURCES
        for _ in range(5):
            shop.send(a, rfy, "View", "item-1", count=4)
            shop.send(a, rfy, "Purchase", "item-2")
            time.sleep(PUBLISH_INTERVAL)  # let publishing rounds fail in between
        assert shop.slowest_call < 1.0, (
            f"a PutEvents call took {shop.slowest_call:.2f} s while CloudWatch was unreachable"
        )

        rows = get_series(server.url, shop.attribution_arn, None, None)["rows"]
        assert {(r["METRIC_NAME"], r["EVENT_ATTRIBUTION_SOURCE"], r["VALUE"]) for r in rows} == {
            ("COUNTVIEWS", rfy, 20.0),
            ("SUMMARGIN", rfy, 20.0),
        }
        assert server.proc is not None
        assert server.proc.poll() is None, "the server must survive an unreachable CloudWatch"

        # CloudWatch comes back on that port (moto's state is process-wide: the same backend as moto_url's).
        revived = ThreadedMotoServer(ip_address="127.0.0.1", port=closed_port, verbose=False)
        revived.start()
        try:
            cw = cloudwatch(moto_url)
            # The publisher backs off exponentially (1, 2, 4, … s), so allow for one long wait.
            wait_until(
                lambda: published(cw, shop.group.arn, a) == shop.sent, "publishing after the outage", 30
            )
            settle()
            assert published(cw, shop.group.arn, a) == shop.sent
        finally:
            revived.stop()
