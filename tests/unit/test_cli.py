"""The ``recimpact`` command line: help, ``serve`` readiness, refusals, and settings from the environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from typer.testing import CliRunner

from recimpact.cli import app
from recimpact.cli_output import OutputFormat
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
