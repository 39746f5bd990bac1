"""``recimpact attribution create|describe|update|delete|list`` as a user runs them: subprocesses against the live
server, requests from JSON files in the API's shapes, results checked through boto3."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROLE_ARN, Group, unique
from tests.server import ServerProcess

VIEWS = {"eventType": "View", "expression": "SAMPLECOUNT()", "metricName": "countViews"}
MARGIN = {"eventType": "Purchase", "expression": "SUM(ITEMS.MARGIN)", "metricName": "sumMargin"}
CLICKS = {"eventType": "Click", "expression": "SAMPLECOUNT()", "metricName": "countClicks"}


def recimpact(
    *args: str, stdin: str | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "recimpact", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "200", **(env or {})},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def refused(result: subprocess.CompletedProcess[str], *fragments: str) -> str:
    """A clear error: exit code 2, the fragments (the AWS class and message) on stderr, no traceback."""
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr + result.stdout
    message = " ".join(result.stderr.split())  # Rich may wrap a long line
    for fragment in fragments:
        assert fragment in message, message
    return message


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc, indent=2))
    return path


def create_request(group: Group, tmp_path: Path, *metrics: dict[str, str]) -> dict[str, Any]:
    return {
        "name": unique("ma"),
        "datasetGroupArn": group.arn,
        "metrics": list(metrics or (VIEWS, MARGIN)),
        "metricsOutputConfig": {
            "roleArn": ROLE_ARN,
            "s3DataDestination": {"path": f"file://{tmp_path}/reports/"},
        },
    }


def attribution_of(personalize: Any, group: Group) -> dict[str, Any]:
    found = personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"]
    assert len(found) == 1
    arn = found[0]["metricAttributionArn"]
    described: dict[str, Any] = personalize.describe_metric_attribution(metricAttributionArn=arn)[
        "metricAttribution"
    ]
    described["metrics"] = personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]
    return described


# --- create -----------------------------------------------------------------------------------------------------


def test_create_from_a_file(server: ServerProcess, personalize: Any, group: Group, tmp_path: Path) -> None:
    request = create_request(group, tmp_path)
    out = ok(
        recimpact(
            "attribution",
            "create",
            "--endpoint-url",
            server.url,
            "--file",
            str(write(tmp_path / "ma.json", request)),
        )
    )
    created = attribution_of(personalize, group)
    assert created["name"] == request["name"]
    assert created["status"] == "ACTIVE"
    assert sorted(created["metrics"], key=lambda m: m["metricName"]) == [VIEWS, MARGIN]
    assert created["metricsOutputConfig"] == request["metricsOutputConfig"]
    assert f"created {created['metricAttributionArn']}" in out
    for text in ("countViews", "SUM(ITEMS.MARGIN)", "ACTIVE", f"file://{tmp_path}/reports/", "2 metrics"):
        assert text in out


def test_create_from_stdin_with_overrides_and_json_output(
    server: ServerProcess, personalize: Any, tmp_path: Path
) -> None:
    """One request file for several groups: --dataset-group-arn and --name override it."""
    group = Group(personalize)
    template = create_request(group, tmp_path, VIEWS)
    template["datasetGroupArn"] = "arn:aws:personalize:us-east-1:000000000000:dataset-group/placeholder"
    name = unique("from-stdin")
    out = ok(
        recimpact(
            "attribution", "create", "--endpoint-url", server.url, "-f", "-",
            "--dataset-group-arn", group.arn, "--name", name, "--format", "json",
            stdin=json.dumps(template),
        )
    )  # fmt: skip
    doc = json.loads(out)
    assert doc["metricAttribution"]["name"] == name
    assert doc["metricAttribution"]["datasetGroupArn"] == group.arn
    assert doc["metricAttribution"]["status"] == "ACTIVE"
    assert doc["metrics"] == [VIEWS]
    assert doc["metricAttribution"]["creationDateTime"].endswith("Z")  # ISO 8601, UTC
    assert attribution_of(personalize, group)["name"] == name


def test_create_errors_carry_the_aws_message(server: ServerProcess, personalize: Any, tmp_path: Path) -> None:
    group = Group(personalize)
    url = server.url
    bad_column = create_request(group, tmp_path, {**MARGIN, "expression": "SUM(ITEMS.CATEGORY_L1)"})
    refused(
        recimpact(
            "attribution", "create", "--endpoint-url", url, "-f", str(write(tmp_path / "b.json", bad_column))
        ),
        "InvalidInputException",
        "CATEGORY_L1",
    )
    good = write(tmp_path / "good.json", create_request(group, tmp_path))
    ok(recimpact("attribution", "create", "--endpoint-url", url, "-f", str(good)))
    refused(
        recimpact(
            "attribution", "create", "--endpoint-url", url, "-f", str(good), "--name", unique("second")
        ),
        "ResourceAlreadyExistsException",
        group.arn,
    )
    unknown = {**create_request(group, tmp_path), "metricz": []}
    refused(
        recimpact(
            "attribution", "create", "--endpoint-url", url, "-f", str(write(tmp_path / "u.json", unknown))
        ),
        "invalid request",
        "metricz",
    )


def test_unwritable_destination_is_create_failed(
    server: ServerProcess, personalize: Any, group: Group, tmp_path: Path
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    request = create_request(group, tmp_path)
    request["metricsOutputConfig"]["s3DataDestination"]["path"] = f"file://{blocker}/reports/"
    result = recimpact(
        "attribution", "create", "--endpoint-url", server.url, "-f", str(write(tmp_path / "r.json", request))
    )
    message = refused(result, "CREATE FAILED", "not writable")
    assert str(blocker) in message
    assert attribution_of(personalize, group)["status"] == "CREATE FAILED"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "is not valid JSON"),
        ("[1, 2]", "must hold a JSON object"),
    ],
)
def test_bad_request_files(server: ServerProcess, tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "request.json"
    path.write_text(content)
    refused(
        recimpact("attribution", "create", "--endpoint-url", server.url, "-f", str(path)), expected, str(path)
    )


def test_missing_request_file(server: ServerProcess, tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    refused(
        recimpact("attribution", "create", "--endpoint-url", server.url, "-f", str(missing)),
        "cannot read",
        str(missing),
    )


# --- describe, update, delete, list -----------------------------------------------------------------------------


@pytest.fixture
def created(server: ServerProcess, personalize: Any, tmp_path: Path) -> tuple[Group, str]:
    group = Group(personalize)
    request = create_request(group, tmp_path)
    arn = personalize.create_metric_attribution(**request)["metricAttributionArn"]
    return group, arn


def test_describe_in_every_format(
    server: ServerProcess, personalize: Any, created: tuple[Group, str]
) -> None:
    group, arn = created
    base = ("attribution", "describe", "--endpoint-url", server.url)
    doc = json.loads(ok(recimpact(*base, "--metric-attribution-arn", arn, "--format", "json")))
    described = personalize.describe_metric_attribution(metricAttributionArn=arn)["metricAttribution"]
    assert doc["metricAttribution"]["metricAttributionArn"] == arn
    assert doc["metricAttribution"]["metricsOutputConfig"] == described["metricsOutputConfig"]
    assert doc["metricAttribution"]["status"] == described["status"]
    assert doc["metrics"] == personalize.list_metric_attribution_metrics(metricAttributionArn=arn)["metrics"]

    out = ok(recimpact(*base, "--metric-attribution-arn", arn, "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert out.splitlines()[0] == "metricName,eventType,expression"
    assert sorted(rows, key=lambda r: r["metricName"]) == [VIEWS, MARGIN]

    table = ok(recimpact(*base, "--metric-attribution-arn", arn))
    assert "\x1b[" not in table
    for text in (arn, "ACTIVE", group.arn, "countViews", "sumMargin", "SUM(ITEMS.MARGIN)", ROLE_ARN):
        assert text in table
    # The group's attribution, found from the group.
    assert (
        json.loads(ok(recimpact(*base, "--dataset-group-arn", group.arn, "--format", "json")))["metrics"]
        == doc["metrics"]
    )


def test_describe_errors(server: ServerProcess, personalize: Any, created: tuple[Group, str]) -> None:
    _, arn = created
    base = ("attribution", "describe", "--endpoint-url", server.url)
    refused(recimpact(*base), "--metric-attribution-arn or --dataset-group-arn")
    missing = arn + "-gone"
    refused(recimpact(*base, "--metric-attribution-arn", missing), "ResourceNotFoundException", missing)
    bare = personalize.create_dataset_group(name=unique("bare"))["datasetGroupArn"]
    refused(recimpact(*base, "--dataset-group-arn", bare), "has no metric attribution")


def test_update_from_a_file(
    server: ServerProcess, personalize: Any, created: tuple[Group, str], tmp_path: Path
) -> None:
    group, arn = created
    new_path = f"file://{tmp_path}/elsewhere/"
    request = {
        "metricAttributionArn": arn,
        "addMetrics": [CLICKS],
        "removeMetrics": ["sumMargin"],
        "metricsOutputConfig": {"roleArn": ROLE_ARN, "s3DataDestination": {"path": new_path}},
    }
    out = ok(
        recimpact(
            "attribution",
            "update",
            "--endpoint-url",
            server.url,
            "-f",
            str(write(tmp_path / "u.json", request)),
        )
    )
    assert f"updated {arn}" in out
    after = attribution_of(personalize, group)
    assert sorted(m["metricName"] for m in after["metrics"]) == ["countClicks", "countViews"]
    assert after["metricsOutputConfig"]["s3DataDestination"]["path"] == new_path
    # The ARN from the command line; csv output lists the metrics.
    out = ok(
        recimpact(
            "attribution", "update", "--endpoint-url", server.url, "-f", "-",
            "--metric-attribution-arn", arn, "--format", "csv",
            stdin=json.dumps({"removeMetrics": ["countClicks"]}),
        )
    )  # fmt: skip
    assert list(csv.DictReader(io.StringIO(out))) == [VIEWS]


def test_update_errors(server: ServerProcess, created: tuple[Group, str], tmp_path: Path) -> None:
    _, arn = created
    base = ("attribution", "update", "--endpoint-url", server.url, "-f")
    refused(
        recimpact(*base, str(write(tmp_path / "a.json", {"addMetrics": [CLICKS]}))), "no metricAttributionArn"
    )
    refused(
        recimpact(
            *base, str(write(tmp_path / "b.json", {"metricAttributionArn": arn, "removeMetrics": ["nope"]}))
        ),
        "InvalidInputException",
        "nope",
    )
    eleven = [{"eventType": f"E{n}", "expression": "SAMPLECOUNT()", "metricName": f"m{n}"} for n in range(9)]
    refused(
        recimpact(
            *base, str(write(tmp_path / "c.json", {"metricAttributionArn": arn, "addMetrics": eleven}))
        ),
        "LimitExceededException",
    )


def test_delete(server: ServerProcess, personalize: Any, created: tuple[Group, str]) -> None:
    group, arn = created
    out = ok(
        recimpact("attribution", "delete", "--endpoint-url", server.url, "--metric-attribution-arn", arn)
    )
    assert f"deleted {arn}" in out
    assert personalize.list_metric_attributions(datasetGroupArn=group.arn)["metricAttributions"] == []
    refused(
        recimpact("attribution", "delete", "--endpoint-url", server.url, "--metric-attribution-arn", arn),
        "ResourceNotFoundException",
        arn,
    )


def test_list(server: ServerProcess, created: tuple[Group, str]) -> None:
    group, arn = created
    base = ("attribution", "list", "--endpoint-url", server.url)
    mine = json.loads(ok(recimpact(*base, "--dataset-group-arn", group.arn, "--format", "json")))
    assert [a["metricAttributionArn"] for a in mine] == [arn]
    assert mine[0]["status"] == "ACTIVE"
    everything = json.loads(ok(recimpact(*base, "--format", "json")))
    assert arn in [a["metricAttributionArn"] for a in everything]
    out = ok(recimpact(*base, "--dataset-group-arn", group.arn, "--format", "csv"))
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["metricAttributionArn"] for r in rows] == [arn]
    assert rows[0]["creationDateTime"].endswith("Z")
    assert arn in ok(recimpact(*base, "--dataset-group-arn", group.arn))
    # Another region holds none of them.
    assert json.loads(ok(recimpact(*base, "--region", "eu-west-1", "--format", "json"))) == []


def test_unreachable_endpoint(tmp_path: Path) -> None:
    from tests.server import free_port

    url = f"http://127.0.0.1:{free_port()}"
    arn = "arn:aws:personalize:us-east-1:000000000000:metric-attribution/x"
    refused(
        recimpact("attribution", "describe", "--endpoint-url", url, "--metric-attribution-arn", arn),
        "cannot reach",
        url,
    )
