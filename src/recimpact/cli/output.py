"""What every ``recimpact`` command shares: the ``--format`` choice, the consoles, and errors as one readable line
(the AWS error class and message, never a traceback)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from typing import Any, NoReturn

import typer
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

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
    """Rows as a table on standard output, laid out for the console's width (``show_table``)."""
    show_table(console, title, columns, rows)


# A number as the tables show it: a count, a decimal, a percentage, a signed lift, an interval's bound ("[-5.5%,"),
# a date or an ISO 8601 time. A table never splits one: it is one word that neither wraps nor folds.
_NUMBER = re.compile(r"[\[(]?[-+\u2212<>~]?[$\u20ac\u00a3]?\d[\d,.:/+\-T]*(?:[eE][-+]?\d+)?[%Zs]?[\])]?[,;]?")
_EMPTY = ("", "\u2014", "-")  # no value: "", "—" and "-"
# A word of text (a source name, an ARN) folds over lines rather than widen its column beyond this.
_TEXT_FOLD = 16
# The looks a table takes, widest first: Rich's heavy box, then a rule under the header only and two spaces between
# columns.
_STYLES: tuple[dict[str, Any], ...] = (
    {"box": box.HEAVY_HEAD},
    {"box": box.SIMPLE_HEAD, "show_edge": False, "pad_edge": False, "padding": (0, 1, 0, 0)},
)


def _is_number(word: str) -> bool:
    return _NUMBER.fullmatch(word) is not None


def _words(cell: str) -> list[str]:
    return cell.split()


def _natural(cells: Sequence[str]) -> int:
    return max((cell_len(line) for cell in cells for line in cell.splitlines()), default=0)


def _minimum(header: str, cells: Sequence[str]) -> int:
    """The narrowest a column may be: its longest number and its header's longest word stay whole; text folds down
    to ``_TEXT_FOLD`` columns."""
    numbers = [cell_len(w) for c in cells for w in _words(c) if _is_number(w)]
    text = [cell_len(w) for c in cells for w in _words(c) if not _is_number(w)]
    heading = [cell_len(w) for w in _words(header)]
    return max(1, *numbers, *heading, min(max(text, default=0), _TEXT_FOLD))


def _fold(cell: str, width: int) -> str:
    """A cell cut into lines of at most ``width``: at spaces, else after a "/", ":", "-" or "_" (an ARN, a source
    name), else anywhere in a word of text; never inside a number."""
    if _natural([cell]) <= width:
        return cell
    pieces: list[str] = []
    for word in re.findall(r"\S+\s*", cell):
        pieces += [word] if _is_number(word.strip()) else re.split(r"(?<=[/:_-])(?=.)", word)
    lines: list[str] = []
    line = ""
    for piece in pieces:
        if line and cell_len((line + piece).rstrip()) > width:
            lines.append(line.rstrip())
            line = ""
        while cell_len(piece.rstrip()) > width and not _is_number(piece.strip()):
            lines.append(piece[:width])
            piece = piece[width:]
        line += piece
    return "\n".join([*lines, line.rstrip()])


def _spread(floor: Sequence[int], goals: Sequence[Sequence[int]], room: int) -> list[int] | None:
    """Column widths from ``floor``, the spare room going to each goal in turn (the body's widths, then the
    headers'), one column at a time to whichever lacks the most; None when even the floor does not fit."""
    if sum(floor) > room:
        return None
    widths = list(floor)
    spare = room - sum(widths)
    for goal in goals:
        while spare > 0:
            lacking = max(range(len(widths)), key=lambda i: goal[i] - widths[i])
            if goal[lacking] <= widths[lacking]:
                break
            widths[lacking] += 1
            spare -= 1
    return widths


def _table(
    style: dict[str, Any],
    title: str | None,
    columns: Sequence[str],
    widths: Sequence[int],
    right: Sequence[bool],
) -> Table:
    table = Table(title=Text(title) if title else None, title_justify="left", **style)
    for column, width, justify in zip(columns, widths, right, strict=True):
        table.add_column(Text(column), width=width, justify="right" if justify else "left", overflow="fold")
    return table


def _overhead(out: Console, style: dict[str, Any], count: int) -> int:
    """What a style adds to the columns' widths: rules, edges and padding."""
    probe = _table(style, None, [""] * count, [1] * count, [False] * count)
    return Measurement.get(out, out.options.update_width(10_000), probe).maximum - count


def show_table(
    out: Console, title: str | None, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """A table laid out for ``out``'s width, never cutting a number: in Rich's heavy box, its headers wrapped at
    their spaces if need be; narrower, without vertical rules; narrower still, with text (source names, ARNs)
    folded at its separators; and when even that does not fit, one block per row (its first cell, then "column
    value" lines). Numbers are right-aligned; a cell is written as text (no markup, no highlighting)."""
    cells = [["" if v is None else str(plain(v)) for v in row] for row in rows]
    by_column = [[row[i] for row in cells] for i in range(len(columns))]
    right = [
        any(c not in _EMPTY for c in col) and all(c in _EMPTY or all(map(_is_number, _words(c))) for c in col)
        for col in by_column
    ]
    minimum = [_minimum(h, col) for h, col in zip(columns, by_column, strict=True)]
    body = [max(m, _natural(col)) for m, col in zip(minimum, by_column, strict=True)]
    natural = [max(b, _natural([h])) for b, h in zip(body, columns, strict=True)]
    # Wrapped headers first (once per table), folded cells last (once per row); the heavy box while it fits.
    for style, floor in ((_STYLES[0], body), (_STYLES[1], body), (_STYLES[1], minimum)):
        overhead = _overhead(out, style, len(columns))
        widths = _spread(floor, (body, natural), out.width - overhead)
        if widths is None:
            continue
        table = _table(style, title and _fold(title, sum(widths) + overhead), columns, widths, right)
        # Rows that wrap are told apart by a rule (or a blank line) between them.
        table.show_lines = any(_natural(col) > w for col, w in zip(by_column, widths, strict=True))
        for row in cells:
            table.add_row(*(Text(_fold(c, w)) for c, w in zip(row, widths, strict=True)))
        out.print(table)
        return
    _show_blocks(out, title, columns, cells)


def _show_blocks(
    out: Console, title: str | None, columns: Sequence[str], cells: Sequence[Sequence[str]]
) -> None:
    """One block per row, for a console too narrow for the table: the first cell, then a line per other column
    ("label  value"; the value on a line of its own when both do not fit)."""
    if title:
        out.print(Text(_fold(title, out.width), style="bold"))
    labels = columns[1:]
    pad = max((cell_len(label) for label in labels), default=0)
    for row in cells:
        out.print()
        out.print(Text(row[0] or columns[0], style="bold"), soft_wrap=_is_number(row[0]))
        for label, value in zip(labels, row[1:], strict=True):
            if value == "":
                continue
            line = f"  {label.ljust(pad - cell_len(label) + len(label))}  {value}"
            if cell_len(line) <= out.width:
                out.print(Text(line), soft_wrap=True)
                continue
            out.print(Text(f"  {label}"), soft_wrap=True)
            # Text folds at its separators; a number is written whole (a terminal narrower wraps it, nothing cuts it).
            for part in _fold(value, out.width - 4).splitlines():
                out.print(Text(f"    {part}"), soft_wrap=True)


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
        from recimpact.cli.client import ApiError, import_progress

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
