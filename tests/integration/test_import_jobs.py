"""Dataset import jobs through boto3 against the session server: the job lifecycle and the create-time rules,
input files in local folders (``file://``) and in moto S3 (``s3://``), validation failures that change no data, the
S3 report (read back and compared row by row with a reference computed here, independently of ``src``), the live
series fed by INCREMENTAL imports, a server that keeps answering while a job runs, and jobs resumed after
``kill -9``."""

from __future__ import annotations

import contextlib
import csv
import datetime as dt
import io
import json
import random
import re
import socket
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from recimpact.cli.client import get_series
from tests.conftest import (
    AWS_TEST_ENV,
    INTERACTIONS_SCHEMA,
    ROLE_ARN,
    Group,
    output_config,
    s3_client,
    unique,
)
from tests.server import ServerProcess

WINDOW = 900
DAY = 86400
UNDEFINED = "SOURCE_NAME_UNDEFINED"
PENDING, IN_PROGRESS, ACTIVE, FAILED = "CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE", "CREATE FAILED"
LIFECYCLE = (PENDING, IN_PROGRESS)
REPORT_HEADER = [
    "METRIC_NAME",
    "EVENT_TYPE",
    "VALUE",
    "MATH_FUNCTION",
    "EVENT_ATTRIBUTION_SOURCE",
    "TIMESTAMP",
]
REPORT_NAME = re.compile(r"AggregatedAttributionMetrics - (FULL|INCREMENTAL) - (\d{8}T\d{6}Z)\.csv")

# Interactions with the two optional columns that carry a row's source.
SOURCED_SCHEMA = {
    **INTERACTIONS_SCHEMA,
    "fields": [
        *INTERACTIONS_SCHEMA["fields"],
        {"name": "RECOMMENDATION_ID", "type": ["null", "string"]},
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
    ],
}
COLUMNS = (
    "USER_ID",
    "ITEM_ID",
    "TIMESTAMP",
    "EVENT_TYPE",
    "EVENT_VALUE",
    "RECOMMENDATION_ID",
    "EVENT_ATTRIBUTION_SOURCE",
)
BASIC_HEADER = ["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"]
SOURCED_HEADER = [*BASIC_HEADER, "EVENT_ATTRIBUTION_SOURCE", "RECOMMENDATION_ID"]
ITEMS_HEADER = ["ITEM_ID", "PRICE", "CATEGORY_L1", "CATEGORY_L2", "MARGIN"]

VIEWS = {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}
MARGIN = {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"}
CLICK_VALUE = {
    "eventType": "Click",
    "expression": "SUM(INTERACTIONS.EVENT_VALUE)",
    "metricName": "clickValue",
}
CLICKS = {"eventType": "CLICK", "expression": "samplecount()", "metricName": "Clicks"}


# --- input and output locations ----------------------------------------------------------------------------------


class Store:
    """Where a test puts its input files and finds its reports: ``url`` is the root, ending in "/"."""

    url: str

    def put(self, name: str, data: bytes) -> str:
        """Store ``name`` (a relative path) and return its URL."""
        raise NotImplementedError

    def files(self, prefix: str) -> list[str]:
        """Relative names of every file under ``prefix``, sorted."""
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError


class LocalStore(Store):
    def __init__(self, root: Path) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        self.url = f"file://{root}/"

    def put(self, name: str, data: bytes) -> str:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return self.url + name

    def files(self, prefix: str) -> list[str]:
        folder = self.root / prefix
        if not folder.is_dir():
            return []
        return sorted(str(p.relative_to(self.root)) for p in folder.rglob("*") if p.is_file())

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()


class S3Store(Store):
    """A fresh bucket in the session's moto S3, which the server reads inputs from and writes reports to."""

    def __init__(self, endpoint: str) -> None:
        self.client = s3_client(endpoint)
        self.bucket = unique("imp")
        self.client.create_bucket(Bucket=self.bucket)
        self.url = f"s3://{self.bucket}/"

    def put(self, name: str, data: bytes) -> str:
        self.client.put_object(Bucket=self.bucket, Key=name, Body=data)
        return self.url + name

    def files(self, prefix: str) -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket, Prefix=prefix)
        return sorted(obj["Key"] for page in pages for obj in page.get("Contents", []))

    def read(self, name: str) -> bytes:
        body: bytes = self.client.get_object(Bucket=self.bucket, Key=name)["Body"].read()
        return body


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path, s3_endpoint: str) -> Store:
    if request.param == "file":
        return LocalStore(tmp_path / "store")
    return S3Store(s3_endpoint)


@pytest.fixture
def s3_store(s3_endpoint: str) -> S3Store:
    return S3Store(s3_endpoint)


@pytest.fixture
def local(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "store")


# --- CSV files -----------------------------------------------------------------------------------------------------


def interaction(
    user: str,
    item: str,
    ts: int,
    event_type: str,
    value: float | None = None,
    source: str | None = None,
    rec: str | None = None,
) -> dict[str, Any]:
    """One interaction as typed values (None: the CSV cell is empty)."""
    return {
        "USER_ID": user,
        "ITEM_ID": item,
        "TIMESTAMP": ts,
        "EVENT_TYPE": event_type,
        "EVENT_VALUE": value,
        "RECOMMENDATION_ID": rec,
        "EVENT_ATTRIBUTION_SOURCE": source,
    }


def cell(value: Any) -> str:
    if value is None:
        return ""
    return repr(value) if isinstance(value, float) else str(value)


def csv_bytes(header: Sequence[str], rows: Iterable[Mapping[str, Any]]) -> bytes:
    """A CSV file with ``header`` as written (any case, any order); cells are looked up by upper-cased name, and a
    row must have nothing for a column the header lacks."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    wanted = {h.upper() for h in header}
    for row in rows:
        assert all(v is None for k, v in row.items() if k not in wanted), (header, row)
        writer.writerow([cell(row.get(h.upper())) for h in header])
    return out.getvalue().encode()


def items_csv(items: Mapping[str, float], header: Sequence[str] = ITEMS_HEADER) -> bytes:
    """Items with the given MARGIN; PRICE is twice the margin."""
    return csv_bytes(
        header,
        (
            {"ITEM_ID": i, "PRICE": 2 * m, "CATEGORY_L1": "toys", "CATEGORY_L2": "cars", "MARGIN": m}
            for i, m in items.items()
        ),
    )


# --- jobs ----------------------------------------------------------------------------------------------------------


def start_job(
    personalize: Any,
    dataset: str,
    location: str,
    *,
    mode: str | None = None,
    publish: bool | None = None,
    name: str | None = None,
) -> str:
    kwargs: dict[str, Any] = {
        "jobName": name or unique("job"),
        "datasetArn": dataset,
        "dataSource": {"dataLocation": location},
        "roleArn": ROLE_ARN,
    }
    if mode is not None:
        kwargs["importMode"] = mode
    if publish is not None:
        kwargs["publishAttributionMetricsToS3"] = publish
    arn: str = personalize.create_dataset_import_job(**kwargs)["datasetImportJobArn"]
    return arn


def wait_job(personalize: Any, arn: str, timeout: float = 60.0) -> dict[str, Any]:
    """Poll every 0.1 s until the job is ACTIVE or CREATE FAILED; the statuses seen on the way must follow
    CREATE PENDING → CREATE IN_PROGRESS."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        job: dict[str, Any] = personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
            "datasetImportJob"
        ]
        if not seen or seen[-1] != job["status"]:
            seen.append(job["status"])
        if job["status"] in (ACTIVE, FAILED):
            steps = seen[:-1]
            assert all(s in LIFECYCLE for s in steps), seen
            assert steps == sorted(steps, key=LIFECYCLE.index), seen
            return job
        assert time.monotonic() < deadline, f"job {arn} still {job['status']} after {timeout} s"
        time.sleep(0.1)


def run_job(personalize: Any, dataset: str, location: str, **kwargs: Any) -> dict[str, Any]:
    job = wait_job(personalize, start_job(personalize, dataset, location, **kwargs))
    assert job["status"] == ACTIVE, job.get("failureReason")
    assert "failureReason" not in job
    return job


def failed_job(personalize: Any, dataset: str, location: str, **kwargs: Any) -> str:
    job = wait_job(personalize, start_job(personalize, dataset, location, **kwargs))
    assert job["status"] == FAILED
    reason: str = job["failureReason"]
    return reason


# --- the reference: what the reports and the live series must hold ----------------------------------------------

Key = tuple[str, str, str, str, int]  # metric name, event type, function, source, window start


def window(ts: float) -> int:
    return int(ts // WINDOW * WINDOW)


def base_time(days_ago: float) -> int:
    return window(time.time() - days_ago * DAY)


@dataclass(frozen=True)
class RefMetric:
    name: str
    event_type: str
    function: str
    dataset: str | None
    column: str | None


def ref_metric(metric: Mapping[str, str]) -> RefMetric:
    text = metric["expression"].strip()
    if re.fullmatch(r"(?i)samplecount\(\)", text):
        return RefMetric(metric["metricName"].upper(), metric["eventType"].upper(), "samplecount", None, None)
    match = re.fullmatch(r"(?i)sum\((items|interactions)\.(\w+)\)", text)
    assert match, text
    return RefMetric(
        metric["metricName"].upper(), metric["eventType"].upper(), "sum", match[1].upper(), match[2].upper()
    )


def ref_totals(
    rows: Iterable[Mapping[str, Any]],
    metrics: Sequence[Mapping[str, str]],
    items: Mapping[str, Mapping[str, float]],
    min_ts: float | None = None,
) -> dict[Key, float]:
    """One job's rows attributed: exact duplicates once; source explicit, else SOURCE_NAME_UNDEFINED (no
    recommendation id is ever issued here); event types matched case-insensitively; SUM over a missing value adds
    nothing; 900-second windows; ``min_ts``: leave out older rows (the live series' 14-day rule). An empty cell
    is no value (None and "" alike)."""
    distinct = {tuple(None if row.get(c) == "" else row.get(c) for c in COLUMNS) for row in rows}
    compiled = [ref_metric(m) for m in metrics]
    totals: dict[Key, float] = defaultdict(float)
    for values in distinct:
        row = dict(zip(COLUMNS, values, strict=True))
        if min_ts is not None and row["TIMESTAMP"] < min_ts:
            continue
        source = row["EVENT_ATTRIBUTION_SOURCE"] or UNDEFINED
        for metric in compiled:
            if row["EVENT_TYPE"].upper() != metric.event_type:
                continue
            value: float | None
            if metric.function == "samplecount":
                value = 1.0
            elif metric.dataset == "ITEMS":
                value = items.get(row["ITEM_ID"], {}).get(str(metric.column))
            else:
                value = row.get(str(metric.column))
            if value is None:
                continue
            key = (metric.name, metric.event_type, metric.function, source, window(row["TIMESTAMP"]))
            totals[key] += float(value)
    return dict(totals)


def combine(*totals: Mapping[Key, float]) -> dict[Key, float]:
    result: dict[Key, float] = defaultdict(float)
    for part in totals:
        for key, value in part.items():
            result[key] += value
    return dict(result)


def ref_rows(totals: Mapping[Key, float]) -> list[tuple[str, str, float, str, str, int]]:
    """Report order: newest window first, then metric name, then source."""
    ordered = sorted(totals.items(), key=lambda kv: (-kv[0][4], kv[0][0], kv[0][3]))
    return [(name, et, value, fn, source, ws) for (name, et, fn, source, ws), value in ordered]


def ref_csv(totals: Mapping[Key, float]) -> list[list[str]]:
    """The report's cells as text. Test values are multiples of 0.25, so every sum is exact and VALUE reads as
    Python writes the float (``12.0``, ``3.75``)."""
    return [REPORT_HEADER] + [
        [name, et, repr(value), fn, source, str(ws)] for name, et, value, fn, source, ws in ref_rows(totals)
    ]


def item_table(margins: Mapping[str, float]) -> dict[str, dict[str, float]]:
    """Items as items_csv stores them: PRICE twice the MARGIN."""
    return {i: {"MARGIN": m, "PRICE": 2 * m} for i, m in margins.items()}


# --- reading back ------------------------------------------------------------------------------------------------


def reports(store: Store, prefix: str = "reports/") -> list[str]:
    names = store.files(prefix)
    assert all(REPORT_NAME.fullmatch(n.rsplit("/", 1)[-1]) for n in names), names
    return names


def report_cells(store: Store, name: str) -> list[list[str]]:
    text = store.read(name).decode()
    assert text.endswith("\n")
    assert text.splitlines()[0] == ",".join(REPORT_HEADER)
    cells = list(csv.reader(io.StringIO(text)))
    assert all(re.fullmatch(r"-?\d+\.\d+", row[2]) for row in cells[1:]), cells  # VALUE like 12.0
    return cells


def new_report(
    store: Store, before: Sequence[str], mode: str, started: float, prefix: str = "reports/"
) -> str:
    """The one report a job added, right in the destination folder ``prefix``, named for its import mode and a
    UTC time while it ran."""
    added = sorted(set(reports(store, prefix)) - set(before))
    assert len(added) == 1, added
    match = REPORT_NAME.fullmatch(added[0][len(prefix) :])
    assert match, added
    assert match[1] == mode
    stamp = dt.datetime.strptime(match[2], "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.UTC).timestamp()
    assert started - 2 <= stamp <= time.time() + 5, (added[0], started)
    return added[0]


def series(server: ServerProcess, attribution_arn: str) -> list[tuple[str, str, float, str, str, int]]:
    body = get_series(server.url, attribution_arn, None, None)
    return [
        (
            r["METRIC_NAME"],
            r["EVENT_TYPE"],
            r["VALUE"],
            r["MATH_FUNCTION"],
            r["EVENT_ATTRIBUTION_SOURCE"],
            r["TIMESTAMP"],
        )
        for r in body["rows"]
    ]


def attribute(
    personalize: Any,
    group: Group,
    metrics: Sequence[Mapping[str, str]],
    destination: str | None,
    kms_key_arn: str | None = None,
) -> str:
    config: dict[str, Any] = {"roleArn": ROLE_ARN}
    if destination is not None:
        config = output_config(destination)
        if kms_key_arn:
            config["s3DataDestination"]["kmsKeyArn"] = kms_key_arn
    arn: str = personalize.create_metric_attribution(
        name=unique("ma"), datasetGroupArn=group.arn, metrics=list(metrics), metricsOutputConfig=config
    )["metricAttributionArn"]
    status = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]["status"]
    assert status == ACTIVE
    return arn


# --- a large file, for the tests about long-running jobs ----------------------------------------------------------


@dataclass(frozen=True)
class BigFile:
    path: Path
    rows: int
    views: Counter[int]  # View rows per window


@pytest.fixture(scope="module")
def big_file(tmp_path_factory: pytest.TempPathFactory) -> BigFile:
    """A million distinct interactions (about a second of work for the server), two of every three a View."""
    path = tmp_path_factory.mktemp("big") / "interactions.csv"
    base = base_time(3)
    rows = 1_000_000
    views: Counter[int] = Counter()
    with open(path, "w") as handle:
        handle.write("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n")
        handle.writelines(
            f"u{n},i{n % 500},{base + n % 7200},{'View' if n % 3 else 'Click'},{n % 7}.5\n"
            for n in range(rows)
        )
    for n in range(rows):
        if n % 3:
            views[window(base + n % 7200)] += 1
    return BigFile(path, rows, views)


def big_report(file: BigFile) -> list[list[str]]:
    return ref_csv(
        {("COUNTVIEWS", "VIEW", "samplecount", UNDEFINED, w): float(n) for w, n in file.views.items()}
    )


# === create-time rules ===========================================================================================


def test_create_rules(personalize: Any, local: LocalStore) -> None:
    group = Group(personalize)
    assert group.items_dataset is not None
    interactions = group.interactions_dataset
    good = local.put("good.csv", csv_bytes(BASIC_HEADER, [interaction("u1", "i1", 1_700_000_000, "View")]))
    bad = local.put("bad.csv", csv_bytes(BASIC_HEADER, [interaction("", "i1", 1_700_000_000, "View")]))

    unknown = interactions.replace(group.name, unique("nope"))
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        start_job(personalize, unknown, good)

    # INCREMENTAL needs an ACTIVE import on that very dataset: a failed FULL one does not count.
    with pytest.raises(personalize.exceptions.InvalidInputException):
        start_job(personalize, interactions, good, mode="INCREMENTAL")
    failed_job(personalize, interactions, bad)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        start_job(personalize, interactions, good, mode="INCREMENTAL")
    name = unique("first")
    job = run_job(personalize, interactions, good, name=name)
    assert job["importMode"] == "FULL"  # the default
    assert job["publishAttributionMetricsToS3"] is False
    run_job(personalize, interactions, good, mode="INCREMENTAL")
    items = local.put("items.csv", items_csv({"i1": 1.0}))
    with pytest.raises(personalize.exceptions.InvalidInputException):
        start_job(personalize, group.items_dataset, items, mode="INCREMENTAL")

    # Job names are unique in the region, whatever the dataset.
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        start_job(personalize, interactions, good, name=name)
    with pytest.raises(personalize.exceptions.ResourceAlreadyExistsException):
        start_job(personalize, group.items_dataset, items, name=name)

    # Locations other than s3:// and file:///absolute are refused up front.
    for location in ("http://example.com/data.csv", "file://relative/data.csv", "data.csv"):
        with pytest.raises(personalize.exceptions.InvalidInputException):
            start_job(personalize, interactions, location)

    # Publishing needs an Interactions dataset and an attribution with an s3DataDestination.
    with pytest.raises(personalize.exceptions.InvalidInputException):
        start_job(personalize, interactions, good, publish=True)
    attribute(personalize, group, [VIEWS], None)
    with pytest.raises(personalize.exceptions.InvalidInputException):
        start_job(personalize, interactions, good, publish=True)
    run_job(personalize, interactions, good, publish=False)

    other = Group(personalize)
    assert other.items_dataset is not None
    attribute(personalize, other, [VIEWS], local.url + "reports/")
    with pytest.raises(personalize.exceptions.InvalidInputException):
        start_job(personalize, other.items_dataset, items, publish=True)
    run_job(personalize, other.interactions_dataset, good, publish=True)
    assert len(reports(local)) == 1


def test_describe_and_list(personalize: Any, local: LocalStore) -> None:
    group = Group(personalize)
    assert group.items_dataset is not None
    local.put("data/a.csv", csv_bytes(BASIC_HEADER, [interaction("u1", "i1", 1_700_000_000, "View")]))
    attribute(personalize, group, [VIEWS], local.url + "reports/")

    before = time.time()
    full_name = unique("full")
    full = start_job(
        personalize, group.interactions_dataset, local.url + "data/", name=full_name, publish=True
    )
    assert full.startswith("arn:aws:personalize:us-east-1:")
    assert full.endswith(f":dataset-import-job/{full_name}")
    first = personalize.describe_dataset_import_job(datasetImportJobArn=full)["datasetImportJob"]
    assert first["status"] in (PENDING, IN_PROGRESS, ACTIVE)
    job = wait_job(personalize, full)
    assert job["status"] == ACTIVE
    assert job["jobName"] == full_name
    assert job["datasetImportJobArn"] == full
    assert job["datasetArn"] == group.interactions_dataset
    assert job["dataSource"] == {"dataLocation": local.url + "data/"}
    assert job["roleArn"] == ROLE_ARN
    assert job["importMode"] == "FULL"
    assert job["publishAttributionMetricsToS3"] is True
    assert "failureReason" not in job
    assert job["creationDateTime"] == first["creationDateTime"]
    assert before - 1 <= job["creationDateTime"].timestamp() <= job["lastUpdatedDateTime"].timestamp()
    assert job["lastUpdatedDateTime"].timestamp() <= time.time() + 1

    bad = local.put("bad.csv", b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,soon,View\n")
    failed_name = unique("failed")
    failed = start_job(personalize, group.interactions_dataset, bad, name=failed_name, mode="INCREMENTAL")
    failed_view = wait_job(personalize, failed)
    assert failed_view["status"] == FAILED
    assert failed_view["importMode"] == "INCREMENTAL"
    assert failed_view["publishAttributionMetricsToS3"] is False
    assert bad in failed_view["failureReason"]
    items_name = unique("items")
    items_job = start_job(
        personalize, group.items_dataset, local.put("items.csv", items_csv({"i1": 1.0})), name=items_name
    )
    wait_job(personalize, items_job)
    assert len(reports(local)) == 1
    with pytest.raises(personalize.exceptions.ResourceNotFoundException):
        personalize.describe_dataset_import_job(datasetImportJobArn=full.replace(full_name, unique("nope")))

    # Filtered by dataset, newest first, one per page.
    pages: list[list[dict[str, Any]]] = []
    kwargs: dict[str, Any] = {"datasetArn": group.interactions_dataset, "maxResults": 1}
    while True:
        page = personalize.list_dataset_import_jobs(**kwargs)
        pages.append(page["datasetImportJobs"])
        if not page.get("nextToken"):
            break
        kwargs["nextToken"] = page["nextToken"]
    assert [len(p) for p in pages] == [1, 1]
    summaries = [s for p in pages for s in p]
    assert [s["jobName"] for s in summaries] == [failed_name, full_name]
    assert summaries[0]["datasetImportJobArn"] == failed
    assert summaries[0]["status"] == FAILED
    assert summaries[0]["importMode"] == "INCREMENTAL"
    assert summaries[0]["failureReason"] == failed_view["failureReason"]
    assert summaries[1]["status"] == ACTIVE
    assert summaries[1]["importMode"] == "FULL"
    assert "failureReason" not in summaries[1]
    assert summaries[1]["creationDateTime"] == job["creationDateTime"]
    assert summaries[1]["lastUpdatedDateTime"] == job["lastUpdatedDateTime"]

    listed = personalize.list_dataset_import_jobs(datasetArn=group.items_dataset)
    assert [s["jobName"] for s in listed["datasetImportJobs"]] == [items_name]
    assert "nextToken" not in listed

    everything: list[str] = []
    paginator = personalize.get_paginator("list_dataset_import_jobs")
    for page in paginator.paginate(PaginationConfig={"PageSize": 100}):
        everything += [s["jobName"] for s in page["datasetImportJobs"]]
    assert {full_name, failed_name, items_name} <= set(everything)
    assert len(everything) == len(set(everything))

    with pytest.raises(personalize.exceptions.InvalidNextTokenException):
        personalize.list_dataset_import_jobs(datasetArn=group.interactions_dataset, nextToken="not-a-token!")


# === reports, sources, the live series ===========================================================================


def test_reports_and_live_series(server: ServerProcess, personalize: Any, store: Store) -> None:
    """A FULL and an INCREMENTAL publishing import from folders and files: header names in any case and order,
    exact duplicates once, sources, SUM over items as stored (bulk and PutItems), one report per job covering only
    its rows; only the INCREMENTAL import feeds the live series, without rows older than 14 days."""
    events = server.client("personalize-events")
    group = Group(personalize, interactions_schema=SOURCED_SCHEMA)
    assert group.items_dataset is not None
    base, old = base_time(2), base_time(20)

    items_header = ["margin", "Item_Id", "price", "category_l2", "CATEGORY_L1"]
    run_job(
        personalize,
        group.items_dataset,
        store.put("items/all.csv", items_csv({"i1": 1.5, "i2": 2.25, "i3": 10.0, "i4": 0.5}, items_header)),
    )
    events.put_items(
        datasetArn=group.items_dataset,
        items=[
            {"itemId": "i2", "properties": json.dumps({"margin": 4.0, "price": 8.0})},
            {"itemId": "i5", "properties": json.dumps({"margin": 3.0})},
        ],
    )
    items = {**item_table({"i1": 1.5, "i3": 10.0, "i4": 0.5}), "i2": {"MARGIN": 4.0}, "i5": {"MARGIN": 3.0}}
    metrics = [VIEWS, MARGIN, CLICK_VALUE]
    attribution = attribute(personalize, group, metrics, store.url + "reports/")

    file_a = [
        interaction("u1", "i1", base + 1, "View", source="promo"),
        interaction("u1", "i1", base + 1, "View", source="promo"),  # exact duplicate: counts once
        interaction("u1", "i1", base + 2, "View", source="promo"),
        interaction("u2", "i2", base + 3, "view", source="", rec="never-issued"),
        interaction("u3", "i2", base + 4, "VIEW", source="banner", rec="never-issued"),
        interaction("u3", "i1", base - 5, "Purchase", source="banner"),
        interaction("u4", "i2", base - 6, "purchase", source="banner"),
        interaction("u4", "i5", base - 7, "Purchase"),
        interaction("u4", "i9", base - 8, "Purchase", source="banner"),  # no such item: nothing to sum
        interaction("u5", "i3", base + 9, "Click", value=1.5, source='spring, "sale"'),
        interaction("u5", "i3", base + 10, "Click", source='spring, "sale"'),  # no value: nothing to sum
        interaction("u5", "i3", old + 11, "Click", value=2.25),
        interaction("u6", "i4", base + 12, "Cart"),  # no metric
    ]
    file_b = [
        interaction("u1", "i1", base + 1, "View", source="promo"),  # duplicate of a row of a.csv
        interaction("u7", "i3", base - WINDOW + 1, "Purchase"),
        interaction("u7", "i3", base - WINDOW + 1, "View"),
        interaction("u8", "i4", old + 20, "view", source="promo"),
    ]
    b_header = ["event_type", "Timestamp", "item_id", "USER_ID", "Event_Value", "event_attribution_source"]
    store.put("full/a.csv", csv_bytes(SOURCED_HEADER, file_a))
    store.put("full/nested/b.csv", csv_bytes(b_header, file_b))
    store.put("full-decoy.csv", b"not,a,schema\n1,2,3\n")  # shares the name's start, not the folder

    started = time.time()
    run_job(personalize, group.interactions_dataset, store.url + "full/", publish=True)
    full_totals = ref_totals(file_a + file_b, metrics, items)
    full_report = new_report(store, [], "FULL", started)
    assert report_cells(store, full_report) == ref_csv(full_totals)
    assert full_totals[("SUMMARGIN", "PURCHASE", "sum", "banner", window(base - 5))] == 5.5
    assert full_totals[("COUNTVIEWS", "VIEW", "samplecount", "promo", base)] == 2
    assert series(server, attribution) == []  # FULL imports do not feed the live series

    incremental = [
        interaction("u1", "i1", base + 100, "View", source="promo"),  # also in the FULL import: counts again
        interaction("u9", "i5", base + 101, "purchase", source="email"),
        interaction("u9", "i3", base + WINDOW, "Click", value=0.75, source="email"),
        interaction("u9", "i3", base + WINDOW, "Click", value=0.75, source="email"),
        interaction("u9", "i2", old + 5, "View", source="email"),  # in the report, not in the live series
        interaction("u9", "i2", old + 6, "Purchase"),
    ]
    inc_header = [
        "RECOMMENDATION_ID",
        "EVENT_VALUE",
        "USER_ID",
        "ITEM_ID",
        "TIMESTAMP",
        "EVENT_TYPE",
        "EVENT_ATTRIBUTION_SOURCE",
    ]
    location = store.put("incremental.csv", csv_bytes(inc_header, incremental))
    before = reports(store)
    started = time.time()
    run_job(personalize, group.interactions_dataset, location, mode="INCREMENTAL", publish=True)
    inc_report = new_report(store, before, "INCREMENTAL", started)
    assert report_cells(store, inc_report) == ref_csv(ref_totals(incremental, metrics, items))
    assert report_cells(store, full_report) == ref_csv(full_totals)  # untouched
    live = ref_totals(incremental, metrics, items, min_ts=time.time() - 14 * DAY)
    assert series(server, attribution) == ref_rows(live)
    assert all(row[5] != window(old) for row in series(server, attribution))

    # Another INCREMENTAL import, not publishing: the live series grows, no report is written.
    more = [interaction("u1", "i2", base + 200, "View", source="promo"), interaction("u1", "i2", old, "View")]
    run_job(
        personalize,
        group.interactions_dataset,
        store.put("more.csv", csv_bytes([*BASIC_HEADER, "EVENT_ATTRIBUTION_SOURCE"], more)),
        mode="INCREMENTAL",
    )
    assert len(reports(store)) == 2
    live = combine(live, ref_totals(more, metrics, items, min_ts=time.time() - 14 * DAY))
    assert series(server, attribution) == ref_rows(live)


def test_randomized_medium_import(server: ServerProcess, personalize: Any, s3_store: S3Store) -> None:
    """A few thousand seeded-random rows across windows (two over 14 days old), sources, event types in every case,
    items bulk-imported and PutItems-updated, in three S3 files with different headers: both reports and the live
    series equal the reference."""
    rng = random.Random(20240611)
    events = server.client("personalize-events")
    group = Group(personalize, interactions_schema=SOURCED_SCHEMA)
    assert group.items_dataset is not None
    store = s3_store

    margins = {f"i{n}": rng.randrange(0, 400) / 4 for n in range(50)}
    run_job(personalize, group.items_dataset, store.put("items.csv", items_csv(margins)))
    items = item_table(margins)
    updates = {f"i{n}": rng.randrange(0, 400) / 4 for n in (*range(5), *range(50, 55))}
    for start in range(0, len(updates), 10):
        chunk = list(updates.items())[start : start + 10]
        events.put_items(
            datasetArn=group.items_dataset,
            items=[{"itemId": i, "properties": json.dumps({"margin": m})} for i, m in chunk],
        )
    for i, m in updates.items():  # PutItems replaces the whole item: only MARGIN is left
        items[i] = {"MARGIN": m}

    metrics = [
        VIEWS,
        MARGIN,
        CLICK_VALUE,
        {"eventType": "purchase", "expression": "sum(items.price)", "metricName": "revenue"},
        {"eventType": "CART", "expression": "SampleCount()", "metricName": "carts"},
    ]
    attribution = attribute(personalize, group, metrics, store.url + "out/reports")  # no trailing "/"

    recent = base_time(1)
    windows = [recent - k * WINDOW for k in range(6)] + [base_time(20), base_time(20) - WINDOW]
    sources = [None, None, None, "", "email", "homepage_banner", "Recommended For You", 'spring, "sale"']
    event_types = ["View", "view", "VIEW", "Purchase", "purchase", "Click", "click", "Cart", "Wishlist"]

    def random_rows(count: int, with_source: bool) -> list[dict[str, Any]]:
        rows = [
            interaction(
                f"u{rng.randrange(200)}",
                f"i{rng.randrange(60)}",
                rng.choice(windows) + rng.randrange(WINDOW),
                rng.choice(event_types),
                None if rng.random() < 0.2 else rng.randrange(0, 200) / 4,
                rng.choice(sources) if with_source else None,
                f"rec-{rng.randrange(5)}" if rng.random() < 0.2 else None,
            )
            for _ in range(count)
        ]
        rows += [dict(rng.choice(rows)) for _ in range(count // 20)]  # exact duplicates
        rng.shuffle(rows)
        return rows

    full_rows = random_rows(800, True)
    store.put("full.csv", csv_bytes(SOURCED_HEADER, full_rows))
    started = time.time()
    run_job(personalize, group.interactions_dataset, store.url + "full.csv", publish=True)
    full_report = new_report(store, [], "FULL", started, "out/reports/")
    assert report_cells(store, full_report) == ref_csv(ref_totals(full_rows, metrics, items))
    assert series(server, attribution) == []

    parts = [random_rows(1000, True), random_rows(900, True), random_rows(700, False)]
    shuffled = [*SOURCED_HEADER]
    rng.shuffle(shuffled)
    store.put("inc/part-1.csv", csv_bytes(SOURCED_HEADER, parts[0]))
    store.put("inc/part-2.csv", csv_bytes([h.lower() for h in shuffled], parts[1]))
    store.put("inc/part-3.csv", csv_bytes([*reversed(BASIC_HEADER), "recommendation_id"], parts[2]))
    all_rows = [row for part in parts for row in part]
    started = time.time()
    run_job(personalize, group.interactions_dataset, store.url + "inc/", mode="INCREMENTAL", publish=True)
    inc_report = new_report(store, [full_report], "INCREMENTAL", started, "out/reports/")
    totals = ref_totals(all_rows, metrics, items)
    assert len(totals) > 100
    assert report_cells(store, inc_report) == ref_csv(totals)
    live = ref_totals(all_rows, metrics, items, min_ts=time.time() - 14 * DAY)
    assert len(live) < len(totals)
    assert series(server, attribution) == ref_rows(live)


def test_only_metrics_created_before_the_job_count(
    server: ServerProcess, personalize: Any, local: LocalStore
) -> None:
    group = Group(personalize, with_items=False)
    base = base_time(1)

    def rows_at(offset: int) -> list[list[str]]:
        types = ["View", "Click", "click", "View"]
        return [interaction("u1", "i1", base + offset + n, t) for n, t in enumerate(types)]

    # Imported before the attribution existed: never counted.
    run_job(
        personalize, group.interactions_dataset, local.put("full.csv", csv_bytes(BASIC_HEADER, rows_at(0)))
    )
    early = local.put("early.csv", csv_bytes(BASIC_HEADER, rows_at(10)))
    run_job(personalize, group.interactions_dataset, early, mode="INCREMENTAL")
    attribution = attribute(personalize, group, [VIEWS], local.url + "reports/")
    assert series(server, attribution) == []

    def publish(rows: list[list[str]], expected: list[Mapping[str, str]], seen: list[str]) -> list[str]:
        started = time.time()
        data = local.put(f"data-{len(seen)}.csv", csv_bytes(BASIC_HEADER, rows))
        run_job(personalize, group.interactions_dataset, data, mode="INCREMENTAL", publish=True)
        name = new_report(local, seen, "INCREMENTAL", started)
        assert report_cells(local, name) == ref_csv(ref_totals(rows, expected, {}))
        return [*seen, name]

    seen = publish(rows_at(20), [VIEWS], [])
    personalize.update_metric_attribution(metricAttributionArn=attribution, addMetrics=[CLICKS])
    seen = publish(rows_at(30), [VIEWS, CLICKS], seen)
    personalize.update_metric_attribution(metricAttributionArn=attribution, removeMetrics=["countViews"])
    seen = publish(rows_at(40), [CLICKS], seen)
    live = combine(
        ref_totals(rows_at(20), [VIEWS], {}),
        ref_totals(rows_at(30), [VIEWS, CLICKS], {}),
        ref_totals(rows_at(40), [CLICKS], {}),
    )
    # The removed metric's live series stays as it was; the others grew with each import.
    assert series(server, attribution) == ref_rows(live)
    # Rows the event log holds already count once, even those it took before the attribution existed: the same
    # files again (each job's report still covers its own rows) add nothing to the live series.
    seen = publish(rows_at(10), [CLICKS], seen)
    seen = publish(rows_at(40), [CLICKS], seen)
    assert series(server, attribution) == ref_rows(live)


def test_items_as_stored_when_the_job_runs(
    personalize: Any, server: ServerProcess, local: LocalStore
) -> None:
    """SUM(ITEMS.MARGIN) joins the items as they are when the job runs: bulk FULL and INCREMENTAL imports and
    PutItems; a FULL items import replaces the bulk items and keeps those written by PutItems; a failed items import
    changes nothing."""
    events = server.client("personalize-events")
    group = Group(personalize)
    assert group.items_dataset is not None
    attribute(personalize, group, [MARGIN], local.url + "reports/")
    base = base_time(1)
    purchases = [interaction("u1", f"i{n}", base + n, "Purchase") for n in range(1, 7)]
    data = local.put("purchases.csv", csv_bytes(BASIC_HEADER, purchases))

    def check(margins: Mapping[str, float]) -> None:
        before = reports(local)
        started = time.time()
        run_job(personalize, group.interactions_dataset, data, publish=True)
        name = new_report(local, before, "FULL", started)
        expected = ref_totals(purchases, [MARGIN], {i: {"MARGIN": m} for i, m in margins.items()})
        assert report_cells(local, name) == ref_csv(expected)

    def put_items(margins: Mapping[str, float]) -> None:
        events.put_items(
            datasetArn=group.items_dataset,
            items=[{"itemId": i, "properties": json.dumps({"margin": m})} for i, m in margins.items()],
        )

    assert group.items_dataset is not None
    run_job(
        personalize, group.items_dataset, local.put("a.csv", items_csv({"i1": 1.0, "i2": 2.0, "i3": 4.0}))
    )
    put_items({"i2": 8.0, "i4": 16.0})
    check({"i1": 1.0, "i2": 8.0, "i3": 4.0, "i4": 16.0})

    broken = items_csv({"i1": 100.0, "i3": 100.0}) + b"i7,1.0,toys,cars,n/a\n"
    reason = failed_job(personalize, group.items_dataset, local.put("broken.csv", broken))
    assert "broken.csv" in reason
    assert "line 4" in reason
    check({"i1": 1.0, "i2": 8.0, "i3": 4.0, "i4": 16.0})

    run_job(
        personalize,
        group.items_dataset,
        local.put("b.csv", items_csv({"i1": 32.0, "i6": 64.0})),
        mode="INCREMENTAL",
    )
    check({"i1": 32.0, "i2": 8.0, "i3": 4.0, "i4": 16.0, "i6": 64.0})

    run_job(personalize, group.items_dataset, local.put("c.csv", items_csv({"i3": 0.5})))
    check({"i2": 8.0, "i3": 0.5, "i4": 16.0})


# === validation: a bad file fails the job and changes nothing ======================================================

HEADER = b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,EVENT_VALUE\n"
GOOD = f"u1,i1,{base_time(1) + 7},View,1.5\n".encode()  # would add to a report and the live series
# (name, content, what the failure reason names besides the file)
INVALID_FILES: list[tuple[str, bytes, list[str]]] = [
    ("unknown-column", b"USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE,COLOUR\n" + GOOD, ["line 1", "COLOUR"]),
    ("missing-column", b"user_id,TIMESTAMP,EVENT_TYPE\nu1,1700000000,View\n", ["line 1", "ITEM_ID"]),
    ("empty-file", b"", ["empty"]),
    ("header-only", HEADER, []),
    ("latin-1-value", HEADER + GOOD + b"u\xe9,i1,1700000000,View,\n", ["line 3", "UTF-8"]),
    ("latin-1-header", b"USER_ID,ITEM_ID,TIMESTAMP,\xc9VENT_TYPE\n" + GOOD, ["line 1", "UTF-8"]),
    ("truncated-line", HEADER + GOOD + GOOD + b"u1,i1,1700000000\n", ["line 4"]),
    ("extra-value", HEADER + GOOD + b"u1,i1,1700000000,View,1.5,9\n", ["line 3"]),
    ("not-a-long", HEADER + GOOD * 3 + b"u1,i1,yesterday,View,\n", ["line 5", "TIMESTAMP"]),
    ("not-a-float", HEADER + b"u1,i1,1700000000,View,lots\n" + GOOD, ["line 2", "EVENT_VALUE"]),
    ("fractional-long", HEADER + b"u1,i1,1700000000.5,View,\n" + GOOD, ["line 2", "TIMESTAMP"]),
    ("exponent-long", HEADER + GOOD + b"u1,i1,17e8,View,\n", ["line 3", "TIMESTAMP"]),
    ("blank-long", HEADER + GOOD + b"u1,i1,  ,View,\n", ["line 3", "TIMESTAMP"]),
    ("empty-required", HEADER + GOOD + b",i1,1700000000,View,\n", ["line 3", "USER_ID"]),
    ("quoted-empty-required", HEADER + GOOD * 2 + b'u1,"",1700000000,View,\n', ["line 4", "ITEM_ID"]),
    # Deep in a large file (read in parallel), the line is still exact.
    ("deep-hex", HEADER + GOOD * 250_000 + b"u1,i1,0x10,View,\n", ["line 250002", "TIMESTAMP"]),
    ("deep-truncated", HEADER + GOOD * 300_000 + b"u1,i1,1\n" + GOOD * 1000, ["line 300002"]),
]


def test_invalid_files_fail_and_change_nothing(server: ServerProcess, personalize: Any, store: Store) -> None:
    group = Group(personalize, interactions_schema=SOURCED_SCHEMA, with_items=False)
    metrics = [VIEWS, CLICK_VALUE]
    attribution = attribute(personalize, group, metrics, store.url + "reports/")
    base = base_time(1)
    good_rows = [
        interaction("u1", "i1", base + 1, "View", source="known"),
        interaction("u1", "i1", base + 2, "Click", value=2.5),
    ]
    good = store.put("good.csv", csv_bytes(SOURCED_HEADER, good_rows))
    run_job(personalize, group.interactions_dataset, good, publish=True)
    run_job(personalize, group.interactions_dataset, good, mode="INCREMENTAL", publish=True)
    before_reports = {name: store.read(name) for name in reports(store)}
    assert len(before_reports) == 2
    live = ref_rows(ref_totals(good_rows, metrics, {}))
    assert series(server, attribution) == live

    cases = [
        (store.put(f"bad/{number}-{name}.csv", content), fragments)
        for number, (name, content, fragments) in enumerate(INVALID_FILES)
    ]
    # One bad file in a folder of good ones: the reason names the bad one.
    store.put("mixed/1-good.csv", csv_bytes(SOURCED_HEADER, good_rows))
    mixed_bad = store.put("mixed/2-bad.csv", HEADER + GOOD + b"u1,i1,1700000000,View,oops\n")
    store.put("mixed/3-good.csv", csv_bytes(BASIC_HEADER, [interaction("u3", "i3", base, "View")]))
    cases.append((store.url + "mixed/", [mixed_bad, "line 3", "EVENT_VALUE"]))

    for start in range(0, len(cases), 4):  # at most 5 jobs may wait at once
        batch = cases[start : start + 4]
        arns = [
            start_job(personalize, group.interactions_dataset, url, mode="INCREMENTAL", publish=True)
            for url, _ in batch
        ]
        for arn, (url, fragments) in zip(arns, batch, strict=True):
            job = wait_job(personalize, arn)
            assert job["status"] == FAILED, url
            reason = job["failureReason"]
            for fragment in [url, *fragments]:
                assert fragment in reason, (url, reason)
            if url.endswith("/"):
                assert "1-good" not in reason
                assert "3-good" not in reason

    # A failed FULL import, too.
    assert failed_job(personalize, group.interactions_dataset, cases[0][0], publish=True)
    assert {name: store.read(name) for name in reports(store)} == before_reports
    assert series(server, attribution) == live


def test_accepted_file_variants(personalize: Any, local: LocalStore) -> None:
    """A byte-order mark, CRLF line ends, quoted values, blank EVENT_VALUE and a header with spaces around names."""
    group = Group(personalize, interactions_schema=SOURCED_SCHEMA, with_items=False)
    attribute(personalize, group, [VIEWS, CLICK_VALUE], local.url + "reports/")
    base = base_time(1)
    content = (
        "\ufeffUSER_ID, item_id ,TIMESTAMP,EVENT_TYPE,EVENT_VALUE,EVENT_ATTRIBUTION_SOURCE\r\n"
        f'"u1","i1",{base + 1},"View",,"a, b"\r\n'
        f"u1,i1,{base + 2},Click,0.25,\r\n"
        f"u1,i1,{base + 3},Click,,x\r\n"
    ).encode()
    run_job(personalize, group.interactions_dataset, local.put("variants.csv", content), publish=True)
    rows = [
        interaction("u1", "i1", base + 1, "View", source="a, b"),
        interaction("u1", "i1", base + 2, "Click", value=0.25),
        interaction("u1", "i1", base + 3, "Click", source="x"),
    ]
    (name,) = reports(local)
    assert report_cells(local, name) == ref_csv(ref_totals(rows, [VIEWS, CLICK_VALUE], {}))


# === the 100-source limit, and a report that cannot be written ===================================================


def test_source_limit_applies_to_imports(server: ServerProcess, personalize: Any, s3_store: S3Store) -> None:
    store = s3_store
    group = Group(personalize, interactions_schema=SOURCED_SCHEMA, with_items=False)
    report_bucket = unique("rep")
    store.client.create_bucket(Bucket=report_bucket)
    destination = f"s3://{report_bucket}/reports/"
    attribution = attribute(personalize, group, [VIEWS], destination)
    base = base_time(1)

    def rows_for(sources: Iterable[str | None]) -> list[dict[str, Any]]:
        return [interaction("u1", "i1", base + n, "View", source=s) for n, s in enumerate(sources)]

    def csv_of(name: str, sources: Iterable[str | None]) -> str:
        return store.put(name, csv_bytes(SOURCED_HEADER, rows_for(sources)))

    first = [f"src-{n:02}" for n in range(98)]
    run_job(personalize, group.interactions_dataset, csv_of("98.csv", [*first, None, ""]))

    # The report cannot be written: the job fails, and its two new sources are not kept.
    for key in store.client.list_objects_v2(Bucket=report_bucket).get("Contents", []):
        store.client.delete_object(Bucket=report_bucket, Key=key["Key"])
    store.client.delete_bucket(Bucket=report_bucket)
    reason = failed_job(
        personalize,
        group.interactions_dataset,
        csv_of("lost.csv", ["lost-1", "lost-2"]),
        mode="INCREMENTAL",
        publish=True,
    )
    assert destination in reason
    assert series(server, attribution) == []
    store.client.create_bucket(Bucket=report_bucket)

    kept = rows_for(["new-1", "new-2", "src-00"])
    run_job(
        personalize,
        group.interactions_dataset,
        store.put("kept.csv", csv_bytes(SOURCED_HEADER, kept)),
        mode="INCREMENTAL",
        publish=True,
    )
    live = ref_rows(ref_totals(kept, [VIEWS], {}))
    assert series(server, attribution) == live
    (report,) = s3_client_files(store, report_bucket)

    # A 101st source fails the job, FULL or INCREMENTAL; known sources and rows without one are fine.
    for mode in ("FULL", "INCREMENTAL"):
        reason = failed_job(
            personalize,
            group.interactions_dataset,
            csv_of(f"101-{mode}.csv", ["src-01", "one-too-many"]),
            mode=mode,
            publish=True,
        )
        assert "100" in reason
    assert series(server, attribution) == live
    assert s3_client_files(store, report_bucket) == [report]
    run_job(
        personalize,
        group.interactions_dataset,
        csv_of("known.csv", ["src-02", None, "new-2"]),
        mode="INCREMENTAL",
    )

    # The sources imported count for PutEvents too.
    events = server.client("personalize-events")
    tracking = personalize.create_event_tracker(name=unique("et"), datasetGroupArn=group.arn)["trackingId"]

    def put(source: str) -> None:
        events.put_events(
            trackingId=tracking,
            userId="u1",
            sessionId="s1",
            eventList=[
                {
                    "eventType": "View",
                    "sentAt": base,
                    "itemId": "i1",
                    "metricAttribution": {"eventAttributionSource": source},
                }
            ],
        )

    with pytest.raises(ClientError) as info:
        put("one-too-many")
    assert info.value.response["Error"]["Code"] == "InvalidInputException"
    put("src-97")


def s3_client_files(store: S3Store, bucket: str) -> list[str]:
    return sorted(o["Key"] for o in store.client.list_objects_v2(Bucket=bucket).get("Contents", []))


# === report destinations ========================================================================================


def test_attribution_destination_must_be_writable(
    personalize: Any, s3_store: S3Store, tmp_path: Path
) -> None:
    group = Group(personalize, with_items=False)
    missing = f"s3://{unique('missing')}/reports/"
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=[VIEWS],
        metricsOutputConfig=output_config(missing),
    )["metricAttributionArn"]
    view = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert view["status"] == FAILED
    assert missing in view["failureReason"]

    data = s3_store.put("data.csv", csv_bytes(BASIC_HEADER, [interaction("u1", "i1", base_time(1), "View")]))
    run_job(personalize, group.interactions_dataset, data)
    # Publishing to it cannot succeed: the job is accepted (the destination may have been mended meanwhile) and
    # fails on the write, naming the destination, with none of its rows counted.
    job = wait_job(personalize, start_job(personalize, group.interactions_dataset, data, publish=True))
    assert job["status"] == FAILED
    assert missing.split("/")[2] in job["failureReason"]

    good = s3_store.url + "reports/"
    personalize.update_metric_attribution(metricAttributionArn=arn, metricsOutputConfig=output_config(good))
    view = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert view["status"] == ACTIVE
    assert "failureReason" not in view
    assert view["metricsOutputConfig"]["s3DataDestination"]["path"] == good
    assert reports(s3_store) == []  # the write check leaves nothing behind
    run_job(personalize, group.interactions_dataset, data, publish=True)
    assert len(reports(s3_store)) == 1

    # A local folder that cannot be made (a file is in the way) is not writable either.
    blocker = tmp_path / "blocker"
    blocker.write_text("in the way")
    blocked = f"file://{blocker}/reports/"
    personalize.update_metric_attribution(
        metricAttributionArn=arn, metricsOutputConfig=output_config(blocked)
    )
    view = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert view["status"] == FAILED
    assert blocked in view["failureReason"]
    folder = f"file://{tmp_path}/reports/"
    personalize.update_metric_attribution(metricAttributionArn=arn, metricsOutputConfig=output_config(folder))
    view = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert view["status"] == ACTIVE
    assert list((tmp_path / "reports").iterdir()) == []


def test_report_with_a_kms_key(personalize: Any, s3_store: S3Store) -> None:
    key = "arn:aws:kms:us-east-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    group = Group(personalize, with_items=False)
    attribute(personalize, group, [VIEWS], s3_store.url + "encrypted/", kms_key_arn=key)
    rows = [interaction("u1", "i1", base_time(1), "View")]
    run_job(
        personalize,
        group.interactions_dataset,
        s3_store.put("d.csv", csv_bytes(BASIC_HEADER, rows)),
        publish=True,
    )
    (name,) = reports(s3_store, "encrypted/")
    head = s3_store.client.head_object(Bucket=s3_store.bucket, Key=name)
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == key
    assert report_cells(s3_store, name) == ref_csv(ref_totals(rows, [VIEWS], {}))


# === long-running jobs ==========================================================================================


def test_server_answers_while_a_job_runs(personalize: Any, big_file: BigFile) -> None:
    group = Group(personalize, with_items=False)
    arn = start_job(personalize, group.interactions_dataset, f"file://{big_file.path}")
    latencies: list[float] = []
    answered_in_progress = 0
    deadline = time.monotonic() + 60
    while True:
        started = time.monotonic()
        job = personalize.describe_dataset_import_job(datasetImportJobArn=arn)["datasetImportJob"]
        if job["status"] == IN_PROGRESS:
            personalize.describe_dataset_group(datasetGroupArn=group.arn)
            personalize.list_dataset_import_jobs(datasetArn=group.interactions_dataset)
            answered_in_progress += 1
        latencies.append(time.monotonic() - started)
        if job["status"] in (ACTIVE, FAILED):
            break
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert job["status"] == ACTIVE, job.get("failureReason")
    assert answered_in_progress >= 1
    assert max(latencies) < 10, latencies  # loose: a blocked server would not answer until the job ends


def test_at_most_five_jobs_wait_and_a_metric_added_meanwhile_does_not_count(
    server: ServerProcess, big_file: BigFile, tmp_path: Path
) -> None:
    """In a region of its own, so no other test's jobs count: two large jobs and three more fill the five places;
    the sixth is refused. A metric added while a publishing job waits does not count in its report."""
    # botocore retries LimitExceededException after a back-off, by when a place may have come free: not here.
    personalize = boto3.client(
        "personalize",
        endpoint_url=server.url,
        region_name="eu-west-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"mode": "standard", "total_max_attempts": 1}),
    )
    group = Group(personalize, with_items=False)
    reports_dir = LocalStore(tmp_path / "out")
    attribute(personalize, group, [VIEWS], reports_dir.url + "reports/")
    attribution = personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"][0]
    base = base_time(1)
    rows = [interaction("u1", "i1", base, "View"), interaction("u1", "i1", base, "Click")]
    small = reports_dir.put("small.csv", csv_bytes(BASIC_HEADER, rows))
    dataset = group.interactions_dataset

    big = [start_job(personalize, dataset, f"file://{big_file.path}") for _ in range(2)]
    publishing = start_job(personalize, dataset, small, publish=True)
    personalize.update_metric_attribution(
        metricAttributionArn=attribution["metricAttributionArn"], addMetrics=[CLICKS]
    )
    waiting = personalize.describe_dataset_import_job(datasetImportJobArn=publishing)["datasetImportJob"]
    assert waiting["status"] == PENDING  # still waiting when the metric was added
    others = [start_job(personalize, dataset, small) for _ in range(2)]
    with pytest.raises(personalize.exceptions.LimitExceededException):
        start_job(personalize, dataset, small)
    statuses = [
        personalize.describe_dataset_import_job(datasetImportJobArn=a)["datasetImportJob"]["status"]
        for a in [*big, publishing, *others]
    ]
    assert all(s in LIFECYCLE for s in statuses), statuses
    assert statuses[2:] == [PENDING] * 3  # jobs run one at a time, in order

    for arn in [*big, publishing, *others]:
        assert wait_job(personalize, arn)["status"] == ACTIVE
    (first,) = reports(reports_dir)
    assert report_cells(reports_dir, first) == ref_csv(ref_totals(rows, [VIEWS], {}))
    run_job(personalize, dataset, small, publish=True)  # places free again; the new metric counts from now on
    (second,) = set(reports(reports_dir)) - {first}
    assert report_cells(reports_dir, second) == ref_csv(ref_totals(rows, [VIEWS, CLICKS], {}))


def test_jobs_resume_after_kill(tmp_path: Path, big_file: BigFile) -> None:
    """kill -9 while a job is in progress and another waits: both complete after the restart, with their reports."""
    data_dir = tmp_path / "data"
    out = LocalStore(tmp_path / "out")
    rows = [interaction("u1", "i1", base_time(1), "View"), interaction("u2", "i1", base_time(1), "View")]
    small = out.put("small.csv", csv_bytes(BASIC_HEADER, rows))
    first = ServerProcess(data_dir, env=AWS_TEST_ENV).start()
    try:
        personalize = first.client("personalize")
        group = Group(personalize, with_items=False)
        attribute(personalize, group, [VIEWS], out.url + "reports/")
        big = start_job(personalize, group.interactions_dataset, f"file://{big_file.path}", publish=True)
        queued = start_job(personalize, group.interactions_dataset, small, publish=True)
        deadline = time.monotonic() + 30
        while True:
            status = personalize.describe_dataset_import_job(datasetImportJobArn=big)["datasetImportJob"][
                "status"
            ]
            if status != PENDING:
                break
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert status == IN_PROGRESS
    finally:
        first.kill()
    assert first.proc is not None
    assert first.proc.returncode == -9

    with ServerProcess(data_dir, env=AWS_TEST_ENV) as second:
        personalize = second.client("personalize")
        before = personalize.describe_dataset_import_job(datasetImportJobArn=queued)["datasetImportJob"]
        assert before["status"] in (PENDING, IN_PROGRESS)
        for arn in (big, queued):
            assert wait_job(personalize, arn)["status"] == ACTIVE
        contents = [report_cells(out, name) for name in reports(out)]
        expected_big, expected_small = big_report(big_file), ref_csv(ref_totals(rows, [VIEWS], {}))
        assert expected_big in contents
        assert expected_small in contents
        # A job cut short after writing its report may have written it twice (same content), nothing else.
        assert all(c in (expected_big, expected_small) for c in contents)


class Unanswering:
    """An S3 endpoint that accepts connections and never answers: a job reading from it stays in progress until
    the endpoint closes (then its reads fail, and so does the job)."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.held: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                self.held.append(self.listener.accept()[0])

    def close(self) -> None:
        with contextlib.suppress(OSError):  # wakes the accepting thread (a close alone leaves it listening)
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        for conn in self.held:
            conn.close()


def test_a_dataset_with_an_import_in_progress_is_in_use(tmp_path: Path) -> None:
    """DeleteDataset while its import job runs is ResourceInUseException, as on AWS (the job would otherwise end
    ACTIVE with its data gone); once the job has ended the dataset goes, with its jobs: a dataset made again under
    the same ARN lists none."""
    endpoint = Unanswering()
    try:
        with ServerProcess(tmp_path / "data", "--s3-endpoint-url", endpoint.url, env=AWS_TEST_ENV) as server:
            personalize = server.client("personalize")
            group = Group(personalize, with_items=False)
            job = start_job(personalize, group.interactions_dataset, "s3://bucket/data.csv")
            deadline = time.monotonic() + 30
            while (
                personalize.describe_dataset_import_job(datasetImportJobArn=job)["datasetImportJob"]["status"]
                != IN_PROGRESS
            ):
                assert time.monotonic() < deadline
                time.sleep(0.05)
            with pytest.raises(personalize.exceptions.ResourceInUseException) as info:
                personalize.delete_dataset(datasetArn=group.interactions_dataset)
            assert job in info.value.response["Error"]["Message"]

            endpoint.close()
            assert wait_job(personalize, job, timeout=120)["status"] == FAILED
            dataset = personalize.describe_dataset(datasetArn=group.interactions_dataset)["dataset"]
            personalize.delete_dataset(datasetArn=group.interactions_dataset)
            again = personalize.create_dataset(
                name=dataset["name"],
                datasetGroupArn=group.arn,
                datasetType="Interactions",
                schemaArn=dataset["schemaArn"],
            )["datasetArn"]
            assert again == group.interactions_dataset
            assert personalize.list_dataset_import_jobs(datasetArn=again)["datasetImportJobs"] == []
    finally:
        endpoint.close()
