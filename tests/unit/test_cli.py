"""The ``recimpact`` command line: help, ``serve`` readiness, refusals, settings from the environment, and tables
that never cut a number."""

from __future__ import annotations

import io
import json
import os
import re
import socket
import subprocess
import sys
import urllib.request
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from rich.console import Console
from typer.testing import CliRunner

from recimpact.cli.main import app
from recimpact.cli.output import OutputFormat
from tests.server import ServerProcess

runner = CliRunner()


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 30
) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it: its own process, its real exit code and streams."""
    return subprocess.run(
        [sys.executable, "-m", "recimpact", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=timeout,
    )


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
        return json.loads(response.read())


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


# --- help ---------------------------------------------------------------------------------------------------


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("serve", "demo"):
        assert command in result.output


def test_no_arguments_shows_help() -> None:
    result = runner.invoke(app, [])
    assert "serve" in result.output
    assert "Usage" in result.output


def test_serve_help_lists_every_flag() -> None:
    result = runner.invoke(app, ["serve", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    for flag in (
        "--host",
        "--port",
        "--data-dir",
        "--engine",
        "--spark-master",
        "--s3-endpoint-url",
        "--cloudwatch-endpoint-url",
        "--credentials",
        "--strict-aws",
    ):
        assert flag in result.output


def test_help_as_a_real_process() -> None:
    result = run_cli("--help")
    assert result.returncode == 0
    assert "serve" in result.stdout


# --- refusals -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::", "example.com"])
def test_non_loopback_host_is_refused_without_traceback(host: str, tmp_path: Path) -> None:
    result = run_cli("serve", "--host", host, "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode != 0
    assert "Traceback" not in result.stderr + result.stdout
    assert f"refusing to bind to non-loopback address {host}" in result.stderr
    assert "listening on" not in result.stdout


def test_non_loopback_host_from_the_environment_is_refused(tmp_path: Path) -> None:
    result = run_cli("serve", "--port", "0", "--data-dir", str(tmp_path), env={"RECIMPACT_HOST": "0.0.0.0"})
    assert result.returncode != 0
    assert "refusing to bind to non-loopback address 0.0.0.0" in result.stderr


def test_unknown_engine_exits_2(tmp_path: Path) -> None:
    result = run_cli("serve", "--engine", "foo", "--port", "0", "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "--engine must be one of duckdb, spark, not 'foo'" in result.stderr


def test_unknown_engine_from_the_environment_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["serve", "--port", "0", "--data-dir", str(tmp_path)], env={"RECIMPACT_ENGINE": "foo"}
    )
    assert result.exit_code == 2
    assert "--engine must be one of" in result.output


def test_missing_credentials_file_exits_2(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    result = runner.invoke(
        app, ["serve", "--port", "0", "--data-dir", str(tmp_path), "--credentials", str(missing)]
    )
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_non_numeric_port_is_a_usage_error() -> None:
    result = runner.invoke(app, ["serve", "--port", "http"])
    assert result.exit_code == 2


def test_port_in_use_is_reported_without_traceback(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = run_cli("serve", "--port", str(port), "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert f"cannot bind 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


# --- serving ------------------------------------------------------------------------------------------------


def test_serve_on_port_0_announces_a_real_port_and_answers_health(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "data") as server:
        url = urlsplit(server.url)
        assert url.scheme == "http"
        assert url.hostname == "127.0.0.1"
        assert url.port is not None
        assert url.port > 0
        assert any(f"listening on {server.url}" in line for line in server.output)
        health = get_json(f"{server.url}/health")
        assert health["status"] == "ok"
        assert health["version"]
    assert server.proc is not None
    assert server.proc.returncode is not None


def test_port_from_the_environment_is_honoured(tmp_path: Path) -> None:
    port = free_port()
    server = ServerProcess(tmp_path / "data", env={"RECIMPACT_PORT": str(port)})
    index = server.args.index("--port")
    del server.args[index : index + 2]  # no --port flag: the environment decides
    with server:
        assert server.url == f"http://127.0.0.1:{port}"
        assert get_json(f"http://127.0.0.1:{port}/health")["status"] == "ok"


def test_data_dir_from_the_environment_is_used(tmp_path: Path) -> None:
    # Long enough that a line wrapped at 80 columns (Rich's width on a pipe) would split it.
    data_dir = tmp_path / ("from-env-" + "d" * 80)
    server = ServerProcess(tmp_path / "unused", env={"RECIMPACT_DATA_DIR": str(data_dir)})
    index = server.args.index("--data-dir")
    del server.args[index : index + 2]
    with server:
        ready = next(line for line in server.output if "listening on" in line)
        assert ready.rstrip("\n").endswith(f"listening on {server.url} (data in {data_dir})")
        get_json(f"{server.url}/health")
    assert data_dir.is_dir()
    assert any(data_dir.iterdir())


# --- every command ------------------------------------------------------------------------------------------------


def _commands() -> list[tuple[str, ...]]:
    """Every command path of the CLI, walked from the Typer app (so commands added later are covered too)."""
    import typer.main

    found: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        found.append(path)
        for name, sub in getattr(command, "commands", {}).items():  # a group (Typer ships its own click)
            walk(sub, (*path, name))

    walk(typer.main.get_command(app), ())
    return found


def test_the_top_level_help_lists_every_command() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    for command in ("serve", "demo", "metrics", "import", "reports", "attribution"):
        assert command in result.output
    assert {("attribution", c) for c in ("create", "describe", "update", "delete", "list")} <= set(
        _commands()
    )
    assert {("reports", "list"), ("reports", "get")} <= set(_commands())


@pytest.mark.parametrize("path", _commands(), ids=lambda p: " ".join(p) or "recimpact")
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output
    assert "Traceback" not in result.output


def test_format_means_the_same_everywhere() -> None:
    """Every command that prints data takes --format with the same three choices, table by default."""
    import typer.main

    with_format = []
    root = typer.main.get_command(app)
    for path in _commands():
        command: Any = root
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if "--format" in getattr(param, "opts", []):
                assert param.default in ("table", OutputFormat.table), path
                with_format.append(path)
    for path in with_format:
        result = runner.invoke(app, [*path, "--format", "xml"], env={"COLUMNS": "200"})
        assert result.exit_code == 2, path
        for choice in ("csv", "table", "json"):
            assert choice in result.output, path
    expected = {
        ("metrics",),
        ("import",),
        ("reports", "list"),
        ("attribution", "create"),
        ("attribution", "describe"),
        ("attribution", "update"),
        ("attribution", "list"),
    }
    assert expected <= set(with_format)


def test_an_aws_error_nothing_caught_is_one_line(tmp_path: Path) -> None:
    """The safety net: a network error outside any command's own handling still ends without a traceback."""
    url = f"http://127.0.0.1:{free_port()}"
    dataset = "arn:aws:personalize:us-east-1:000000000000:dataset/g/INTERACTIONS"
    result = run_cli(
        "import", "--endpoint-url", url, "--dataset-arn", dataset, "--data-location", "file:///x.csv"
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "cannot reach" in result.stderr


# --- tables ---------------------------------------------------------------------------------------------------
# Every table the CLI and the demo print, at the widths people's terminals have and on a pipe: a number is never cut
# (no "8,6…"), whatever has to give (headers wrap, source names fold, the rows become blocks).

WIDTHS = [40, 80, 120]
RECOMMENDER = "arn:aws:personalize:us-east-1:000000000000:recommender/recommended-for-you"
ALSO_VIEWED = "arn:aws:personalize:us-east-1:000000000000:recommender/viewed-x-also-viewed"


def _tokens(text: str) -> set[str]:
    """The words of a rendered table: split at spaces and at the box's vertical rules."""
    return set(re.split(r"[\s│┃]+", text))


def _numbers(rows: Sequence[Sequence[Any]]) -> set[str]:
    """Every number of the rows, as it is formatted (intervals give both bounds)."""
    found = set()
    for row in rows:
        for cell in row:
            for word in str(cell).split():
                if re.search(r"\d", word) and not re.search(r"[a-z]", word, re.IGNORECASE):
                    found.add(word)
    return found


def _rendered(width: int | None, draw: Any) -> str:
    """What ``draw(console)`` prints on a console of ``width`` columns (None: a file, as a pipe gets it)."""
    out = io.StringIO()
    draw(Console(file=out, width=width, color_system=None))
    return out.getvalue()


def _assert_whole(text: str, numbers: set[str], width: int | None) -> None:
    assert "…" not in text
    missing = numbers - _tokens(text)
    assert not missing, f"numbers cut or missing: {sorted(missing)}\n{text}"
    if width is not None:
        assert max(len(line.rstrip()) for line in text.splitlines()) <= width, text


def _series(totals: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [
        {"METRIC_NAME": metric, "MATH_FUNCTION": "sum", "EVENT_ATTRIBUTION_SOURCE": source, "VALUE": value}
        for source, metrics in totals.items()
        for metric, value in metrics.items()
    ]


DEMO_TOTALS = {
    RECOMMENDER: {"COUNTVIEWS": 8_538_123, "IMPRESSIONS": 15_424_007, "SUMMARGIN": 5_926_261.25},
    ALSO_VIEWED: {"COUNTVIEWS": 9_176, "IMPRESSIONS": 16_520, "SUMMARGIN": 4_917.36},
    "partner_carousel": {"COUNTVIEWS": 8_839, "IMPRESSIONS": 16_024, "SUMMARGIN": 3_619.9},
}
DEMO_NUMBERS = {
    "8,538,123", "15,424,007", "55.36%", "5,926,261.25", "0.694", "1,505",
    "9,176", "16,520", "55.54%", "4,917.36", "0.536", "394",
    "8,839", "16,024", "55.16%", "3,619.90", "0.410", "266",
}  # fmt: skip
DEMO_TRUTH = {
    RECOMMENDER: Counter(Purchase=1_505),
    ALSO_VIEWED: Counter(Purchase=394),
    "partner_carousel": Counter(Purchase=266),
}


@pytest.mark.parametrize("names", ["arns", "short"])
@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_the_demo_per_source_table_never_cuts_a_number(width: int | None, names: str) -> None:
    from recimpact.cli import demo

    labels = {} if names == "arns" else {RECOMMENDER: "recommender/recommended-for-you"}
    text = _rendered(
        width,
        lambda c: demo._comparison(c, "Live: today's traffic", _series(DEMO_TOTALS), DEMO_TRUTH, labels),
    )
    _assert_whole(text, DEMO_NUMBERS, width)
    assert "Live: today's traffic" in text
    if width == 120 and names == "short":  # wide enough: one line per source, the names whole
        assert any(
            "recommender/recommended-for-you" in line and "8,538,123" in line for line in text.splitlines()
        )


COMPARISON = {
    "alpha": 0.05,
    "metric": "sumMargin",
    "per": "countViews",
    "kind": "RATIO",
    "unitsA": 1_993,
    "unitsB": 2_004,
    "valueA": 0.535912,
    "valueB": 0.694127,
    "difference": 0.158215,
    "differenceCi": {"lower": 0.0329871, "upper": 0.283443},
    "differenceSequence": {"lower": -0.0401234, "upper": 0.356553},
    "lift": 0.2952,
    "liftCi": {"lower": 0.0611, "upper": 0.5302},
    "liftSequence": {"lower": -0.0753, "upper": 0.6661},
    "pValue": 0.0132456,
    "sequentialPValue": 0.210987,
    "warnings": [],
}


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_the_demo_comparison_table_never_cuts_a_number(
    width: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    from recimpact.cli import demo

    monkeypatch.setattr(demo, "compare", lambda *args, **kwargs: COMPARISON)
    names = {RECOMMENDER: "recommender/recommended-for-you", ALSO_VIEWED: "recommender/viewed-x-also-viewed"}
    text = _rendered(
        width, lambda c: demo._significance(c, "http://x", "arn", ALSO_VIEWED, RECOMMENDER, names)
    )
    _assert_whole(text, {"0.5359", "0.6941", "+29.5%", "[+6.1%,", "+53.0%]", "[-7.5%,", "+66.6%]"}, width)


@pytest.mark.parametrize("width", [*WIDTHS, None])
def test_recimpact_compare_table_never_cuts_a_number(
    width: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The command itself (its arguments, its printing), with the server's answer stubbed."""
    import recimpact.cli.client
    import recimpact.cli.output

    out = io.StringIO()
    monkeypatch.setattr(recimpact.cli.output, "console", Console(file=out, width=width, color_system=None))
    monkeypatch.setattr(recimpact.cli.client, "compare", lambda *args, **kwargs: COMPARISON)
    args = [
        "compare",
        "--endpoint-url",
        "http://x",
        "--metric-attribution-arn",
        "arn",
        "--metric",
        "sumMargin",
    ]
    result = runner.invoke(app, [*args, "--per", "countViews", "--a", ALSO_VIEWED, "--b", RECOMMENDER])
    assert result.exit_code == 0, result.output
    numbers = {
        "1,993", "2,004", "0.535912", "0.694127", "0.158215", "[0.0329871,", "0.283443]", "[-0.0401234,",
        "0.356553]", "+29.5%", "[+6.1%,", "+53.0%]", "[-7.5%,", "+66.6%]", "0.0132456", "0.210987",
    }  # fmt: skip
    _assert_whole(out.getvalue(), numbers, width)


@pytest.mark.parametrize("width", WIDTHS)
def test_a_table_of_arns_and_times_folds_the_text_not_the_times(
    width: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`attribution list`'s shape: long ARNs, ISO 8601 times; the text breaks at its separators."""
    from recimpact.cli.output import show_table

    rows = [
        (f"impact-{n}", f"arn:aws:personalize:us-east-1:000000000000:metric-attribution/impact-{n}", "ACTIVE",
         f"2026-11-2{n}T14:06:46.123456Z")
        for n in range(3)
    ]  # fmt: skip
    columns = ("name", "metricAttributionArn", "status", "creationDateTime")
    text = _rendered(width, lambda c: show_table(c, "Metric attributions", columns, rows))
    _assert_whole(text, {row[3] for row in rows}, width)
    assert text.count("000000000000:") == 3  # the ARNs break at their separators, not in the account


def test_the_demo_on_a_pipe_never_cuts_a_number() -> None:
    """The demo's tables written to a pipe (no terminal, no COLUMNS), as `make demo > demo.log` writes them."""
    script = (
        "import sys, json; from collections import Counter; from rich.console import Console; "
        "from recimpact.cli import demo; series, truth = json.load(sys.stdin); "
        "demo._comparison(Console(), 'Live', series, {s: Counter(c) for s, c in truth.items()}, {})"
    )
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    done = subprocess.run(
        [sys.executable, "-c", script], input=json.dumps([_series(DEMO_TOTALS), DEMO_TRUTH]),
        capture_output=True, text=True, env=env, timeout=60, check=True,
    )  # fmt: skip
    _assert_whole(done.stdout, DEMO_NUMBERS, None)
    assert (
        max(len(line) for line in done.stdout.splitlines()) <= 80
    )  # Rich's width when nothing is a terminal
