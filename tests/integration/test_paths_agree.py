"""Every path an interaction arrives by agrees on what it counts: PutEvents and INCREMENTAL imports share one event
log, so an event is counted once whichever way (and however often) it comes, and the same values are refused on
both."""

from __future__ import annotations

import csv
import io
import json
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import INTERACTIONS_SCHEMA
from tests.integration.ingest import MARGIN, Tracked, base_time, event
from tests.server import ServerProcess

UNDEFINED = "SOURCE_NAME_UNDEFINED"
SCHEMA = {
    **INTERACTIONS_SCHEMA,
    "fields": [
        *INTERACTIONS_SCHEMA["fields"],
        {"name": "EVENT_ATTRIBUTION_SOURCE", "type": ["null", "string"]},
        {"name": "IMPRESSION", "type": ["null", "string"]},
        {"name": "DISCOUNT", "type": ["null", "double"]},
    ],
}
HEADER = [
    "USER_ID",
    "ITEM_ID",
    "TIMESTAMP",
    "EVENT_TYPE",
    "EVENT_VALUE",
    "EVENT_ATTRIBUTION_SOURCE",
    "IMPRESSION",
]
HEADER += ["DISCOUNT"]
IMPRESSIONS = {"eventType": "View", "expression": "IMPRESSIONCOUNT()", "metricName": "shown"}


class Imports:
    """Import jobs into a Tracked group's Interactions dataset from files in a local folder."""

    def __init__(self, tracked: Tracked, folder: Path) -> None:
        self.tracked = tracked
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)
        self.count = 0
        # INCREMENTAL needs a dataset with bulk records: a FULL import of one unrelated row first.
        self.run([["u0", "i0", "1", "Other", "", "", "", ""]], mode="FULL")

    def run(self, rows: list[list[str]], mode: str = "INCREMENTAL") -> dict[str, Any]:
        self.count += 1
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows(rows)
        path = self.folder / f"part-{self.count}.csv"
        path.write_text(out.getvalue())
        personalize = self.tracked.personalize
        arn = personalize.create_dataset_import_job(
            jobName=f"job-{self.count}-{time.time_ns()}",
            datasetArn=self.tracked.group.interactions_dataset,
            dataSource={"dataLocation": f"file://{path}"},
            roleArn="arn:aws:iam::123456789012:role/any",
            importMode=mode,
        )["datasetImportJobArn"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            job: dict[str, Any] = personalize.describe_dataset_import_job(datasetImportJobArn=arn)[
                "datasetImportJob"
            ]
            if job["status"] in ("ACTIVE", "CREATE FAILED"):
                return job
            time.sleep(0.05)
        raise AssertionError(f"import job {arn} did not finish")


def purchase_row(ts: int, user: str = "u1", discount: str = "5") -> list[str]:
    """A Purchase of i1 from the email campaign, shown beside i2, as a CSV row."""
    return [user, "i1", str(ts), "Purchase", "2.5", "email", "i1|i2", discount]


def purchase_event(ts: int) -> dict[str, Any]:
    """The same Purchase as PutEvents sends it (the discount as the integer 5 in a double column)."""
    return event(
        "Purchase",
        ts,
        item="i1",
        value=2.5,
        source="email",
        impression=["i1", "i2"],
        properties=json.dumps({"discount": 5}),
    )


@pytest.fixture
def tracked(server: ServerProcess) -> Tracked:
    tracked = Tracked(server, [MARGIN, IMPRESSIONS], interactions_schema=SCHEMA)
    tracked.put_items(("i1", {"margin": 3.0}))
    return tracked


def totals(tracked: Tracked) -> dict[tuple[str, str], float]:
    """(metric, source) → its total over every window."""
    found: dict[tuple[str, str], float] = {}
    for metric, _, value, _, source, _ in tracked.rows():
        found[(metric, source)] = found.get((metric, source), 0.0) + value
    return found


def test_an_event_sent_then_imported_counts_once(tracked: Tracked, tmp_path: Path) -> None:
    ts = base_time()
    imports = Imports(tracked, tmp_path)
    tracked.put(purchase_event(ts), session="s1", user="u1")
    assert totals(tracked) == {("SUMMARGIN", "email"): 3.0, ("SHOWN", "email"): 2.0}
    job = imports.run([purchase_row(ts), purchase_row(ts + 1)])
    assert job["status"] == "ACTIVE", job.get("failureReason")
    # The first row is the event already counted; the second is new (one more purchase; its list was shown).
    assert totals(tracked) == {("SUMMARGIN", "email"): 6.0, ("SHOWN", "email"): 2.0}


def test_an_event_imported_then_sent_counts_once(tracked: Tracked, tmp_path: Path) -> None:
    ts = base_time()
    imports = Imports(tracked, tmp_path)
    assert imports.run([purchase_row(ts)])["status"] == "ACTIVE"
    assert totals(tracked) == {("SUMMARGIN", "email"): 3.0, ("SHOWN", "email"): 2.0}
    tracked.put(purchase_event(ts), session="s9", user="u1")  # any session: the record holds none
    tracked.put(purchase_event(ts + 1), session="s9", user="u1")
    assert totals(tracked) == {("SUMMARGIN", "email"): 6.0, ("SHOWN", "email"): 2.0}


def test_the_same_incremental_file_twice_counts_once(tracked: Tracked, tmp_path: Path) -> None:
    ts = base_time()
    imports = Imports(tracked, tmp_path)
    rows = [purchase_row(ts + n, user=f"u{n}") for n in range(5)]
    assert imports.run(rows)["status"] == "ACTIVE"
    once = tracked.rows()
    assert totals(tracked)[("SUMMARGIN", "email")] == 15.0
    assert imports.run(rows)["status"] == "ACTIVE"
    assert imports.run([*reversed(rows), purchase_row(ts + 9, user="u9")])["status"] == "ACTIVE"
    assert totals(tracked)[("SUMMARGIN", "email")] == 18.0
    assert len(tracked.rows()) == len(once)


def test_values_differing_by_type_only_are_one_value(tracked: Tracked, tmp_path: Path) -> None:
    """A double column's 5 sent with PutEvents is the 5.0 a CSV holds: typed by the column on both paths."""
    ts = base_time()
    imports = Imports(tracked, tmp_path)
    assert imports.run([purchase_row(ts, discount="5.0")])["status"] == "ACTIVE"
    tracked.put(purchase_event(ts), session="s1", user="u1")
    assert totals(tracked)[("SUMMARGIN", "email")] == 3.0


def put_raw(tracked: Tracked, sent: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    body = {"trackingId": tracked.tracking_id, "userId": "u1", "sessionId": "s1", "eventList": [sent]}
    request = urllib.request.Request(
        tracked.server.url + "/events",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, {}
    except urllib.error.HTTPError as refused:
        return refused.code, json.loads(refused.read())


@pytest.mark.parametrize(
    ("member", "value", "column", "cell"),
    [
        ("eventValue", float("inf"), "EVENT_VALUE", "inf"),
        ("eventValue", 1e300, "EVENT_VALUE", "1e300"),
        ("eventValue", 1e-300, "EVENT_VALUE", "1e-300"),
        ("sentAt", 1e20, "TIMESTAMP", "100000000000000000000"),
        ("sentAt", 2**64, "TIMESTAMP", "18446744073709551616"),
        ("source", "s" * 1025, "EVENT_ATTRIBUTION_SOURCE", "s" * 1025),
        ("source", "   ", "EVENT_ATTRIBUTION_SOURCE", "   "),
        ("item", "i" * 257, "ITEM_ID", "i" * 257),
    ],
)
def test_both_paths_refuse_the_same_values(
    tracked: Tracked, tmp_path: Path, member: str, value: Any, column: str, cell: str
) -> None:
    ts = base_time()
    imports = Imports(tracked, tmp_path)
    sent = purchase_event(ts)
    row = purchase_row(ts)
    if member == "source":
        sent["metricAttribution"] = {"eventAttributionSource": value}
    elif member == "item":
        sent["itemId"] = value
    else:
        sent[member] = value
    row[HEADER.index(column)] = cell
    # Over HTTP as any client may send it (botocore cannot serialize a sentAt past year 9999).
    status, error = put_raw(tracked, sent)
    assert (status, error["__type"]) == (400, "InvalidInputException"), error
    job = imports.run([purchase_row(ts + 1), row])
    assert job["status"] == "CREATE FAILED"
    assert f"line 3, column {column}" in job["failureReason"], job["failureReason"]
    assert tracked.rows() == []
