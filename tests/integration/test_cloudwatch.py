"""Publishing the live series to CloudWatch (SPEC §4, reference D.6), against moto in server mode, and against a
strict stand-in (``tests/cloudwatch_standin.py``) where CloudWatch's limits matter.

The queries are AWS's own sample's: ``get_metric_data`` on namespace ``AWS/Personalize``, MetricName the upper-cased
metric name, dimensions ``EventAttributionSource`` (upper-cased source) and ``DatasetGroupArn``, ``Period=900``,
``Stat=Sum``.

Where moto differs from CloudWatch:
- moto starts its periods at ``StartTime`` as given, while CloudWatch aligns 900 s periods to the clock. The queries
  here pass a ``StartTime`` on a 15-minute boundary, where both agree and each returned timestamp is a window start.
- moto keeps every datum and sums them at query time; CloudWatch does the same for ``Sum`` (it aggregates the data
  points of a period), so re-publishing a whole window instead of its delta would double count on both.
- moto refuses nothing CloudWatch's limits refuse (timestamps more than two weeks old or two hours ahead, values
  beyond 2^360, names over 255 characters, dimension values over 1,024); CloudWatch refuses the whole call for one
  such datum. The tests of what CloudWatch cannot take run against the strict stand-in, which refuses as it does.
- moto's ``list_metrics`` lists a metric with two or more dimensions once per datum (its dimension comparison
  never matches two dimensions); CloudWatch lists each metric once. The assertions compare the set of metrics.
"""

from __future__ import annotations

import concurrent.futures
import datetime as dt
import json
import logging
import math
import re
import socket
import threading
import time
import urllib.request
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import boto3
import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto.server import ThreadedMotoServer

from recimpact.cli.client import get_series
from recimpact.domain.arns import Scope
from recimpact.domain.attribution import WINDOW_SECONDS, window_start
from recimpact.domain.resources import Metric, MetricAttribution
from recimpact.sinks.cloudwatch import CloudWatchPublisher
from recimpact.store.catalog import SqliteCatalog
from recimpact.store.events import SqliteEventStore
from recimpact.store.interfaces import IngestTx
from recimpact.store.series import SeriesKey
from tests.cloudwatch_standin import CloudWatchStandIn
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
T = TypeVar("T")


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
    """A dataset group with items, an event tracker and an attribution: the launch post's (countViews, sumMargin)
    unless ``metrics`` are given."""

    def __init__(self, server: ServerProcess, metrics: list[dict[str, str]] | None = None) -> None:
        self.personalize = server.client("personalize")
        self.events = server.client("personalize-events")
        self.group = Group(self.personalize)
        self.attribution_arn = self.personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=self.group.arn,
            metricsOutputConfig=output_config(),
            metrics=metrics or seed_metrics(),
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


def test_a_timestamp_cloudwatch_refuses_does_not_stop_publishing(tmp_path: Path) -> None:
    """CloudWatch refuses a whole PutMetricData call when one datum is more than two hours ahead (the strict
    stand-in does too; moto does not). Such a window is not sent: one a few hours ahead (a client's clock) waits for
    its time, one more than two weeks ahead (a clock a year fast) is left out for good. Both stay in the live
    series, and neither holds back the others."""
    (a,) = past_windows(1)
    rfy, _ = SOURCES
    with CloudWatchStandIn() as standin, serve_publishing_to(tmp_path / "data", standin.url) as server:
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

        put_raw(time.time() + 366 * 86400, "year_ahead")
        put_raw(time.time() + 3 * 3600, "clock_ahead")  # published once it is within two hours
        shop.send(a, rfy, "View", "item-1", count=2)

        wait_until(lambda: totals(standin) == shop.sent, "publishing despite the bad timestamps")
        settle()
        assert totals(standin) == shop.sent
        assert standin.refusals == []
        rows = get_series(server.url, shop.attribution_arn, None, None)["rows"]
        assert {r["EVENT_ATTRIBUTION_SOURCE"] for r in rows} == {rfy, "year_ahead", "clock_ahead"}


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


# What CloudWatch cannot take, against the strict stand-in (``tests/cloudwatch_standin.py``): CloudWatch's documented
# limits, the whole call refused when one datum breaks one, as CloudWatch does.

Key = tuple[str, str, int]  # (MetricName, EventAttributionSource, window start), as CloudWatch receives them
REFUSED_LINE = re.compile(
    r"set aside .*: dataset group (?P<group>\S+), series (?P<series>\S+), metric (?P<metric>\S+),"
    r" source '(?P<source>[^']*)', window (?P<window>\S+): (?P<reason>.+)"
)


def received(standin: CloudWatchStandIn) -> dict[Key, list[float]]:
    """Every datum the stand-in accepted, by key: a key published once has one value."""
    found: dict[Key, list[float]] = defaultdict(list)
    for d in standin.snapshot():
        found[d.metric_name, d.dimension("EventAttributionSource"), int(d.timestamp)].append(d.value)
    return dict(found)


def totals(standin: CloudWatchStandIn) -> Expected:
    """What ``Stat=Sum, Period=900`` would show, in the shape of ``Shop.sent``."""
    return Counter({key: sum(values) for key, values in received(standin).items()})


def refused_lines(output: list[str] | list[logging.LogRecord]) -> list[re.Match[str]]:
    """The publisher's set-aside warnings, from a server's output or from captured log records."""
    texts = [line.getMessage() if isinstance(line, logging.LogRecord) else line for line in output]
    return [m for m in map(REFUSED_LINE.search, texts) if m is not None]


def test_metric_names_cloudwatch_cannot_take_do_not_stop_publishing(tmp_path: Path) -> None:
    """Personalize takes a metricName of up to 256 characters, CloudWatch a MetricName of up to 255; a RATIO is
    published as ``<NAME>_NUMERATOR`` and ``<NAME>_DENOMINATOR``, so a name of 250 characters overflows too. Those
    datums are set aside (logged, never sent), and the attribution's other metrics are published."""
    long_name, ratio_name = "n" * 256, "r" * 250
    metrics = [
        *seed_metrics(),
        {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": long_name},
        {
            "eventType": "View",
            "expression": "RATIO(SUM(ITEMS.MARGIN), SAMPLECOUNT())",
            "metricName": ratio_name,
        },
    ]
    a, b = past_windows(2)
    rfy, vxav = SOURCES
    with CloudWatchStandIn() as standin, serve_publishing_to(tmp_path / "data", standin.url) as server:
        shop = Shop(server, metrics)
        shop.send(a, rfy, "View", "item-1", count=2)
        shop.send(a, vxav, "View", "item-2")
        shop.send(a, rfy, "Purchase", "item-3")

        set_aside = {
            (name.upper(), source)
            for name in (long_name, f"{ratio_name}_NUMERATOR", f"{ratio_name}_DENOMINATOR")
            for source in SOURCES
        }
        wait_until(lambda: totals(standin) == shop.sent, "the seed metrics, published")
        wait_until(
            lambda: {(m["metric"], m["source"]) for m in refused_lines(server.output)} == set_aside,
            "a warning for each datum set aside",
        )
        warnings = len(refused_lines(server.output))
        settle()
        assert totals(standin) == shop.sent
        assert len(refused_lines(server.output)) == warnings, "a datum set aside is not retried"
        assert standin.refusals == [], "what CloudWatch cannot take is not sent"
        # The live series keeps every metric, long names included.
        rows = get_series(server.url, shop.attribution_arn, None, None)["rows"]
        assert {r["METRIC_NAME"] for r in rows} == {
            "COUNTVIEWS",
            "SUMMARGIN",
            long_name.upper(),
            ratio_name.upper(),
        }

        # Publishing goes on: later events are published as well.
        shop.send(b, vxav, "View", "item-3", count=2)
        wait_until(lambda: totals(standin) == shop.sent, "a later window")


GROUP_ARN = Scope(account="123456789012", region="us-east-1").arn("dataset-group", "shop")


class Clock:
    """The time a publisher (and the stand-in, when given it) reads: real time plus ``offset``."""

    def __init__(self, offset: float = 0.0) -> None:
        self.offset = offset

    def __call__(self) -> float:
        return time.time() + self.offset


def query_protocol_models(folder: str) -> str:
    """A copy of botocore's CloudWatch model that speaks only the query protocol, as botocore before 1.42.7 did."""
    model = (
        botocore.session.get_session()
        .get_component("data_loader")
        .load_service_model("cloudwatch", "service-2")
    )
    model["metadata"]["protocol"] = "query"
    model["metadata"]["protocols"] = ["query"]
    target = Path(folder) / "cloudwatch" / model["metadata"]["apiVersion"]
    target.mkdir(parents=True)
    (target / "service-2.json").write_text(json.dumps(model))
    return folder


def standin_client(url: str, region: str, query_models: str | None = None, compress: bool = True) -> Any:
    """boto3's CloudWatch client as the server makes it, with botocore's own retries off: the publisher's retries are
    under test."""
    session = botocore.session.get_session()
    if query_models is not None:
        session.get_component("data_loader").search_paths.insert(0, query_models)
    return boto3.Session(botocore_session=session).client(
        "cloudwatch",
        endpoint_url=url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"total_max_attempts": 1}, disable_request_compression=not compress),
    )


class Series:
    """An attribution's live series in an event store of its own, and a publisher to the stand-in, not started:
    ``publish_pending()`` runs one publishing round where the test can see it. Rows are written as the ingest path
    writes them (``add_to_series``), so values no event could produce can be tried too."""

    def __init__(
        self,
        folder: Path,
        standin: CloudWatchStandIn,
        clock: Clock | None = None,
        query_models: str | None = None,
        compress: bool = True,
    ) -> None:
        created = time.time()
        self.catalog = SqliteCatalog(folder / "catalog.sqlite3")
        self.events = SqliteEventStore(folder / "events.sqlite3")
        self.attribution = MetricAttribution(
            arn=Scope(account="123456789012", region="us-east-1").arn("metric-attribution", "impact"),
            name="impact",
            creation_date_time=created,
            last_updated_date_time=created,
            account="123456789012",
            region="us-east-1",
            dataset_group_arn=GROUP_ARN,
            metrics=[
                Metric(
                    event_type="View",
                    metric_name="countViews",
                    expression="SAMPLECOUNT()",
                    counting_since=created,
                ),
                Metric(
                    event_type="Purchase",
                    metric_name="sumMargin",
                    expression="SUM(ITEMS.MARGIN)",
                    counting_since=created,
                ),
            ],
            metrics_output_config=output_config(),
        )
        with self.catalog.transaction() as tx:
            tx.put(self.attribution)
        self.publisher = CloudWatchPublisher(
            self.events,
            self.catalog,
            lambda region: standin_client(standin.url, region, query_models, compress),
            interval=PUBLISH_INTERVAL,
            clock=clock,
        )

    def add(self, *rows: tuple[str, str, int, float]) -> None:
        """(metric, source, window start, value) added to the series, in one commit."""
        keys = [
            (SeriesKey(self.attribution.series_id, metric, "VIEW", "sum", source, window), value)
            for metric, source, window, value in rows
        ]

        def work(tx: IngestTx) -> None:
            for key, value in keys:
                tx.add_to_series(key, value)

        self.events.submit(work).result()

    def values(self) -> dict[tuple[str, str, int], float]:
        """The live series: (metric, source, window) → value."""
        return {
            (p.key.metric_name, p.key.source, p.key.window_start): p.value
            for p in self.events.series(self.attribution.series_id)
        }

    def close(self) -> None:
        self.publisher.close()
        self.events.close()
        self.catalog.close()


@pytest.fixture
def standin() -> Iterator[CloudWatchStandIn]:
    with CloudWatchStandIn() as cw:
        yield cw


@pytest.fixture
def series(tmp_path: Path, standin: CloudWatchStandIn) -> Iterator[Series]:
    s = Series(tmp_path, standin)
    yield s
    s.close()


def test_values_and_sources_cloudwatch_cannot_take_are_set_aside(
    series: Series, standin: CloudWatchStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    """CloudWatch takes a value of 0 or a magnitude between 2^-360 and 2^360 (no NaN, no infinity), and a dimension
    value of 1 to 1,024 printable ASCII characters. A datum outside those is set aside before it is sent, and the
    good datums of the same round are published."""
    w = past_windows(1)[0]
    long_source = "s" * 1025  # as a bulk import can bring it
    series.add(
        ("SUMMARGIN", "good", w, 5.0),
        ("SUMMARGIN", "overflow", w, 1e308),
        ("SUMMARGIN", "overflow", w, 1e308),  # 1e308 + 1e308: infinity
        ("SUMMARGIN", "huge", w, 1e200),  # finite, beyond 2^360
        ("SUMMARGIN", "tiny", w, 1e-200),  # not 0, below 2^-360
        ("COUNTVIEWS", long_source, w, 1.0),
        ("COUNTVIEWS", "caf\u00e9", w, 1.0),  # not ASCII
        ("COUNTVIEWS", "good", w, 3.0),
        ("COUNTVIEWS", "good", w - WINDOW_SECONDS, 2.0),
    )
    bad = {
        ("SUMMARGIN", "overflow"),
        ("SUMMARGIN", "huge"),
        ("SUMMARGIN", "tiny"),
        ("COUNTVIEWS", long_source[:100] + "..."),  # a long source is logged shortened
        ("COUNTVIEWS", "caf\u00e9"),
    }
    caplog.set_level(logging.WARNING, logger="recimpact.cloudwatch")

    assert series.publisher.publish_pending() == 3
    assert received(standin) == {
        ("SUMMARGIN", "GOOD", w): [5.0],
        ("COUNTVIEWS", "GOOD", w): [3.0],
        ("COUNTVIEWS", "GOOD", w - WINDOW_SECONDS): [2.0],
    }
    assert standin.refusals == [], "what CloudWatch cannot take is not sent"
    assert series.publisher.refused == len(bad)
    lines = refused_lines(caplog.records)
    assert {(m["metric"], m["source"]) for m in lines} == bad
    window = dt.datetime.fromtimestamp(w, dt.UTC).isoformat()
    assert {(m["group"], m["series"], m["window"]) for m in lines} == {
        (GROUP_ARN, series.attribution.series_id, window)
    }
    reasons = {m["source"]: m["reason"] for m in lines}
    assert "not a finite number" in reasons["overflow"]
    assert "out of range" in reasons["huge"]
    assert "out of range" in reasons["tiny"]
    assert "1025 characters" in reasons[long_source[:100] + "..."]
    assert "ASCII" in reasons["caf\u00e9"]

    # Set aside means handled: the next round sends and logs nothing, and the live series keeps every value.
    calls = standin.calls
    assert series.publisher.publish_pending() == 0
    assert standin.calls == calls
    assert len(refused_lines(caplog.records)) == len(bad)
    live = series.values()
    assert live["SUMMARGIN", "overflow", w] == math.inf
    assert live["COUNTVIEWS", long_source, w] == 1.0

    # Later events add to those windows: only the difference is published, and what still cannot be is set aside.
    series.add(("COUNTVIEWS", "good", w, 2.0), ("COUNTVIEWS", long_source, w, 1.0))
    assert series.publisher.publish_pending() == 1
    assert received(standin)["COUNTVIEWS", "GOOD", w] == [3.0, 2.0]
    assert series.publisher.refused == len(bad) + 1
    assert series.values()["COUNTVIEWS", long_source, w] == 2.0


@pytest.mark.parametrize("protocol", ["json", "query"])
def test_a_refused_call_is_split_down_to_the_datums_at_fault(
    tmp_path: Path, protocol: str, caplog: pytest.LogCaptureFixture
) -> None:
    """A refusal the checks cannot foresee: this server's clock runs a day fast, so windows it takes for the past are
    hours ahead for CloudWatch, which refuses each call holding one. The publisher splits the refused calls until
    only the datums at fault are left, publishes every other datum once, and sets those aside, once. Over both
    protocols botocore speaks to CloudWatch (JSON, and query before 1.42.7)."""
    models = query_protocol_models(str(tmp_path / "models")) if protocol == "query" else None
    caplog.set_level(logging.WARNING, logger="recimpact.cloudwatch")
    with CloudWatchStandIn() as standin:
        series = Series(tmp_path, standin, clock=Clock(offset=86400), query_models=models)
        try:
            now = window_start(time.time())
            good = [
                (metric, source, now - i * WINDOW_SECONDS, float(i + 1))
                for metric in ("COUNTVIEWS", "SUMMARGIN")
                for source in ("a", "b")
                for i in range(1, 11)
            ]
            ahead = [
                ("COUNTVIEWS", "a", now + 6 * 3600, 1.0),
                ("COUNTVIEWS", "b", now + 12 * 3600, 1.0),
                ("COUNTVIEWS", "b", now + 13 * 3600, 1.0),
                ("SUMMARGIN", "a", now + 8 * 3600, 2.0),
                ("SUMMARGIN", "b", now + 20 * 3600, 2.0),
            ]
            series.add(*good, *ahead)

            assert series.publisher.publish_pending() == len(good)
            assert received(standin) == {(m, s.upper(), w): [v] for m, s, w, v in good}
            assert standin.refusals, "CloudWatch refused calls, which the publisher split"
            assert series.publisher.refused == len(ahead)
            lines = refused_lines(caplog.records)
            assert sorted((m["metric"], m["source"], m["window"]) for m in lines) == sorted(
                (m, s, dt.datetime.fromtimestamp(w, dt.UTC).isoformat()) for m, s, w, _ in ahead
            )
            assert all("InvalidParameterValue" in m["reason"] and "Timestamp" in m["reason"] for m in lines)

            calls = standin.calls
            assert series.publisher.publish_pending() == 0
            assert standin.calls == calls
            assert len(refused_lines(caplog.records)) == len(ahead)
        finally:
            series.close()


def test_a_call_over_one_megabyte_is_split(tmp_path: Path) -> None:
    """PutMetricData takes at most 1 MB per request. botocore compresses bodies of 10 KiB or more, which keeps a
    batch far under it, but compression can be turned off: a batch of long sources (each ``"`` escaped in JSON) is
    then over, and it is sent in halves, nothing set aside."""
    with CloudWatchStandIn() as standin:
        series = Series(tmp_path, standin, compress=False)
        try:
            w = past_windows(1)[0]
            rows = [("COUNTVIEWS", f"{i:04d}" + '"' * 1000, w, 1.0) for i in range(500)]
            series.add(*rows)
            assert series.publisher.publish_pending() == len(rows)
            assert received(standin) == {(m, s.upper(), w): [v] for m, s, w, v in rows}
            assert any("over 1 MB" in message for message in standin.refusals)
            assert series.publisher.refused == 0
        finally:
            series.close()


def within(work: Callable[[], T], what: str, timeout: float = 60) -> T:
    """``work()`` on a daemon thread, so that a publisher that never returns fails the test instead of hanging it."""
    future: concurrent.futures.Future[T] = concurrent.futures.Future()

    def run() -> None:
        try:
            future.set_result(work())
        except BaseException as exc:
            future.set_exception(exc)

    threading.Thread(target=run, daemon=True).start()
    try:
        return future.result(timeout)
    except concurrent.futures.TimeoutError:
        raise AssertionError(f"{what} did not return within {timeout:.0f} s") from None


def test_windows_ahead_wait_for_their_time_without_holding_back_the_rest(tmp_path: Path) -> None:
    """Windows a few hours to two weeks ahead (clients whose clocks run fast) cannot be published yet. More of them
    than a round reads (5,000) must not hold back a current window, and each is published once its time comes."""
    clock = Clock()
    with CloudWatchStandIn(clock=clock) as standin:
        series = Series(tmp_path, standin, clock=clock)
        try:
            now = window_start(clock())
            ahead = [now + 3 * 3600 + i * WINDOW_SECONDS for i in range(1300)]  # 3 hours to 13.6 days ahead
            sources = ("ahead-1", "ahead-2", "ahead-3", "ahead-4")  # 5,200 windows, read before "now" below
            series.add(
                *[("COUNTVIEWS", s, w, 1.0) for s in sources for w in ahead], ("COUNTVIEWS", "now", now, 1.0)
            )

            assert within(series.publisher.publish_pending, "a round with 5,200 windows ahead") == 1
            assert received(standin) == {("COUNTVIEWS", "NOW", now): [1.0]}

            # Four hours later, the windows now less than two hours ahead are published, once; the rest still wait.
            clock.offset += 4 * 3600
            assert within(series.publisher.publish_pending, "the round four hours later") > 0
            published = received(standin)
            windows = {w for _, source, w in published if source != "NOW"}
            assert {w for w in ahead if w <= clock() + 3600} <= windows
            assert max(windows) <= clock() + 2 * 3600
            assert all(len(values) == 1 for values in published.values())

            # Two weeks later, every one of them has been published, once.
            clock.offset += 14 * 86400
            within(series.publisher.publish_pending, "the round two weeks later")
            assert received(standin) == {
                **{("COUNTVIEWS", s.upper(), w): [1.0] for s in sources for w in ahead},
                ("COUNTVIEWS", "NOW", now): [1.0],
            }
            assert standin.refusals == []
            assert series.publisher.refused == 0
        finally:
            series.close()


def test_throttling_and_server_errors_are_retried_and_lose_nothing(
    series: Series, standin: CloudWatchStandIn
) -> None:
    """Throttling and server errors blame no datum: the round fails and is retried after a back-off, nothing is
    set aside or split, and every datum is published exactly once (what was accepted before a failure is not
    re-sent)."""
    first = past_windows(1)[0]
    rows = [
        ("COUNTVIEWS", f"source-{s}", first - i * WINDOW_SECONDS, float(s + i + 1))
        for s in range(60)
        for i in range(20)
    ]  # 1,200 datums: three calls
    series.add(*rows)
    expected = {(m, s.upper(), w): [v] for m, s, w, v in rows}

    standin.fail_next(1, 400, "Throttling")
    with pytest.raises(ClientError, match="Throttling"):
        series.publisher.publish_pending()
    assert received(standin) == {}

    standin.fail_next(1, 500, "InternalServiceError", after=1)  # the second call of the round fails
    with pytest.raises(ClientError, match="InternalServiceError"):
        series.publisher.publish_pending()
    assert len(received(standin)) == 500

    # The background publisher backs off and retries through two more failures.
    standin.fail_next(1, 503, "ServiceUnavailable")
    standin.fail_next(1, 400, "Throttling")
    series.publisher.start()
    wait_until(lambda: len(received(standin)) == len(rows), "publishing after the failures")
    series.publisher.close()
    assert received(standin) == expected
    assert series.publisher.refused == 0
    assert standin.refusals == []
    # 1 + 2 calls in the first two rounds, then two failed calls and the two that were left: nothing was split.
    assert standin.calls == 7
