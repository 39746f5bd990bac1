"""Click-through rates and other ratios (recimpact's IMPRESSIONCOUNT() and RATIO() expressions) against a
brute-force reference: random streams of GetRecommendations answers (exposures of the recommender) and PutEvents
calls (clicks and purchases carrying a recommendationId, or a partner's impression lists, duplicates, retries),
checked window by window after every example. Also: a server run with --strict-aws refuses the extensions."""

from __future__ import annotations

import json
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recimpact.cli.client import get_series
from recimpact.simulate import RetailSite
from tests.conftest import ROLE_ARN, Group, output_config, unique
from tests.hypothesis_profiles import examples
from tests.retail import RetailGroup, wait_recommender
from tests.server import ServerProcess

METRICS = [
    {"eventType": "Click", "expression": "RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())", "metricName": "ctr"},
    {"eventType": "Click", "expression": "SAMPLECOUNT()", "metricName": "clicks"},
    {"eventType": "View", "expression": "impressionCount()", "metricName": "impressions"},
    {
        "eventType": "Purchase",
        "expression": "RATIO(SUM(ITEMS.MARGIN), SAMPLECOUNT())",
        "metricName": "marginPer",
    },
]
PARTNER = "partner_carousel"
Key = tuple[str, str, int]  # (metric, source, window)


class Reference:
    """What the server should show, computed from what the test did."""

    def __init__(self, margins: dict[str, float]) -> None:
        self.margins = margins
        self.sums: defaultdict[tuple[str, str, int], float] = defaultdict(float)  # (part, source, window)
        self.exposures: set[Any] = set()
        self.event_ids: set[str] = set()
        self.contents: set[Any] = set()
        self.issued: dict[str, str] = {}  # recommendationId → recommender ARN

    def served(self, rid: str, arn: str, window: int, count: int) -> None:
        self.issued[rid] = arn
        self.exposures.add(rid)
        self.sums[("impressions", arn, window)] += count

    def event(self, user: str, event: dict[str, Any]) -> None:
        content = json.dumps(
            {k: v for k, v in event.items() if k != "eventId"} | {"user": user}, sort_keys=True
        )
        if event["eventId"] in self.event_ids or content in self.contents:
            return  # a duplicate counts once
        self.event_ids.add(event["eventId"])
        self.contents.add(content)
        explicit = (event.get("metricAttribution") or {}).get("eventAttributionSource")
        rid = event.get("recommendationId")
        source = explicit or self.issued.get(rid or "", "SOURCE_NAME_UNDEFINED")
        window = int(event["sentAt"] // 900 * 900)
        shown = event.get("impression")
        if shown and not (rid and rid in self.issued):
            key = (source, user, *shown)
            if key not in self.exposures:
                self.exposures.add(key)
                self.sums[("impressions", source, window)] += len(shown)
        if event["eventType"] == "Click":
            self.sums[("clicks", source, window)] += 1
        elif event["eventType"] == "Purchase":
            self.sums[("purchases", source, window)] += 1
            self.sums[("margin", source, window)] += self.margins[event["itemId"]]

    def rows(self) -> dict[Key, float]:
        want: dict[Key, float] = {}
        for (part, source, window), value in self.sums.items():
            if part == "clicks":
                want[("CLICKS", source, window)] = value
            elif part == "impressions":
                # A window with impressions has a click-through rate, 0 when nothing was clicked.
                want[("IMPRESSIONS", source, window)] = value
                want[("CTR", source, window)] = self.sums.get(("clicks", source, window), 0) / value
            elif part == "purchases":
                want[("MARGINPER", source, window)] = self.sums[("margin", source, window)] / value
        return want


@pytest.fixture(scope="module")
def shop(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    personalize = server.client("personalize")
    site = RetailSite(seed=21, n_items=120, n_users=200)
    retail = RetailGroup(personalize, tmp_path_factory.mktemp("ctr"), site, sessions=700)
    recommender = retail.recommender(personalize, "aws-ecomm-popular-items-by-views")
    assert wait_recommender(personalize, recommender)["status"] == "ACTIVE"
    attribution = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=retail.arn, metrics=METRICS, metricsOutputConfig=output_config()
    )["metricAttributionArn"]
    margins = {item.item_id: item.margin for item in site.items}
    return {
        "retail": retail,
        "recommender": recommender,
        "attribution": attribution,
        "ref": Reference(margins),
    }


def safe_now() -> float:
    """The current time, away from a window boundary, so an exposure's window is known to the test."""
    while (time.time() % 900) > 898.5:
        time.sleep(0.5)
    return time.time()


steps = st.lists(
    st.tuples(
        st.sampled_from(["serve", "click", "buy", "partner", "unknown-rid", "retry"]),
        st.integers(0, 10_000),
        st.integers(1, 6),
    ),
    min_size=1,
    max_size=12,
)


@settings(max_examples=examples(0.12), suppress_health_check=list(HealthCheck))
@given(steps=steps)
def test_ratios_match_the_reference(server: ServerProcess, shop: dict[str, Any], steps: list[Any]) -> None:
    runtime = server.client("personalize-runtime")
    events = server.client("personalize-events")
    retail: RetailGroup = shop["retail"]
    ref: Reference = shop["ref"]
    items = [item.item_id for item in retail.site.items]
    # What earlier examples served and sent stays usable: a retry may resend any of it.
    served: list[tuple[str, list[str]]] = shop.setdefault("served", [])
    sent: list[tuple[str, dict[str, Any]]] = shop.setdefault("sent", [])
    for kind, seed, count in steps:
        user = f"user-{seed % 50:06d}"
        if kind == "serve" or (not served and kind in ("click", "buy")):
            now = safe_now()
            answer = runtime.get_recommendations(recommenderArn=shop["recommender"], numResults=count)
            shown = [entry["itemId"] for entry in answer["itemList"]]
            ref.served(answer["recommendationId"], shop["recommender"], int(now // 900 * 900), len(shown))
            served.append((answer["recommendationId"], shown))
            continue
        if kind == "retry" and sent:
            user, event = sent[seed % len(sent)]
        else:
            event = {"eventId": unique("e"), "sentAt": round(time.time() - seed % 7200, 3)}
            if kind in ("click", "buy"):
                rid, shown = served[seed % len(served)]
                event |= {"eventType": "Click" if kind == "click" else "Purchase", "recommendationId": rid}
                event["itemId"] = (shown or items)[seed % len(shown or items)]
                if shown:
                    event["impression"] = shown
            elif kind == "partner":
                shown = [items[(seed + i) % len(items)] for i in range(count)]
                event |= {
                    "eventType": "Click" if seed % 3 else "Purchase",
                    "itemId": shown[0],
                    "impression": shown,
                }
                event["metricAttribution"] = {"eventAttributionSource": PARTNER}
            else:
                event |= {
                    "eventType": "Click",
                    "itemId": items[seed % len(items)],
                    "recommendationId": "RID-x",
                }
                event["impression"] = [items[seed % len(items)]]
        events.put_events(trackingId=retail.tracking_id, userId=user, sessionId="s", eventList=[event])
        ref.event(user, event)
        sent.append((user, event))
    got = {
        (row["METRIC_NAME"], row["EVENT_ATTRIBUTION_SOURCE"], int(row["TIMESTAMP"])): float(row["VALUE"])
        for row in get_series(server.url, shop["attribution"], None, None)["rows"]
    }
    want = ref.rows()
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value), key
    rows = get_series(server.url, shop["attribution"], None, None)["rows"]
    functions = {(row["METRIC_NAME"], row["MATH_FUNCTION"]) for row in rows}
    assert functions <= {("CTR", "ratio"), ("CLICKS", "samplecount"), ("IMPRESSIONS", "impressioncount"),
                         ("MARGINPER", "ratio")}  # fmt: skip


def test_ratio_totals_divide_the_sums(server: ServerProcess, shop: dict[str, Any]) -> None:
    """The dashboard's totals of a ratio are the ratio of the range's sums, never a sum of ratios."""
    import urllib.request

    url = f"{server.url}/api/v1/totals?metricAttributionArn={shop['attribution']}"
    with urllib.request.urlopen(url) as response:
        metrics = {m["metricName"]: m for m in json.loads(response.read())["metrics"]}
    ref: Reference = shop["ref"]
    clicks: defaultdict[str, float] = defaultdict(float)
    shown: defaultdict[str, float] = defaultdict(float)
    for (part, source, _), value in ref.sums.items():
        if part == "clicks":
            clicks[source] += value
        elif part == "impressions":
            shown[source] += value
    expected = {s: clicks[s] / shown[s] for s in shown if shown[s] and clicks[s]}
    got = {entry["source"]: entry["value"] for entry in metrics["CTR"]["sources"]}
    for source, value in expected.items():
        assert got[source] == pytest.approx(value)
    assert all(entry["share"] is None for entry in metrics["CTR"]["sources"])


def test_strict_aws_refuses_the_extensions(tmp_path: Path) -> None:
    with ServerProcess(tmp_path, "--strict-aws") as strict:
        personalize = strict.client("personalize")
        group = Group(personalize)
        for expression in ("IMPRESSIONCOUNT()", "RATIO(SAMPLECOUNT(), SAMPLECOUNT())"):
            with pytest.raises(ClientError) as excinfo:
                personalize.create_metric_attribution(
                    name=unique("ma"),
                    datasetGroupArn=group.arn,
                    metrics=[{"eventType": "Click", "expression": expression, "metricName": "m"}],
                    metricsOutputConfig={"roleArn": ROLE_ARN},
                )
            assert excinfo.value.response["Error"]["Code"] == "InvalidInputException"
            assert "--strict-aws" in excinfo.value.response["Error"]["Message"]
        personalize.create_metric_attribution(
            name=unique("ma"),
            datasetGroupArn=group.arn,
            metrics=[{"eventType": "Click", "expression": "SAMPLECOUNT()", "metricName": "m"}],
            metricsOutputConfig={"roleArn": ROLE_ARN},
        )


def test_compare_on_a_click_through_rate(server: ServerProcess, shop: dict[str, Any]) -> None:
    """A RATIO metric compares as a ratio (delta method): the partner's value is its clicks over its impressions."""
    from recimpact.cli.client import compare

    ref: Reference = shop["ref"]
    result = compare(server.url, shop["attribution"], "ctr", shop["recommender"], PARTNER)
    assert result["kind"] == "RATIO"
    clicks = sum(v for (part, source, _), v in ref.sums.items() if part == "clicks" and source == PARTNER)
    shown = sum(v for (part, source, _), v in ref.sums.items() if part == "impressions" and source == PARTNER)
    if shown:
        assert result["valueB"] == pytest.approx(clicks / shown)
    with pytest.raises(Exception, match="RATIO already"):
        compare(server.url, shop["attribution"], "ctr", shop["recommender"], PARTNER, per="clicks")


def test_bulk_reports_compute_the_same_ratios(
    server: ServerProcess, personalize: Any, tmp_path: Path
) -> None:
    """An import job's report: IMPRESSIONCOUNT() from the IMPRESSION column ('|'-separated, each list once per
    source and user, in the window it first appears) and RATIO() per window, as the live series computes them."""
    import csv as csv_module
    import random

    from recimpact.simulate import interactions_schema

    schema = interactions_schema(
        {"name": "IMPRESSION", "type": ["null", "string"]},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    )
    group = Group(personalize, interactions_schema=schema)
    margins = {f"i{n}": float(n + 1) for n in range(8)}
    events = server.client("personalize-events")
    events.put_items(
        datasetArn=group.items_dataset,
        items=[{"itemId": item, "properties": json.dumps({"MARGIN": m})} for item, m in margins.items()],
    )
    reports = tmp_path / "reports"
    personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=METRICS,
        metricsOutputConfig={"roleArn": ROLE_ARN, "s3DataDestination": {"path": reports.as_uri() + "/"}},
    )
    rng = random.Random(9)
    now = int(time.time())
    rows, ref = [], Reference(margins)
    for n in range(400):
        user, source = f"u{rng.randint(1, 15)}", rng.choice(["a", "b"])
        shown = rng.sample(sorted(margins), rng.randint(1, 4)) if rng.random() < 0.8 else []
        event_type = rng.choice(["Click", "Click", "Purchase", "View"])
        sent = now - rng.randint(0, 6 * 3600)
        item = shown[0] if shown else rng.choice(sorted(margins))
        rows.append([user, item, sent, event_type, "|".join(shown), source])
        event = {"eventId": str(n), "eventType": event_type, "itemId": item, "sentAt": sent,
                 "metricAttribution": {"eventAttributionSource": source}}  # fmt: skip
        if shown:
            event["impression"] = shown
        rows[-1].append(event)
    # The reference sees rows in time order: an impression list counts in the window it first appears.
    for row in sorted(rows, key=lambda r: r[2]):
        ref.event(row[0], row[-1])
    path = tmp_path / "interactions.csv"
    with open(path, "w", newline="") as handle:
        writer = csv_module.writer(handle)
        writer.writerow(
            ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "IMPRESSION", "EVENT_ATTRIBUTION_SOURCE"]
        )
        writer.writerows(row[:-1] for row in rows)
    job = personalize.create_dataset_import_job(
        jobName=unique("job"),
        datasetArn=group.interactions_dataset,
        dataSource={"dataLocation": path.as_uri()},
        roleArn=ROLE_ARN,
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    from tests.retail import wait_status

    done = wait_status(
        personalize.describe_dataset_import_job, "datasetImportJobArn", "datasetImportJob", job
    )
    assert done["status"] == "ACTIVE", done.get("failureReason")
    (report,) = reports.glob("*.csv")
    with open(report, newline="") as handle:
        got = {
            (r["METRIC_NAME"], r["EVENT_ATTRIBUTION_SOURCE"], int(r["TIMESTAMP"])): float(r["VALUE"])
            for r in csv_module.DictReader(handle)
        }
    want = ref.rows()
    assert got.keys() == want.keys()
    for key, value in want.items():
        assert got[key] == pytest.approx(value), key
