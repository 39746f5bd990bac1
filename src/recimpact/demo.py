"""``recimpact demo``: the seed post's boto3 flow against an embedded server.

Dataset group → Interactions and Items schemas → datasets → event tracker → the metric attribution of AWS's launch
post (``countViews`` = SAMPLECOUNT() of View, ``sumMargin`` = SUM(ITEMS.MARGIN) of Purchase). The calls are the
ones a user writes against AWS; only ``endpoint_url`` differs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import boto3
from rich.console import Console
from rich.table import Table

from recimpact.settings import Settings
from recimpact.wire.server import EmbeddedServer

_MARKER = ".recimpact-demo"

INTERACTIONS_SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
    ],
    "version": "1.0",
}
ITEMS_SCHEMA = {
    "type": "record",
    "name": "Items",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "ITEM_ID", "type": "string"},
        {"name": "PRICE", "type": "float"},
        {"name": "CATEGORY_L1", "type": ["string"], "categorical": True},
        {"name": "CATEGORY_L2", "type": ["string"], "categorical": True},
        {"name": "MARGIN", "type": "double"},
    ],
    "version": "1.0",
}
METRICS = [
    {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
    {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"},
]


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
        created: list[tuple[str, str, str]] = []

        group_arn = personalize.create_dataset_group(name="retail-demo", domain="ECOMMERCE")[
            "datasetGroupArn"
        ]
        created.append(("dataset group", group_arn, _status(personalize.describe_dataset_group, group_arn)))
        interactions_schema = personalize.create_schema(
            name="retail-demo-interactions", schema=json.dumps(INTERACTIONS_SCHEMA), domain="ECOMMERCE"
        )["schemaArn"]
        items_schema = personalize.create_schema(
            name="retail-demo-items", schema=json.dumps(ITEMS_SCHEMA), domain="ECOMMERCE"
        )["schemaArn"]
        created += [("schema", interactions_schema, "—"), ("schema", items_schema, "—")]
        for dataset_type, schema_arn in (("INTERACTIONS", interactions_schema), ("ITEMS", items_schema)):
            arn = personalize.create_dataset(
                name=f"retail-demo-{dataset_type.lower()}",
                datasetGroupArn=group_arn,
                datasetType=dataset_type,
                schemaArn=schema_arn,
            )["datasetArn"]
            created.append(("dataset", arn, _status(personalize.describe_dataset, arn)))
        tracker = personalize.create_event_tracker(name="retail-demo-tracker", datasetGroupArn=group_arn)
        created.append(("event tracker", tracker["eventTrackerArn"], f"trackingId {tracker['trackingId']}"))
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

        table = Table(title="Created through boto3")
        table.add_column("resource", no_wrap=True)
        table.add_column("ARN", overflow="fold")
        table.add_column("status", overflow="fold")
        for row in created:
            table.add_row(*row)
        console.print(table)

        metrics = Table(title="Metrics of the attribution (list_metric_attribution_metrics)")
        for column in ("metricName", "eventType", "expression"):
            metrics.add_column(column)
        for metric in personalize.list_metric_attribution_metrics(metricAttributionArn=attribution_arn)[
            "metrics"
        ]:
            metrics.add_row(metric["metricName"], metric["eventType"], metric["expression"])
        console.print(metrics)


def _status(describe: Any, arn: str) -> str:
    key = {
        "describe_dataset_group": ("datasetGroupArn", "datasetGroup"),
        "describe_dataset": ("datasetArn", "dataset"),
        "describe_metric_attribution": ("metricAttributionArn", "metricAttribution"),
    }[describe.__name__]
    return str(describe(**{key[0]: arn})[key[1]]["status"])
