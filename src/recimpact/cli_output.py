"""What every ``recimpact`` command shares: the ``--format`` choice, the consoles, and errors as one readable line
(the AWS error class and message, never a traceback)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich.console import Console
from rich.table import Table

console = Console()
errors = Console(stderr=True)


class OutputFormat(StrEnum):
    csv = "csv"
    table = "table"
    json = "json"


def fail(message: str) -> NoReturn:
    """The one line a user reads, and exit code 2 (as for a usage error)."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def aws_message(exc: BaseException) -> str | None:
    """The one line to show for an error of boto3 or of the network, or None for anything else."""
    from botocore.exceptions import BotoCoreError, ClientError, EndpointConnectionError, ParamValidationError

    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Error')}: {error.get('Message', '')}"
    if isinstance(exc, EndpointConnectionError):
        return f"cannot reach {exc.kwargs.get('endpoint_url', 'the server')}"
    if isinstance(exc, ParamValidationError):
        return "invalid request: " + str(exc.kwargs.get("report", exc)).strip().replace("\n", "; ")
    if isinstance(exc, BotoCoreError):
        return str(exc)
    return None


@contextmanager
def aws_errors() -> Iterator[None]:
    """Turn boto3's errors into ``fail``: the AWS error class and message, exit code 2."""
    try:
        yield
    except Exception as exc:
        message = aws_message(exc)
        if message is None:
            raise
        fail(message)


def run(app: Callable[[], Any]) -> None:
    """Run the Typer app; an AWS or network error no command caught still ends as one line, not a traceback."""
    try:
        app()
    except Exception as exc:
        message = aws_message(exc)
        if message is None:
            raise
        errors.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
        sys.exit(2)


def plain(value: Any) -> Any:
    """A value as JSON shows it: datetimes as ISO 8601 (UTC), containers recursively."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def print_json(data: Any) -> None:
    """JSON on standard output, never wrapped or coloured, so a pipe gets a valid document."""
    sys.stdout.write(json.dumps(plain(data), indent=2) + "\n")


def print_csv(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(rows)
    sys.stdout.write(buffer.getvalue())


def print_table(title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*("" if v is None else str(plain(v)) for v in row))
    console.print(table)


def print_rows(
    fmt: OutputFormat, columns: Sequence[str], rows: Sequence[Sequence[Any]], title: str | None = None
) -> None:
    """Rows in the chosen format: a Rich table, CSV with a header, or a JSON list of objects."""
    rows = [[plain(v) for v in row] for row in rows]
    if fmt == OutputFormat.json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows])
    elif fmt == OutputFormat.csv:
        print_csv(columns, rows)
    else:
        print_table(title, columns, rows)


IMPORT_JOB_COLUMNS = ("datasetImportJobArn", "status", "rows", "report", "failureReason")


def print_job(fmt: OutputFormat, state: dict[str, Any] | None, arn: str, endpoint_url: str) -> None:
    """An import job's state for scripts: one JSON object, or a CSV header and row. ``state`` None: read it now
    (a job not waited for)."""
    if state is None:
        from recimpact.client import ApiError, import_progress

        try:
            state = import_progress(endpoint_url, arn)
        except ApiError as exc:
            fail(str(exc))
    row = {column: state.get(column) for column in IMPORT_JOB_COLUMNS}
    if fmt == OutputFormat.json:
        print_json(row)
    else:
        print_csv(IMPORT_JOB_COLUMNS, [list(row.values())])


def format_number(value: float | None, digits: int = 6) -> str:
    """A statistic for people: ``digits`` significant digits, "—" when there is none."""
    return "—" if value is None else f"{value:,.{digits}g}"


def format_lift(value: float | None) -> str:
    return "—" if value is None else f"{value:+.1%}"


def format_interval(interval: dict[str, float] | None, percent: bool = False) -> str:
    """``[lower, upper]`` of a comparison's interval, as numbers or as signed percentages."""
    if interval is None:
        return "—"
    show = format_lift if percent else format_number
    return f"[{show(interval['lower'])}, {show(interval['upper'])}]"
