"""``recimpact demo``: the whole story on the embedded server, through boto3 as a user would write it.

Dataset group → schemas → datasets → event tracker → the launch post's metric attribution (``countViews`` =
SAMPLECOUNT() of View, ``sumMargin`` = SUM(ITEMS.MARGIN) of Purchase); then a synthetic retail site's week of
history imported in bulk with its attribution report, two hours of live traffic through PutEvents, and the
per-source comparison from both. The simulated sources have known effects (``recommended_for_you`` converts 20%
better), so the numbers can be checked against the truth.
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
from rich.progress import Progress
from rich.table import Table

from recimpact.client import get_series
from recimpact.settings import Settings
from recimpact.simulate import (
    EVENT_ATTRIBUTION_SOURCE_FIELD,
    ITEMS_SCHEMA,
    SEED_METRICS,
    RetailSite,
    interactions_schema,
    write_interactions_csv,
)
from recimpact.wire.server import EmbeddedServer

_MARKER = ".recimpact-demo"

INTERACTIONS_SCHEMA = interactions_schema(EVENT_ATTRIBUTION_SOURCE_FIELD)
METRICS = SEED_METRICS


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


def run_demo(console: Console, data_dir: Path) -> None:
    _fresh(data_dir)
    settings = Settings(host="127.0.0.1", port=0, data_dir=data_dir)
    with EmbeddedServer(settings) as server:
        console.print(f"[bold]recimpact demo[/] — embedded server at {server.url}, data in {data_dir}/")
        personalize = client("personalize", server.url)
        resources = _create_resources(console, personalize, data_dir)
        site = RetailSite(seed=7)
        history, report = _import_history(console, personalize, site, resources, data_dir)
        sent = _live_traffic(console, client("personalize-events", server.url), site, resources)
        live = get_series(server.url, resources["attribution"], None, None)["rows"]
        _comparison(console, "Bulk history: the import job's S3 report", _read_report(report), history)
        _comparison(console, "Live: today's PutEvents traffic, from the 15-minute series", live, sent)
        console.print(f"report CSV: {report}", soft_wrap=True, highlight=False)
        console.print(
            f"live series: {server.url}/api/v1/series?metricAttributionArn={resources['attribution']}",
            soft_wrap=True,
            highlight=False,
        )
        console.print(
            f"browse this data again: recimpact serve --data-dir {data_dir}  (then `recimpact metrics` / "
            "`recimpact reports`)",
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
    console.print(f"generated {len(site.items):,} items and {len(history):,} interactions in {inputs}/")
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


def _live_traffic(
    console: Console, events: Any, site: RetailSite, resources: dict[str, str]
) -> dict[str, Counter[str]]:
    """The last two hours of traffic, sent live through PutEvents, ten events per call."""
    now = int(time.time())
    sessions: dict[str, list[Any]] = {}
    for interaction in site.sessions(1_500, now - 7200, now, seed=1):
        sessions.setdefault(interaction.session_id, []).append(interaction)
    total = sum(len(batch) for batch in sessions.values())
    sent: list[Any] = []
    with Progress(console=console) as progress:
        task = progress.add_task("PutEvents (live traffic)", total=total)
        for session_id, interactions in sessions.items():
            for i in range(0, len(interactions), 10):
                batch = interactions[i : i + 10]
                events.put_events(
                    trackingId=resources["tracking_id"],
                    userId=batch[0].user_id,
                    sessionId=session_id,
                    eventList=[
                        {
                            "eventType": e.event_type,
                            "itemId": e.item_id,
                            "sentAt": e.timestamp,
                            "metricAttribution": {"eventAttributionSource": e.source},
                        }
                        for e in batch
                    ],
                )
                sent += batch
                progress.advance(task, len(batch))
    return _truth(sent)


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
    console: Console, title: str, rows: list[dict[str, Any]], truth: dict[str, Counter[str]]
) -> None:
    """Per-source totals of the attribution's metrics, and margin per view (the number a team decides on)."""
    totals: dict[str, defaultdict[str, float]] = {}
    for row in rows:
        source = str(row["EVENT_ATTRIBUTION_SOURCE"])
        totals.setdefault(source, defaultdict(float))[str(row["METRIC_NAME"])] += float(row["VALUE"])
    table = Table(title=title, title_justify="left")
    for column in ("source", "COUNTVIEWS", "SUMMARGIN", "margin per view", "purchases sent"):
        if column == "source":
            table.add_column(column, no_wrap=True, min_width=20)
        else:
            table.add_column(column, justify="right")
    for source in sorted(totals, key=lambda s: -totals[s]["SUMMARGIN"]):
        views, margin = totals[source]["COUNTVIEWS"], totals[source]["SUMMARGIN"]
        table.add_row(
            source,
            f"{views:,.0f}",
            f"{margin:,.2f}",
            f"{margin / views:.3f}" if views else "—",
            f"{truth.get(source, Counter())['Purchase']:,}",
        )
    console.print(table)


def _status(describe: Any, arn: str) -> str:
    key = {
        "describe_dataset_group": ("datasetGroupArn", "datasetGroup"),
        "describe_dataset": ("datasetArn", "dataset"),
        "describe_metric_attribution": ("metricAttributionArn", "metricAttribution"),
    }[describe.__name__]
    return str(describe(**{key[0]: arn})[key[1]]["status"])
