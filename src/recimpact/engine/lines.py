"""The slow path both engines share, taken only when a load fails: read the files from the start, as a CSV reader
that follows RFC 4180 reads them, hold every cell to ``engine.rules`` (the domain's rules in Python), and name the
first bad line: file, line, column and why.

Lines end with ``\\n``, ``\\r\\n`` or ``\\r``, in any mix (Python's csv module reads them all). DuckDB's strict reader
refuses a file that mixes them, and Spark's whole-file reader (for values spanning lines) takes the first line's
ending for every line: ``check`` tells which files end a line otherwise than with ``\\n``, and ``normalized`` writes
such a file again with ``\\n`` alone, its values as read here, for the engine to load instead.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from recimpact.engine.base import InputFile
from recimpact.engine.rules import ColumnRule, cell_problem, shown

_UNDECODABLE = re.compile("[\udc80-\udcff]")  # bytes that are not UTF-8, as surrogateescape decodes them


@dataclass(frozen=True)
class Check:
    reason: str | None  # the first bad line, named; None when every line is good
    irregular: frozenset[
        int
    ]  # files (by position) with a line not ended by \n alone; complete when no reason


class _Undecodable(Exception):
    def __init__(self, line: int) -> None:
        self.line = line


class _Lines:
    """A file's physical lines, as text (a byte-order mark dropped), noting whether any ends otherwise than with
    ``\\n``; raises _Undecodable at the first line that is not UTF-8."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle = handle
        self.number = 0
        self.irregular = False

    def __iter__(self) -> Iterator[str]:
        for line in self._handle:
            self.number += 1
            if _UNDECODABLE.search(line):
                raise _Undecodable(self.number)
            if line.endswith("\r") or line.endswith("\r\n"):
                self.irregular = True
            yield line


def _open(path: Path) -> IO[str]:
    # newline="": lines split at \n, \r\n and \r alike, each kept as written.
    return open(path, encoding="utf-8-sig", errors="surrogateescape", newline="")


def _first_bad_line(file: InputFile, rules: Mapping[str, ColumnRule], lines: _Lines) -> str | None:
    width = len(file.columns)
    names = [c.name.upper() for c in file.columns]
    absent = [r for name, r in rules.items() if name not in names and not r.column.nullable]
    reader = csv.reader(lines, strict=True)  # a quote must close a field, as DuckDB requires
    try:
        next(reader, None)  # the header, checked when the job mapped it onto the schema
        ended = (
            reader.line_num
        )  # the line the previous row ended on: a row spanning lines is named by its first
        for row in reader:
            first, ended = ended + 1, reader.line_num
            if not row:
                continue  # blank lines are skipped by both engines' readers
            where = f"{file.name}: line {first}"
            if absent:
                return f"{file.name}: line 1: the header lacks the required column {absent[0].name}"
            if len(row) != width:
                return f"{where}: wrong number of values: expected {width}, found {len(row)}"
            for name, text in zip(names, row, strict=True):
                rule = rules.get(name)
                if rule is None:
                    continue
                if text == "":
                    if not rule.column.nullable:
                        return f"{where}, column {name}: a value is required"
                elif (problem := cell_problem(rule, text)) is not None:
                    return f"{where}, column {name}: {shown(text)} {problem}"
    except csv.Error as exc:
        return f"{file.name}: line {reader.line_num}: malformed quoting ({exc})"
    return None


def check(files: Sequence[InputFile], rules: Mapping[str, ColumnRule]) -> Check:
    """The first bad line of ``files``, in order; ``rules`` by upper-case column (those present in any file)."""
    irregular: set[int] = set()
    for index, file in enumerate(files):
        with _open(file.path) as handle:
            lines = _Lines(handle)
            try:
                reason = _first_bad_line(file, rules, lines)
            except _Undecodable as exc:
                reason = f"{file.name}: line {exc.line}: the file is not UTF-8 encoded"
        if reason is not None:
            return Check(reason, frozenset(irregular))
        if lines.irregular:
            irregular.add(index)
    return Check(None, frozenset(irregular))


def normalized(file: InputFile, folder: Path) -> InputFile:
    """``file`` written again, its lines ended by ``\\n`` alone and every value quoted, as read here (a file
    ``check`` found good). Reasons still name the original."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uuid.uuid4().hex}.csv"
    with _open(file.path) as source, open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n", quoting=csv.QUOTE_ALL)
        writer.writerows(row for row in csv.reader(source, strict=True) if row)
    return InputFile(path=path, name=file.name, columns=file.columns)
