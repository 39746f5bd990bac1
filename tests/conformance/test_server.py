"""Whole import jobs through boto3: a server started with ``--engine spark`` and the session's DuckDB server take
the same files and publish the same report, the same live series and the same failure reasons."""

from __future__ import annotations

import csv
import io
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recimpact.cli.client import get_series
from tests.conftest import ROLE_ARN, Group, output_config, unique
from tests.server import ServerProcess

VIEWS = {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}
MARGIN = {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"}
CLICK_VALUE = {
    "eventType": "click",
    "expression": "SUM(INTERACTIONS.EVENT_VALUE)",
    "metricName": "clickValue",
}
SCHEMA = {
    "type": "record",
    "name": "Interactions",
    "namespace": "com.amazonaws.personalize.schema",
    "fields": [
        {"name": "USER_ID", "type": "string"},
        {"name": "ITEM_ID", "type": "string"},
        {"name": "TIMESTAMP", "type": "long"},
        {"name": "EVENT_TYPE", "type": "string"},
        {"name": "EVENT_VALUE", "type": ["null", "float"]},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    ],
    "version": "1.0",
}


@pytest.fixture(scope="module")
def spark_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    data = tmp_path_factory.mktemp("spark-server")
    with ServerProcess(data, "--engine", "spark", "--spark-master", "local[2]") as server:
        yield server


def _csv(header: list[str], rows: list[list[object]]) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue().encode()


def _inputs(folder: Path) -> tuple[Path, Path]:
    """Items, and a day of interactions (recent enough to feed the live series) with every kind of row the
    conformance suite generates: duplicates, case variants, empty and padded sources, empty values, boundaries."""
    rng = random.Random(7)
    now = int(time.time()) // 900 * 900
    items = folder / "items.csv"
    items.write_bytes(
        _csv(
            ["ITEM_ID", "PRICE", "CATEGORY_L1", "CATEGORY_L2", "MARGIN"],
            [[f"i{n}", n, "toys", "cars", n / 4] for n in range(20)],
        )
    )
    rows: list[list[object]] = []
    for _ in range(2000):
        rows.append(
            [
                f"u{rng.randrange(50)}",
                f"i{rng.randrange(25)}",  # a fifth unknown to the catalog
                now - 86400 + rng.choice([rng.randrange(86400), 900 * rng.randrange(96), 899]),
                rng.choice(["View", "view", "VIEW", "Purchase", "click", "CLICK", "Other"]),
                rng.choice(["", "0.25", "1.5", "+2.50", " 3 "]),
                rng.choice(["", "email", " email ", "email  ", "partner, inc.", 'say "hi"']),
            ]
        )
    rows += rng.sample(rows, 200)  # exact duplicates
    interactions = folder / "interactions.csv"
    interactions.write_bytes(
        _csv(
            ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE", "EVENT_ATTRIBUTION_SOURCE"], rows
        )
    )
    return items, interactions


def _wait(personalize: Any, arn: str, timeout: float = 180) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        job: dict[str, Any] = personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
            "datasetImportJob"
        ]
        if job["status"] in ("ACTIVE", "CREATE FAILED"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.1)


def _import(personalize: Any, dataset: str, path: Path, **extra: Any) -> dict[str, Any]:
    arn = personalize.create_dataset_import_job(
        jobName=unique("job"),
        datasetArn=dataset,
        dataSource={"dataLocation": path.as_uri()},
        roleArn=ROLE_ARN,
        **extra,
    )["datasetImportJobArn"]
    return _wait(personalize, arn)


def _run(server: ServerProcess, folder: Path, items: Path, interactions: Path, bad: Path) -> dict[str, Any]:
    """Items, a FULL then an INCREMENTAL interactions import (which publishes its report and feeds the live
    series), then a bad file; what each produced."""
    personalize = server.client("personalize")
    group = Group(personalize, interactions_schema=SCHEMA)
    reports = folder / "reports"
    attribution = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=[VIEWS, MARGIN, CLICK_VALUE],
        metricsOutputConfig=output_config(reports.as_uri() + "/"),
    )["metricAttributionArn"]
    assert group.items_dataset is not None
    assert _import(personalize, group.items_dataset, items)["status"] == "ACTIVE"
    first = _import(personalize, group.interactions_dataset, interactions)  # the first import must be FULL
    assert first["status"] == "ACTIVE", first.get("failureReason")
    job = _import(
        personalize,
        group.interactions_dataset,
        interactions,
        importMode="INCREMENTAL",
        publishAttributionMetricsToS3=True,
    )
    assert job["status"] == "ACTIVE", job.get("failureReason")
    (report,) = reports.glob("AggregatedAttributionMetrics - INCREMENTAL - *.csv")
    failed = _import(personalize, group.interactions_dataset, bad, importMode="INCREMENTAL")
    assert failed["status"] == "CREATE FAILED"
    return {
        "report": report.read_text(),
        "series": get_series(server.url, attribution, None, None)["rows"],
        "failure": failed["failureReason"],
    }


def test_the_same_jobs_give_the_same_report_series_and_failure(
    server: ServerProcess, spark_server: ServerProcess, tmp_path: Path
) -> None:
    items, interactions = _inputs(tmp_path)
    bad = tmp_path / "bad.csv"
    lines = interactions.read_bytes().splitlines(keepends=True)
    bad.write_bytes(b"".join([*lines[:1500], b"u1,i1,1700000000,View,lots,\n", *lines[1500:]]))
    results = {
        name: _run(proc, tmp_path / name, items, interactions, bad)
        for name, proc in (("duckdb", server), ("spark", spark_server))
    }
    assert results["spark"]["report"] == results["duckdb"]["report"]
    assert results["spark"]["report"].count("\n") > 100
    assert results["spark"]["series"] == results["duckdb"]["series"]
    assert (
        results["spark"]["failure"]
        == results["duckdb"]["failure"]
        == (f"{bad.as_uri()}: line 1501, column EVENT_VALUE: 'lots' is not a valid float")
    )
    # The Spark server really ran Spark: its stored parts are Spark's folders of part files.
    parts = list((spark_server.data_dir / "bulk").iterdir())
    assert parts
    assert all(p.is_dir() and list(p.glob("part-*.parquet")) for p in parts), parts
