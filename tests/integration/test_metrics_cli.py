"""``recimpact metrics`` as a user runs it: a subprocess against the live server."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import os
import re
import socket
import subprocess
import sys

import pytest

from tests.integration.ingest import CLICK_VALUE, MARGIN, UNDEFINED, VIEWS, WINDOW, Tracked, base_time, event
from tests.server import ServerProcess

HEADER = "METRIC_NAME,EVENT_TYPE,VALUE,MATH_FUNCTION,EVENT_ATTRIBUTION_SOURCE,TIMESTAMP"
LONG_SOURCE = "partner-" + "x" * 120  # longer than any terminal line


def metrics(endpoint: str, arn: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "recimpact",
            "metrics",
            "--endpoint-url",
            endpoint,
            "--metric-attribution-arn",
            arn,
            *args,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "COLUMNS": "100"},
    )


def ok(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout


def iso(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
def scenario(server: ServerProcess) -> tuple[Tracked, int]:
    """Three windows: t0 (views from two sources, a purchase), t0+900 (clicks), t0+1800 (a view)."""
    tracked = Tracked(server, [VIEWS, MARGIN, CLICK_VALUE])
    t0 = base_time(2)
    tracked.put_items(("i1", {"margin": 12}))
    tracked.put(
        event("View", t0, source="email"),
        event("view", t0 + 1, source="email"),
        event("View", t0 + 2, source=LONG_SOURCE),
        event("Purchase", t0 + 3, item="i1"),
        event("Click", t0 + WINDOW, value=0.25),
        event("Click", t0 + WINDOW + 1, value=2.0),
        event("View", t0 + 2 * WINDOW + 899),
    )
    return tracked, t0


def expected_rows(t0: int) -> list[list[str]]:
    return [
        ["COUNTVIEWS", "VIEW", "1.0", "samplecount", UNDEFINED, str(t0 + 2 * WINDOW)],
        ["CLICKVALUE", "CLICK", "2.25", "sum", UNDEFINED, str(t0 + WINDOW)],
        ["COUNTVIEWS", "VIEW", "2.0", "samplecount", "email", str(t0)],
        ["COUNTVIEWS", "VIEW", "1.0", "samplecount", LONG_SOURCE, str(t0)],
        ["SUMMARGIN", "PURCHASE", "12.0", "sum", UNDEFINED, str(t0)],
    ]


def test_csv(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, t0 = scenario
    out = ok(metrics(server.url, tracked.attribution_arn, "--format", "csv"))
    assert out.splitlines()[0] == HEADER
    assert list(csv.reader(io.StringIO(out)))[1:] == expected_rows(t0)
    assert out.splitlines()[2] == f"CLICKVALUE,CLICK,2.25,sum,{UNDEFINED},{t0 + WINDOW}"


def test_json(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, t0 = scenario
    out = ok(metrics(server.url, tracked.attribution_arn, "--format", "json"))
    doc = json.loads(out)  # long values must not be wrapped into invalid JSON
    assert doc == [
        {
            "METRIC_NAME": m,
            "EVENT_TYPE": e,
            "VALUE": float(v),
            "MATH_FUNCTION": f,
            "EVENT_ATTRIBUTION_SOURCE": s,
            "TIMESTAMP": int(t),
        }
        for m, e, v, f, s, t in expected_rows(t0)
    ]
    assert all(isinstance(row["VALUE"], float) for row in doc)


def test_table(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, t0 = scenario
    out = ok(metrics(server.url, tracked.attribution_arn, "--format", "table"))
    assert "\x1b[" not in out  # no colour codes when not writing to a terminal
    for column in ("METRIC_NAME", "EVENT_TYPE", "VALUE", "MATH_FUNCTION", "TIMESTAMP"):
        assert column in out
    for name in ("COUNTVIEWS", "CLICKVALUE", "SUMMARGIN", "samplecount", "2.25", "12.0", str(t0 + WINDOW)):
        assert name in out
    assert "5 rows" in out
    assert "…" not in out  # no number or name cut, whatever the width (80 columns here: not a terminal)

    def where(ts: int) -> int:
        found = re.search(rf"(?<!\d){ts}(?!\d)", out)
        assert found is not None, ts
        return found.start()

    # Newest window first.
    assert where(t0 + 2 * WINDOW) < where(t0 + WINDOW) < where(t0)


def test_table_is_the_default(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, _ = scenario
    assert "5 rows" in ok(metrics(server.url, tracked.attribution_arn))


def test_empty_series(server: ServerProcess) -> None:
    tracked = Tracked(server, [VIEWS])
    assert ok(metrics(server.url, tracked.attribution_arn, "--format", "csv")) == HEADER + "\n"
    assert json.loads(ok(metrics(server.url, tracked.attribution_arn, "--format", "json"))) == []
    assert "0 rows" in ok(metrics(server.url, tracked.attribution_arn, "--format", "table"))


@pytest.mark.parametrize("form", ["epoch", "iso", "iso-offset", "epoch-float"])
def test_start_and_end_select_windows(
    server: ServerProcess, scenario: tuple[Tracked, int], form: str
) -> None:
    tracked, t0 = scenario

    def fmt(ts: int) -> str:
        if form == "epoch":
            return str(ts)
        if form == "iso":
            return iso(ts)
        if form == "iso-offset":
            return dt.datetime.fromtimestamp(ts, dt.timezone(dt.timedelta(hours=2))).isoformat()
        return str(float(ts))

    def select(*args: str) -> list[list[str]]:
        out = ok(metrics(server.url, tracked.attribution_arn, "--format", "csv", *args))
        return list(csv.reader(io.StringIO(out)))[1:]

    rows = expected_rows(t0)
    # --end is exclusive: [t0 + 900, t0 + 1800) is the middle window only.
    assert select("--start", fmt(t0 + WINDOW), "--end", fmt(t0 + 2 * WINDOW)) == rows[1:2]
    assert select("--start", fmt(t0 + WINDOW)) == rows[:2]
    assert select("--end", fmt(t0 + WINDOW)) == rows[2:]
    # A window is in range by its start.
    assert select("--start", fmt(t0 + 1)) == rows[:2]
    assert select("--start", fmt(t0), "--end", fmt(t0)) == []


def test_relative_start(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, _ = scenario
    out = ok(metrics(server.url, tracked.attribution_arn, "--format", "csv", "--start", "-1d"))
    assert out == HEADER + "\n"  # the scenario's windows are two days old
    out = ok(metrics(server.url, tracked.attribution_arn, "--format", "csv", "--start", "-3d"))
    assert len(out.splitlines()) == 6


def test_bad_time_is_a_clear_error(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, _ = scenario
    result = metrics(server.url, tracked.attribution_arn, "--start", "yesterday-ish")
    assert result.returncode != 0
    assert "InvalidInputException" in result.stderr
    assert "yesterday-ish" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_unknown_arn_is_an_error_with_the_aws_message(server: ServerProcess) -> None:
    arn = "arn:aws:personalize:us-east-1:000000000000:metric-attribution/no-such-attribution"
    for fmt in ("csv", "json", "table"):
        result = metrics(server.url, arn, "--format", fmt)
        assert result.returncode != 0
        assert "ResourceNotFoundException" in result.stderr
        assert "no-such-attribution" in result.stderr
        assert "Traceback" not in result.stderr + result.stdout
        assert result.stdout == ""
        assert len(result.stderr.strip().splitlines()) == 1  # one line, however long, on a pipe too


def test_unreachable_endpoint_is_a_clear_error() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Nothing listens on the port any more.
    result = metrics(
        f"http://127.0.0.1:{port}", "arn:aws:personalize:us-east-1:000000000000:metric-attribution/x"
    )
    assert result.returncode != 0
    assert f"127.0.0.1:{port}" in result.stderr
    assert "cannot reach" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_endpoint_from_the_environment(server: ServerProcess, scenario: tuple[Tracked, int]) -> None:
    tracked, _ = scenario
    result = subprocess.run(
        [sys.executable, "-m", "recimpact", "metrics", "--metric-attribution-arn", tracked.attribution_arn],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**os.environ, "RECIMPACT_ENDPOINT_URL": server.url, "COLUMNS": "100"},
    )
    assert "5 rows" in ok(result)


def test_missing_arn_is_a_usage_error(server: ServerProcess) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "recimpact", "metrics", "--endpoint-url", server.url],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "--metric-attribution-arn" in result.stderr
    assert "Traceback" not in result.stderr
