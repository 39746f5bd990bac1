"""``recimpact demo``: the whole story on the embedded server, through boto3 as a user would write it.

Dataset group → schemas → datasets → event tracker → the launch post's metric attribution (``countViews`` =
SAMPLECOUNT() of View, ``sumMargin`` = SUM(ITEMS.MARGIN) of Purchase); a synthetic retail site's week of history
imported in bulk with its attribution report; two recommenders trained on it; then a day of live traffic in which
each session's carousel comes from one of the recommenders (GetRecommendations, events carrying the
``recommendationId``) or from a partner's carousel (``eventAttributionSource``), and the per-source comparison of
both. The simulated sources have known effects (``recommended-for-you`` converts 20% better, the partner 10% worse),
so the numbers can be checked against the truth.
"""

from __future__ import annotations

import csv
import json
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from recimpact.cli.client import compare, get_series
from recimpact.cli.output import format_interval, format_lift, format_number, show_table
from recimpact.settings import Settings
from recimpact.simulate import (
    EVENT_ATTRIBUTION_SOURCE_FIELD,
    ITEMS_SCHEMA,
    SEED_METRICS,
    RetailSite,
    Source,
    interactions_schema,
    write_interactions_csv,
)
from recimpact.traffic import run_live
from recimpact.wire.server import EmbeddedServer

_MARKER = ".recimpact-demo"

INTERACTIONS_SCHEMA = interactions_schema(EVENT_ATTRIBUTION_SOURCE_FIELD)
# The launch post's metrics, and two of recimpact's extensions: the items the carousels showed, and views per item
# shown (the click-through rate AWS's post talks of but cannot compute).
METRICS = [
    *SEED_METRICS,
    {"eventType": "View", "expression": "IMPRESSIONCOUNT()", "metricName": "impressions"},
    {"eventType": "View", "expression": "RATIO(SAMPLECOUNT(), IMPRESSIONCOUNT())", "metricName": "ctr"},
]
RECOMMENDERS = {
    "recommended-for-you": ("aws-ecomm-recommended-for-you", 1.2),
    "viewed-x-also-viewed": ("aws-ecomm-customers-who-viewed-x-also-viewed", 1.0),
}
PARTNER = Source("partner_carousel", share=1 / 3, relevance=0.3, conversion_lift=0.9)
HISTORY_SESSIONS = 12_000
LIVE_SESSIONS = 6_000


def _fresh(data_dir: Path) -> None:
    """Start from nothing, but only ever delete a folder an earlier demo made."""
    if data_dir.exists():
        if not (data_dir / _MARKER).exists():
            raise SystemExit(f"{data_dir} exists and was not made by the demo; choose another --data-dir")
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True)
    (data_dir / _MARKER).touch()


def client(service: str, url: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id="demo",
        aws_secret_access_key="demo",
    )


def run_demo(
    console: Console, data_dir: Path, live_sessions: int = LIVE_SESSIONS, keep_serving: bool = False
) -> None:
    started = time.monotonic()
    _fresh(data_dir)
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir)
    with EmbeddedServer(settings) as server:
        console.print(
            f"[bold]recimpact demo[/] — embedded server at {server.url}, data in {data_dir}/",
            soft_wrap=True,
            highlight=False,
        )
        personalize = client("personalize", server.url)
        resources = _create_resources(console, personalize, data_dir)
        site = RetailSite(seed=7)
        history, report = _import_history(console, personalize, site, resources, data_dir)
        recommenders = _train_recommenders(console, personalize, resources["group"])
        sources = (
            *(
                Source(name, share=1 / 3, conversion_lift=RECOMMENDERS[name][1], arn=arn)
                for name, arn in recommenders.items()
            ),
            PARTNER,
        )
        site = RetailSite(seed=7, sources=sources)
        sent = _live_traffic(console, server.url, personalize, site, resources, live_sessions)
        live = get_series(server.url, resources["attribution"], None, None)["rows"]
        names = {arn: f"recommender/{name}" for name, arn in recommenders.items()}
        _comparison(console, "Bulk history: the import job's report", _read_report(report), history, {})
        _comparison(console, "Live: today's traffic, from the 15-minute series", live, sent, names)
        baseline, better = recommenders["viewed-x-also-viewed"], recommenders["recommended-for-you"]
        _significance(console, server.url, resources["attribution"], baseline, better, names)
        console.print(f"report CSV: {report}", soft_wrap=True, highlight=False)
        console.print(f"dashboard:  {server.url}/", soft_wrap=True, highlight=False)
        console.print(f"demo took {time.monotonic() - started:.0f} s", highlight=False)
        if keep_serving:
            console.print("serving the dashboard until Ctrl-C...")
            try:
                while True:
                    time.sleep(3600)
            except KeyboardInterrupt:
                pass
        else:
            console.print(
                f"browse this data again: recimpact serve --data-dir {data_dir}  (then open the dashboard, or "
                "`recimpact metrics` / `recimpact reports`)",
                soft_wrap=True,
                highlight=False,
            )


def _create_resources(console: Console, personalize: Any, data_dir: Path) -> dict[str, str]:
    """The seed post's flow: dataset group, schemas, datasets, tracker, the countViews/sumMargin attribution."""
    created: list[tuple[str, str, str]] = []
    group_arn = personalize.create_dataset_group(name="retail-demo", domain="ECOMMERCE")["datasetGroupArn"]
    created.append(("dataset group", group_arn, _status(personalize.describe_dataset_group, group_arn)))
    interactions_schema = personalize.create_schema(
        name="retail-demo-interactions", schema=json.dumps(INTERACTIONS_SCHEMA), domain="ECOMMERCE"
    )["schemaArn"]
    items_schema = personalize.create_schema(
        name="retail-demo-items", schema=json.dumps(ITEMS_SCHEMA), domain="ECOMMERCE"
    )["schemaArn"]
    created += [("schema", interactions_schema, ""), ("schema", items_schema, "")]
    datasets = {}
    for dataset_type, schema_arn in (("INTERACTIONS", interactions_schema), ("ITEMS", items_schema)):
        arn = personalize.create_dataset(
            name=f"retail-demo-{dataset_type.lower()}",
            datasetGroupArn=group_arn,
            datasetType=dataset_type,
            schemaArn=schema_arn,
        )["datasetArn"]
        datasets[dataset_type] = arn
        created.append(("dataset", arn, _status(personalize.describe_dataset, arn)))
    tracker = personalize.create_event_tracker(name="retail-demo-tracker", datasetGroupArn=group_arn)
    created.append(("event tracker", tracker["eventTrackerArn"], "ACTIVE"))
    attribution_arn = personalize.create_metric_attribution(
        name="retail-demo-attribution",
        datasetGroupArn=group_arn,
        metricsOutputConfig={
            "roleArn": "arn:aws:iam::000000000000:role/recimpact-demo",
            "s3DataDestination": {"path": (data_dir / "reports").resolve().as_uri() + "/"},
        },
        metrics=METRICS,
    )["metricAttributionArn"]
    created.append(
        (
            "metric attribution",
            attribution_arn,
            _status(personalize.describe_metric_attribution, attribution_arn),
        )
    )
    console.print("[bold]Created through boto3[/] (the launch post's calls, with endpoint_url):")
    for kind, arn, status in created:
        console.print(f"  {kind:<19} {status:<8} {arn}", soft_wrap=True, highlight=False)
    return {
        "group": group_arn,
        "interactions": datasets["INTERACTIONS"],
        "items": datasets["ITEMS"],
        "tracking_id": tracker["trackingId"],
        "attribution": attribution_arn,
    }


def _wait_for_job(personalize: Any, arn: str) -> dict[str, Any]:
    while True:
        job: dict[str, Any] = personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
            "datasetImportJob"
        ]
        if job["status"] in ("ACTIVE", "CREATE FAILED"):
            if job["status"] == "CREATE FAILED":
                raise SystemExit(f"import job failed: {job.get('failureReason')}")
            return job
        time.sleep(0.1)


def _import_history(
    console: Console, personalize: Any, site: RetailSite, resources: dict[str, str], data_dir: Path
) -> tuple[dict[str, Counter[str]], str]:
    """A week of history, bulk-imported with its attribution report published."""
    inputs = data_dir / "inputs"
    inputs.mkdir()
    now = int(time.time())
    with console.status("generating a week of retail history..."):
        site.write_items_csv(inputs / "items.csv")
        history = list(site.sessions(12_000, now - 8 * 86400, now - 86400))
        write_interactions_csv(iter(history), inputs / "interactions.csv")
    console.print(
        f"generated {len(site.items):,} items and {len(history):,} interactions in {inputs}/",
        soft_wrap=True,
        highlight=False,
    )
    for name, dataset, path, publish in (
        ("items", resources["items"], inputs / "items.csv", False),
        ("history", resources["interactions"], inputs / "interactions.csv", True),
    ):
        started = time.monotonic()
        with console.status(f"import job {name}: {path.name}..."):
            arn = personalize.create_dataset_import_job(
                jobName=f"retail-demo-{name}",
                datasetArn=dataset,
                dataSource={"dataLocation": path.resolve().as_uri()},
                roleArn="arn:aws:iam::000000000000:role/recimpact-demo",
                importMode="FULL",
                publishAttributionMetricsToS3=publish,
            )["datasetImportJobArn"]
            _wait_for_job(personalize, arn)
        console.print(f"import job {name}: ACTIVE in {time.monotonic() - started:.1f} s", highlight=False)
    reports = sorted((data_dir / "reports").glob("AggregatedAttributionMetrics - *.csv"))
    return _truth(history), str(reports[-1])


def _train_recommenders(console: Console, personalize: Any, group: str) -> dict[str, str]:
    """Two ECOMMERCE recommenders, trained in the background on the group's history."""
    started = time.monotonic()
    arns = {
        name: personalize.create_recommender(
            name=f"retail-demo-{name}",
            datasetGroupArn=group,
            recipeArn=f"arn:aws:personalize:::recipe/{recipe}",
        )["recommenderArn"]
        for name, (recipe, _) in RECOMMENDERS.items()
    }
    with console.status("training recommenders..."):
        for arn in arns.values():
            while True:
                record = personalize.describe_recommender(recommenderArn=arn)["recommender"]
                if record["status"] == "CREATE FAILED":
                    raise SystemExit(f"training {arn} failed: {record.get('failureReason')}")
                if record["status"] == "ACTIVE":
                    break
                time.sleep(0.1)
    console.print(
        f"trained {len(arns)} recommenders in {time.monotonic() - started:.1f} s: {', '.join(arns)}",
        soft_wrap=True,
        highlight=False,
    )
    return arns


def _live_traffic(
    console: Console, url: str, personalize: Any, site: RetailSite, resources: dict[str, str], sessions: int
) -> dict[str, Counter[str]]:
    """A day of traffic up to now: GetRecommendations for the recommenders' carousels, PutEvents for what the
    users did, ten events per call."""
    now = int(time.time())
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=console) as progress:
        task = progress.add_task("live sessions (GetRecommendations + PutEvents)", total=sessions)
        truth = run_live(
            site,
            site.sources,
            personalize,
            client("personalize-runtime", url),
            client("personalize-events", url),
            resources["tracking_id"],
            sessions,
            now - 86400,
            now,
            seed=1,
            on_progress=lambda _: progress.advance(task),
            by_user=True,  # an A/B/C test: each user always sees the same source
        )
    console.print(
        f"sent {truth.total():,} events in {sessions:,} sessions ({truth.recommendation_calls:,} GetRecommendations)",
        highlight=False,
    )
    return truth.events


def _truth(interactions: list[Any]) -> dict[str, Counter[str]]:
    """What the simulator sent, per source: views, carts and purchases."""
    truth: dict[str, Counter[str]] = {}
    for event in interactions:
        truth.setdefault(event.source, Counter())[event.event_type] += 1
    return truth


def _read_report(path: str) -> list[dict[str, Any]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [dict(row) for row in csv.DictReader(handle)]


def _comparison(
    console: Console,
    title: str,
    rows: list[dict[str, Any]],
    truth: dict[str, Counter[str]],
    names: dict[str, str],
) -> None:
    """Per-source totals of the attribution's metrics, the click-through rate (views per item shown) and margin per
    view (the number a team decides on). Ratios are taken over the totals, never summed across windows."""
    totals: dict[str, defaultdict[str, float]] = {}
    for row in rows:
        if row["MATH_FUNCTION"] == "ratio":
            continue
        source = str(row["EVENT_ATTRIBUTION_SOURCE"])
        totals.setdefault(source, defaultdict(float))[str(row["METRIC_NAME"])] += float(row["VALUE"])
    columns = ("source", "COUNTVIEWS", "IMPRESSIONS", "CTR", "SUMMARGIN", "margin per view", "purchases sent")
    lines: list[tuple[str, ...]] = []
    for source in sorted(totals, key=lambda s: -totals[s]["SUMMARGIN"]):
        views, margin = totals[source]["COUNTVIEWS"], totals[source]["SUMMARGIN"]
        shown = totals[source]["IMPRESSIONS"]
        lines.append((
            names.get(source, source),
            f"{views:,.0f}",
            f"{shown:,.0f}" if shown else "—",
            f"{views / shown:.2%}" if shown else "—",
            f"{margin:,.2f}",
            f"{margin / views:.3f}" if views else "—",
            f"{truth.get(source, Counter())['Purchase']:,}",
        ))  # fmt: skip
    show_table(console, title, columns, lines)


def _significance(
    console: Console, url: str, attribution: str, baseline: str, candidate: str, names: dict[str, str]
) -> None:
    """recommended-for-you against viewed-x-also-viewed, per user, with intervals (``recimpact compare``)."""
    rows: list[tuple[str, ...]] = []
    warnings: list[str] = []
    for label, metric, per in (("CTR", "ctr", None), ("margin per view", "sumMargin", "countViews")):
        result = compare(url, attribution, metric, baseline, candidate, per=per)
        rows.append((
            label,
            format_number(result["valueA"], 4),
            format_number(result["valueB"], 4),
            format_lift(result["lift"]),
            format_interval(result["liftCi"], percent=True),
            format_interval(result["liftSequence"], percent=True),
        ))  # fmt: skip
        warnings += result["warnings"]
    title = f"{names[candidate]} vs {names[baseline]} (per user, 95% intervals)"
    show_table(console, title, ("metric", "baseline", "candidate", "lift", "interval", "anytime-valid"), rows)
    for warning in sorted(set(warnings)):
        console.print(f"warning: {warning}", highlight=False, soft_wrap=True)


def _status(describe: Any, arn: str) -> str:
    key = {
        "describe_dataset_group": ("datasetGroupArn", "datasetGroup"),
        "describe_dataset": ("datasetArn", "dataset"),
        "describe_metric_attribution": ("metricAttributionArn", "metricAttribution"),
    }[describe.__name__]
    return str(describe(**{key[0]: arn})[key[1]]["status"])
