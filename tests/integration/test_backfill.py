"""`recimpact backfill`: events stored before the attribution existed (and events more than 14 days late) are
counted once the series is backfilled, every event exactly once whatever the order of backfills and live
ingest, checked against a brute-force reference over everything sent."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest

from recimpact.analysis.backfill import SETTLE_SECONDS
from recimpact.cli.client import get_series
from tests.conftest import AWS_TEST_ENV, ROLE_ARN, Group, unique
from tests.server import ServerProcess

SOURCES = ("carousel_a", "carousel_b")
MARGINS = {f"item-{i}": round(1.5 + i * 0.75, 2) for i in range(6)}
METRICS = [
    {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"},
    {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "margin"},
    {"eventType": "Purchase", "expression": "SUM(INTERACTIONS.EVENT_VALUE)", "metricName": "revenue"},
]


def events(rng: random.Random, count: int, oldest: float, newest: float) -> list[dict[str, Any]]:
    return [
        {
            "eventType": rng.choice(("View", "View", "Purchase")),
            "itemId": rng.choice(sorted(MARGINS)),
            "sentAt": round(rng.uniform(oldest, newest), 3),
            "eventValue": float(rng.randint(1, 50)),
            "metricAttribution": {"eventAttributionSource": rng.choice(SOURCES)},
        }
        for _ in range(count)
    ]


def reference(sent: list[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
    """Every event counted once, in its 15-minute window."""
    totals: defaultdict[tuple[str, str, int], float] = defaultdict(float)
    for e in sent:
        source, window = e["metricAttribution"]["eventAttributionSource"], int(e["sentAt"] // 900 * 900)
        if e["eventType"] == "View":
            totals[("VIEWS", source, window)] += 1
        else:
            totals[("MARGIN", source, window)] += MARGINS[e["itemId"]]
            totals[("REVENUE", source, window)] += e["eventValue"]
    return dict(totals)


def series(server: ServerProcess, arn: str) -> dict[tuple[str, str, int], float]:
    return {
        (row["METRIC_NAME"], row["EVENT_ATTRIBUTION_SOURCE"], int(row["TIMESTAMP"])): float(row["VALUE"])
        for row in get_series(server.url, arn, None, None)["rows"]
    }


def run_backfill(server: ServerProcess, arn: str, since: str, *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "recimpact", "backfill", "--endpoint-url", server.url,
         "--metric-attribution-arn", arn, "--since", since, "--format", "json", *extra],
        capture_output=True, text=True, timeout=120, env={**os.environ, **AWS_TEST_ENV}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def assert_matches(got: dict[tuple[str, str, int], float], want: dict[tuple[str, str, int], float]) -> None:
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value), key


def test_backfill_counts_every_event_exactly_once(
    server: ServerProcess, personalize: Any, tmp_path: Path
) -> None:
    rng = random.Random(5)
    group = Group(personalize)
    tracking_id = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group.arn)["trackingId"]
    client = server.client("personalize-events")
    client.put_items(
        datasetArn=group.items_dataset,
        items=[{"itemId": item, "properties": json.dumps({"MARGIN": m})} for item, m in MARGINS.items()],
    )

    def send(batch: list[dict[str, Any]]) -> None:
        for i in range(0, len(batch), 10):
            client.put_events(trackingId=tracking_id, userId="u", sessionId="s", eventList=batch[i : i + 10])

    now = time.time()
    before = events(rng, 120, now - 6 * 3600, now - 3600)  # sent before the attribution exists
    late = events(rng, 30, now - 20 * 86400, now - 16 * 86400)  # older than 14 days when they arrive
    send(before + late)
    reports = tmp_path / "reports"
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=METRICS,
        metricsOutputConfig={"roleArn": ROLE_ARN, "s3DataDestination": {"path": reports.as_uri() + "/"}},
    )["metricAttributionArn"]
    live = events(rng, 80, now - 5 * 3600, now)  # counted as they arrive, in the same windows as `before`
    send(live)
    assert_matches(series(server, arn), reference(live))
    time.sleep(SETTLE_SECONDS + 0.5)  # a backfill leaves just-received events to the next one

    first = run_backfill(server, arn, "-30d", "--report", "--no-publish")
    assert first["eventsCounted"] == len(before) + len(late)
    assert set(first["coverage"]) == {"VIEWS", "MARGIN", "REVENUE"}
    assert_matches(series(server, arn), reference(before + late + live))
    report = Path(first["report"].removeprefix("file://"))
    assert " - BACKFILL - " in report.name
    assert report.parent == reports

    again = run_backfill(server, arn, "-30d")  # nothing left to add
    assert again["eventsCounted"] == 0
    assert_matches(series(server, arn), reference(before + late + live))
    # More traffic: the live path counts the fresh events and skips those more than 14 days late.
    more = events(rng, 50, now - 6 * 3600, now) + events(rng, 10, now - 18 * 86400, now - 15 * 86400)
    send(more)
    fresh = [e for e in more if e["sentAt"] > now - 14 * 86400]
    assert_matches(series(server, arn), reference(before + late + live + fresh))
    # A later backfill (from a later time, even) picks up the late ones once they have settled, and only them.
    time.sleep(SETTLE_SECONDS + 0.5)
    later = run_backfill(server, arn, "-25d")
    assert later["eventsCounted"] == len(more) - len(fresh)
    assert_matches(series(server, arn), reference(before + late + live + more))


def test_backfill_errors(server: ServerProcess, personalize: Any) -> None:
    group = Group(personalize)
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=METRICS[:1],
        metricsOutputConfig={"roleArn": ROLE_ARN},
    )["metricAttributionArn"]

    def fails(*args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "recimpact", "backfill", "--endpoint-url", server.url, *args],
            capture_output=True, text=True, timeout=120, env={**os.environ, **AWS_TEST_ENV}, check=False,
        )  # fmt: skip
        assert done.returncode != 0
        assert "Traceback" not in done.stderr
        return done.stderr

    assert "ResourceNotFoundException" in fails("--metric-attribution-arn", arn + "x", "--since", "-1d")
    assert "InvalidInputException" in fails("--metric-attribution-arn", arn, "--since", "-1d", "--report")
    assert "InvalidInputException" in fails("--metric-attribution-arn", arn, "--since", "tomorrow-ish")


def test_backfill_counts_the_exposures_the_live_path_left_out(
    server: ServerProcess, personalize: Any
) -> None:
    """IMPRESSIONCOUNT() windows from before the attribution are backfilled with the clicks, so the click-through
    rate there is neither absent nor inflated (backfilled clicks beside live impressions alone)."""
    rng = random.Random(7)
    group = Group(personalize)
    tracking_id = personalize.create_event_tracker(name=unique("t"), datasetGroupArn=group.arn)["trackingId"]
    client = server.client("personalize-events")
    serial = iter(range(1_000_000))

    def traffic(count: int, oldest: float, newest: float) -> list[dict[str, Any]]:
        sent = []
        for _ in range(count):
            event: dict[str, Any] = {
                "eventType": rng.choice(("View", "Click")),
                "itemId": "item-0",
                "sentAt": round(rng.uniform(oldest, newest), 3),
                "metricAttribution": {"eventAttributionSource": rng.choice(SOURCES)},
            }
            if event["eventType"] == "View":  # a carousel of its own: each list counts once
                event["impression"] = [f"shown-{next(serial)}", "item-0", "item-1"]
            sent.append(event)
        return sent

    def send(batch: list[dict[str, Any]]) -> None:
        for i in range(0, len(batch), 10):
            client.put_events(trackingId=tracking_id, userId="u", sessionId="s", eventList=batch[i : i + 10])

    def expected(sent: list[dict[str, Any]]) -> dict[tuple[str, str, int], float]:
        shown: defaultdict[tuple[str, int], float] = defaultdict(float)
        clicks: defaultdict[tuple[str, int], float] = defaultdict(float)
        for e in sent:
            key = (e["metricAttribution"]["eventAttributionSource"], int(e["sentAt"] // 900 * 900))
            if "impression" in e:
                shown[key] += len(e["impression"])
            else:
                clicks[key] += 1
        want = {("SHOWN", s, w): n for (s, w), n in shown.items()}
        want |= {("CTR", s, w): clicks[(s, w)] / n for (s, w), n in shown.items()}
        return want

    now = time.time()
    before = traffic(60, now - 6 * 3600, now - 3600)
    send(before)
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=[
            {"eventType": "View", "expression": "IMPRESSIONCOUNT()", "metricName": "shown"},
            {
                "eventType": "Click",
                "expression": "RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())",
                "metricName": "ctr",
            },
        ],
        metricsOutputConfig={"roleArn": ROLE_ARN},
    )["metricAttributionArn"]
    live = traffic(40, now - 5 * 3600, now)
    send(live)
    assert_matches(series(server, arn), expected(live))
    time.sleep(SETTLE_SECONDS + 0.5)  # a backfill leaves just-received events to the next one

    first = run_backfill(server, arn, "-1d", "--no-publish")
    assert first["exposuresCounted"] == sum("impression" in e for e in before)
    assert_matches(series(server, arn), expected(before + live))
    again = run_backfill(server, arn, "-1d")
    assert (again["eventsCounted"], again["exposuresCounted"]) == (0, 0)
    assert_matches(series(server, arn), expected(before + live))
