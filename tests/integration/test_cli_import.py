"""``recimpact import`` and ``recimpact reports list|get`` as a user runs them: subprocesses against the live
server, a local CSV imported with "publish metrics", the report listed and fetched, and the failures a user meets."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Group, output_config, unique
from tests.integration.test_cli_attribution import ok, recimpact, refused
from tests.server import ServerProcess, free_port

REPORT_HEADER = "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"
T0 = 1_700_000_100  # the start of a 15-minute window (a multiple of 900)


def interactions_csv(path: Path, rows: list[tuple[str, str, int, str, str]]) -> str:
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["USER_ID", "ITEM_ID", "TIMESTAMP", "EVENT_TYPE", "EVENT_VALUE"])
        writer.writerows(rows)
    return f"file://{path}"


@pytest.fixture(scope="module")
def imported(server: ServerProcess, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A group with an attribution writing to a local folder, and one import published through the CLI."""
    personalize = server.client("personalize")
    root = tmp_path_factory.mktemp("cli-import")
    group = Group(personalize, with_items=False)
    arn = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=[
            {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"},
            {"eventType": "Click", "expression": "SUM(INTERACTIONS.EVENT_VALUE)", "metricName": "clickValue"},
        ],
        metricsOutputConfig=output_config(f"file://{root}/reports/"),
    )["metricAttributionArn"]
    location = interactions_csv(
        root / "interactions.csv",
        [
            ("u1", "i1", T0, "View", ""),
            ("u2", "i2", T0 + 1, "View", ""),
            ("u1", "i1", T0 + 2, "Click", "2.5"),
        ],
    )
    result = recimpact(
        "import", "--endpoint-url", server.url, "--dataset-arn", group.interactions_dataset,
        "--data-location", location, "--job-name", unique("history"), "--publish-metrics",
    )  # fmt: skip
    return {"group": group, "arn": arn, "root": root, "result": result, "personalize": personalize}


def test_import_follows_the_job_to_active_and_names_the_report(imported: dict[str, Any]) -> None:
    out = ok(imported["result"])
    assert "created arn:aws:personalize:us-east-1:" in out
    assert "ACTIVE" in out
    assert "3 distinct records imported" in out
    reports = list((imported["root"] / "reports").glob("AggregatedAttributionMetrics - FULL - *.csv"))
    assert len(reports) == 1
    assert reports[0].name in " ".join(out.split())
    jobs = imported["personalize"].list_dataset_import_jobs(datasetArn=imported["group"].interactions_dataset)
    assert [j["status"] for j in jobs["datasetImportJobs"]] == ["ACTIVE"]


def test_reports_list_in_every_format(server: ServerProcess, imported: dict[str, Any]) -> None:
    base = ("reports", "list", "--endpoint-url", server.url, "--metric-attribution-arn", imported["arn"])
    files = json.loads(ok(recimpact(*base, "--format", "json")))
    written = next((imported["root"] / "reports").glob("*.csv"))
    assert [f["name"] for f in files] == [written.name]
    assert files[0]["size"] == written.stat().st_size
    rows = list(csv.DictReader(io.StringIO(ok(recimpact(*base, "--format", "csv")))))
    assert [r["name"] for r in rows] == [written.name]
    assert rows[0]["url"] == f"file://{imported['root']}/reports/{written.name}"
    table = ok(recimpact(*base))
    assert written.name in table


def test_reports_get_prints_or_writes_the_newest_report(
    server: ServerProcess, imported: dict[str, Any], tmp_path: Path
) -> None:
    written = next((imported["root"] / "reports").glob("*.csv"))
    base = ("reports", "get", "--endpoint-url", server.url, "--metric-attribution-arn", imported["arn"])
    out = ok(recimpact(*base))
    assert out == written.read_text()
    assert out.splitlines()[0] == REPORT_HEADER
    window = T0
    assert f"COUNTVIEWS,VIEW,2.0,samplecount,SOURCE_NAME_UNDEFINED,{window}" in out.splitlines()
    assert f"CLICKVALUE,CLICK,2.5,sum,SOURCE_NAME_UNDEFINED,{window}" in out.splitlines()
    target = tmp_path / "report.csv"
    result = recimpact(*base, "--name", written.name, "--output", str(target))
    assert ok(result) == ""
    assert target.read_bytes() == written.read_bytes()
    assert f"wrote {written.name}" in " ".join(result.stderr.split())


def test_reports_errors(server: ServerProcess, imported: dict[str, Any], personalize: Any) -> None:
    arn = imported["arn"]
    refused(
        recimpact(
            "reports", "get", "--endpoint-url", server.url, "--metric-attribution-arn", arn, "--name", "x.csv"
        ),
        "InvalidInputException",
        "not a report file name",
    )
    missing_name = "AggregatedAttributionMetrics - FULL - 20000101T000000Z.csv"
    refused(
        recimpact(
            "reports",
            "get",
            "--endpoint-url",
            server.url,
            "--metric-attribution-arn",
            arn,
            "--name",
            missing_name,
        ),
        "ResourceNotFoundException",
    )
    group = Group(personalize, with_items=False)
    empty = personalize.create_metric_attribution(
        name=unique("ma"),
        datasetGroupArn=group.arn,
        metrics=[{"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "views"}],
        metricsOutputConfig=output_config(f"file://{imported['root']}/empty/"),
    )["metricAttributionArn"]
    assert (
        json.loads(
            ok(
                recimpact(
                    "reports",
                    "list",
                    "--endpoint-url",
                    server.url,
                    "--metric-attribution-arn",
                    empty,
                    "--format",
                    "json",
                )
            )
        )
        == []
    )
    refused(
        recimpact("reports", "get", "--endpoint-url", server.url, "--metric-attribution-arn", empty),
        "no reports yet",
    )
    gone = arn + "-gone"
    refused(
        recimpact("reports", "list", "--endpoint-url", server.url, "--metric-attribution-arn", gone),
        "ResourceNotFoundException",
    )


def test_failed_import_says_where(server: ServerProcess, personalize: Any, tmp_path: Path) -> None:
    group = Group(personalize, with_items=False)
    bad = tmp_path / "bad.csv"
    bad.write_text("USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE\nu1,i1,not-a-time,View\n")
    result = recimpact(
        "import", "--endpoint-url", server.url, "--dataset-arn", group.interactions_dataset,
        "--data-location", f"file://{bad}",
    )  # fmt: skip
    message = refused(result, "import failed", "TIMESTAMP")
    assert "bad.csv" in message


def test_import_refusals_carry_the_aws_message(
    server: ServerProcess, personalize: Any, tmp_path: Path
) -> None:
    group = Group(personalize, with_items=False)
    location = interactions_csv(tmp_path / "i.csv", [("u1", "i1", T0, "View", "")])
    base = ("import", "--endpoint-url", server.url, "--data-location", location)
    # Publishing needs an attribution.
    refused(
        recimpact(*base, "--dataset-arn", group.interactions_dataset, "--publish-metrics"),
        "InvalidInputException",
        "no metric attribution",
    )
    missing = group.interactions_dataset.replace("/INTERACTIONS", "/ITEMS")
    refused(recimpact(*base, "--dataset-arn", missing), "ResourceNotFoundException", missing)
    # INCREMENTAL first: AWS wants a FULL import before.
    refused(
        recimpact(*base, "--dataset-arn", group.interactions_dataset, "--import-mode", "INCREMENTAL"),
        "InvalidInputException",
        "FULL",
    )


def test_import_without_waiting(server: ServerProcess, personalize: Any, tmp_path: Path) -> None:
    group = Group(personalize, with_items=False)
    location = interactions_csv(tmp_path / "i.csv", [("u1", "i1", T0, "View", "")])
    name = unique("nowait")
    out = ok(
        recimpact(
            "import", "--endpoint-url", server.url, "--dataset-arn", group.interactions_dataset,
            "--data-location", location, "--job-name", name, "--no-wait",
        )
    )  # fmt: skip
    assert f"dataset-import-job/{name}" in out
    assert "distinct records" not in out


def test_import_to_an_unreachable_endpoint() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    dataset = "arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS"
    result = recimpact(
        "import", "--endpoint-url", url, "--dataset-arn", dataset, "--data-location", "file:///tmp/x.csv"
    )
    refused(result, "cannot reach", url)


def test_import_for_scripts(server: ServerProcess, personalize: Any, tmp_path: Path) -> None:
    """--format json|csv: the job's final state on standard output (one document), the progress on stderr."""
    group = Group(personalize, with_items=False)
    location = interactions_csv(
        tmp_path / "i.csv", [("u1", "i1", T0, "View", ""), ("u2", "i1", T0, "View", "")]
    )
    base = ("import", "--endpoint-url", server.url, "--dataset-arn", group.interactions_dataset)
    result = recimpact(*base, "--data-location", location, "--job-name", unique("json"), "--format", "json")
    state = json.loads(ok(result))
    assert state["status"] == "ACTIVE"
    assert state["rows"] == 2
    assert state["report"] is None
    assert state["failureReason"] is None
    assert "distinct records imported" in result.stderr
    described = personalize.describe_dataset_import_job(datasetImportJobArn=state["datasetImportJobArn"])
    assert described["datasetImportJob"]["status"] == "ACTIVE"

    more = interactions_csv(tmp_path / "more.csv", [("u3", "i2", T0 + 5, "View", "")])
    out = ok(
        recimpact(
            *base, "--data-location", more, "--import-mode", "INCREMENTAL", "--job-name", unique("csv"),
            "--format", "csv",
        )
    )  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 1
    assert rows[0]["status"] == "ACTIVE"
    assert rows[0]["rows"] == "1"
    assert out.splitlines()[0] == "datasetImportJobArn,status,rows,report,failureReason"

    name = unique("nowait")
    pending = json.loads(
        ok(recimpact(*base, "--data-location", location, "--job-name", name, "--no-wait", "--format", "json"))
    )
    assert pending["status"] in ("CREATE PENDING", "CREATE IN_PROGRESS", "ACTIVE")
    assert pending["datasetImportJobArn"].endswith(f"dataset-import-job/{name}")
