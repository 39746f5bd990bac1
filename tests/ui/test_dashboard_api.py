"""What the dashboard reads from the server, over HTTP: the page and its static files, and the read endpoints added
for it (totals per source with shares, a group's import jobs with their reports, the numeric columns a SUM may
name), including their AWS-format errors."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import unique
from tests.server import ServerProcess
from tests.ui.conftest import Site

WINDOW = 900


def get(server: ServerProcess, path: str, **query: Any) -> tuple[int, Any, bytes]:
    """Status, headers (case-insensitive) and body."""
    url = f"{server.url}{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query)
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def get_json(server: ServerProcess, path: str, **query: Any) -> Any:
    status, _, body = get(server, path, **query)
    assert status == 200, body
    return json.loads(body)


def aws_error(server: ServerProcess, path: str, status: int, **query: Any) -> dict[str, Any]:
    code, headers, body = get(server, path, **query)
    assert code == status, body
    doc: dict[str, Any] = json.loads(body)
    assert headers["x-amzn-ErrorType"].startswith(doc["__type"])
    return doc


# --- the page ---------------------------------------------------------------------------------------------------


def test_index_and_static_files_are_served(dashboard_server: ServerProcess) -> None:
    status, headers, body = get(dashboard_server, "/")
    assert status == 200
    assert headers["content-type"].startswith("text/html")
    assert b'<script type="module" src="/static/js/app.js">' in body
    status, headers, body = get(dashboard_server, "/static/js/app.js")
    assert status == 200
    assert "javascript" in headers["content-type"]
    assert b'from "./api.js"' in body
    status, _, body = get(dashboard_server, "/static/vendor/uplot/uPlot.esm.js")
    assert status == 200
    assert b"export { uPlot as default }" in body
    status, _, body = get(dashboard_server, "/static/vendor/uplot/LICENSE")
    assert b"MIT License" in body


def test_every_module_the_page_imports_is_served(dashboard_server: ServerProcess) -> None:
    """No build step: the ES modules the browser loads are the files in the package."""
    static = Path(__file__).resolve().parents[2] / "src/recimpact/wire/dashboard/static"
    for path in sorted(static.rglob("*")):
        if path.is_file():
            status, _, body = get(dashboard_server, "/static/" + path.relative_to(static).as_posix())
            assert status == 200, path
            assert body == path.read_bytes()


def test_missing_static_file_is_404(dashboard_server: ServerProcess) -> None:
    status, _, _ = get(dashboard_server, "/static/js/no-such-module.js")
    assert status == 404
    status, _, _ = get(dashboard_server, "/static/../app.py")
    assert status == 404


def test_aws_posts_to_root_still_reach_the_control_plane(dashboard_server: ServerProcess) -> None:
    """``GET /`` is the page; ``POST /`` stays the AWS JSON API."""
    request = urllib.request.Request(
        dashboard_server.url + "/",
        data=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AmazonPersonalize.ListDatasetGroups",
        },
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert "datasetGroups" in json.loads(response.read())


# --- totals per source ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scored(dashboard_server: ServerProcess) -> tuple[Site, str, int]:
    """Views from two sources in two windows, purchases with margins, and a metric without data."""
    site = Site(dashboard_server)
    arn = site.personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=site.arn,
        metrics=[
            {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
            {"eventType": "Purchase", "expression": "sum(items.margin)", "metricName": "sumMargin"},
            {"eventType": "Like", "expression": "SAMPLECOUNT()", "metricName": "likes"},
        ],
        metricsOutputConfig={"roleArn": "arn:aws:iam::000000000000:role/x"},
    )["metricAttributionArn"]
    site.put_items({"i1": 2.0, "i2": 0.5})
    t0 = (int(time.time()) // WINDOW - 8) * WINDOW
    site.send("View", "email", 3, at=t0 + 10)
    site.send("View", "home", 1, at=t0 + 10)
    site.send("View", "email", 1, at=t0 + WINDOW + 10)
    site.send("View", "home", 3, at=t0 + WINDOW + 10)
    site.send("Purchase", "home", 2, item="i1", at=t0 + 20)
    site.send("Purchase", "email", 1, item="i2", at=t0 + 20)
    return site, arn, t0


def by_source(metric: dict[str, Any]) -> dict[str, tuple[float, float]]:
    return {s["source"]: (s["value"], round(s["share"], 4)) for s in metric["sources"]}


def test_totals_per_source_with_shares(
    dashboard_server: ServerProcess, scored: tuple[Site, str, int]
) -> None:
    _, arn, _ = scored
    doc = get_json(dashboard_server, "/api/v1/totals", metricAttributionArn=arn)
    metrics = {m["metricName"]: m for m in doc["metrics"]}
    assert list(metrics) == ["COUNTVIEWS", "SUMMARGIN", "LIKES"]  # the attribution's order
    views = metrics["COUNTVIEWS"]
    assert views["total"] == 8.0
    assert views["eventType"] == "VIEW"
    assert views["mathFunction"] == "samplecount"
    assert by_source(views) == {"email": (4.0, 0.5), "home": (4.0, 0.5)}
    margin = metrics["SUMMARGIN"]
    assert margin["mathFunction"] == "sum"
    assert margin["total"] == 4.5
    assert [s["source"] for s in margin["sources"]] == ["home", "email"]  # largest first
    assert by_source(margin) == {"home": (4.0, round(4 / 4.5, 4)), "email": (0.5, round(0.5 / 4.5, 4))}
    assert metrics["LIKES"] == {
        "metricName": "LIKES",
        "eventType": "LIKE",
        "expression": "SAMPLECOUNT()",
        "mathFunction": "samplecount",
        "total": 0.0,
        "sources": [],
    }


def test_totals_follow_the_range(dashboard_server: ServerProcess, scored: tuple[Site, str, int]) -> None:
    _, arn, t0 = scored
    first = get_json(dashboard_server, "/api/v1/totals", metricAttributionArn=arn, start=t0, end=t0 + WINDOW)
    views = first["metrics"][0]
    assert first["start"] == t0
    assert first["end"] == t0 + WINDOW
    assert by_source(views) == {"email": (3.0, 0.75), "home": (1.0, 0.25)}
    second = get_json(dashboard_server, "/api/v1/totals", metricAttributionArn=arn, start=t0 + WINDOW)
    assert by_source(second["metrics"][0]) == {"home": (3.0, 0.75), "email": (1.0, 0.25)}
    assert second["metrics"][1]["sources"] == []
    # The same sums as the series the charts draw.
    series = get_json(dashboard_server, "/api/v1/series", metricAttributionArn=arn)["rows"]
    assert sum(r["VALUE"] for r in series if r["METRIC_NAME"] == "COUNTVIEWS") == 8.0


def test_totals_errors(dashboard_server: ServerProcess, scored: tuple[Site, str, int]) -> None:
    _, arn, _ = scored
    assert aws_error(dashboard_server, "/api/v1/totals", 400)["__type"] == "InvalidInputException"
    doc = aws_error(dashboard_server, "/api/v1/totals", 400, metricAttributionArn=arn, start="soon")
    assert doc["__type"] == "InvalidInputException"
    assert "soon" in doc["message"]
    missing = arn.rsplit("/", 1)[0] + "/no-such-attribution"
    assert aws_error(dashboard_server, "/api/v1/totals", 404, metricAttributionArn=missing)["__type"] == (
        "ResourceNotFoundException"
    )
    assert aws_error(dashboard_server, "/api/v1/totals", 400, metricAttributionArn="not-an-arn")[
        "__type"
    ] == ("InvalidInputException")


# --- import jobs and numeric columns -----------------------------------------------------------------------------


def test_group_import_jobs_with_their_reports(dashboard_server: ServerProcess, tmp_path: Path) -> None:
    site = Site(dashboard_server)
    reports = tmp_path / "reports"
    site.personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=site.arn,
        metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
        metricsOutputConfig={
            "roleArn": "arn:aws:iam::000000000000:role/x",
            "s3DataDestination": {"path": f"file://{reports}/"},
        },
    )
    data = tmp_path / "in.csv"
    data.write_text(
        "USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_ATTRIBUTION_SOURCE\nu1,i1,1700000000,View,email\n"
    )
    items = tmp_path / "items.csv"
    items.write_text("ITEM_ID,PRICE,CATEGORY_L1,CATEGORY_L2,MARGIN\ni1,10.0,home,decor,2.5\n")
    published = site.personalize.create_dataset_import_job(
        jobName=unique("published"),
        datasetArn=site.interactions_dataset,
        dataSource={"dataLocation": f"file://{data}"},
        publishAttributionMetricsToS3=True,
    )["datasetImportJobArn"]
    plain = site.personalize.create_dataset_import_job(
        jobName=unique("items"), datasetArn=site.items_dataset, dataSource={"dataLocation": f"file://{items}"}
    )["datasetImportJobArn"]
    deadline = time.monotonic() + 30
    while True:
        jobs = get_json(dashboard_server, "/api/v1/import-jobs", datasetGroupArn=site.arn)[
            "datasetImportJobs"
        ]
        if all(j["status"] == "ACTIVE" for j in jobs) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert [j["datasetImportJobArn"] for j in jobs] == [plain, published]  # newest first
    items_job, interactions_job = jobs
    assert interactions_job["status"] == "ACTIVE"
    assert interactions_job["datasetType"] == "INTERACTIONS"
    assert interactions_job["publishAttributionMetricsToS3"] is True
    assert interactions_job["rows"] == 1
    assert interactions_job["reportName"].startswith("AggregatedAttributionMetrics - FULL - ")
    assert (reports / interactions_job["reportName"]).is_file()
    assert interactions_job["dataLocation"] == f"file://{data}"
    assert items_job["datasetType"] == "ITEMS"
    assert items_job["reportName"] is None
    assert items_job["publishAttributionMetricsToS3"] is False
    # The same job the AWS API describes.
    described = site.personalize.describe_dataset_import_job(datasetImportJobArn=published)[
        "datasetImportJob"
    ]
    assert described["status"] == interactions_job["status"]
    assert described["jobName"] == interactions_job["jobName"]


def test_import_jobs_errors(dashboard_server: ServerProcess) -> None:
    assert aws_error(dashboard_server, "/api/v1/import-jobs", 400)["__type"] == "InvalidInputException"
    missing = "arn:aws:personalize:us-east-1:000000000000:dataset-group/no-such-group"
    doc = aws_error(dashboard_server, "/api/v1/import-jobs", 404, datasetGroupArn=missing)
    assert doc["__type"] == "ResourceNotFoundException"
    assert "no-such-group" in doc["message"]


def test_numeric_columns_are_what_a_sum_may_name(dashboard_server: ServerProcess) -> None:
    site = Site(dashboard_server)
    doc = get_json(dashboard_server, "/api/v1/numeric-columns", datasetGroupArn=site.arn)
    assert doc["columns"] == [
        {"dataset": "ITEMS", "column": "PRICE", "type": "float"},
        {"dataset": "ITEMS", "column": "MARGIN", "type": "double"},
    ]
    # Every column offered is accepted by CreateMetricAttribution.
    site.personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=site.arn,
        metrics=[
            {
                "eventType": "Purchase",
                "expression": f"SUM({c['dataset']}.{c['column']})",
                "metricName": c["column"],
            }
            for c in doc["columns"]
        ],
        metricsOutputConfig={"roleArn": "arn:aws:iam::000000000000:role/x"},
    )


def test_numeric_columns_of_a_group_without_datasets(dashboard_server: ServerProcess) -> None:
    personalize = dashboard_server.client("personalize")
    arn = personalize.create_dataset_group(name=unique("bare"))["datasetGroupArn"]
    assert get_json(dashboard_server, "/api/v1/numeric-columns", datasetGroupArn=arn)["columns"] == []
    missing = arn + "-gone"
    assert aws_error(dashboard_server, "/api/v1/numeric-columns", 404, datasetGroupArn=missing)["__type"] == (
        "ResourceNotFoundException"
    )
