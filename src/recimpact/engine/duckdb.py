"""The embedded engine: DuckDB streams CSV into Parquet and aggregates columnar, on every core, within a memory
limit (larger inputs spill to disk instead of failing)."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
import regex

from recimpact.domain.schema import Column
from recimpact.engine.base import AVRO_TO_SQL, DataError, InputFile, LoadResult
from recimpact.engine.plan import AttributionQuery

MEMORY_LIMIT = "1GB"
_LINE = regex.compile(r"CSV Error on Line: (\d+)")
_COLUMN = regex.compile(r'converting column "([^"]+)"')


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _columns_arg(columns: Sequence[Column]) -> str:
    return (
        "{" + ", ".join(f"{_literal(c.name.upper())}: {_literal(AVRO_TO_SQL[c.type])}" for c in columns) + "}"
    )


def _read_csv(file: InputFile) -> str:
    return (
        f"read_csv({_literal(str(file.path))}, header=true, auto_detect=false, strict_mode=true,"
        f" columns={_columns_arg(file.columns)})"
    )


class DuckDBEngine:
    name = "duckdb"

    def __init__(self, temp_dir: Path) -> None:
        temp_dir.mkdir(parents=True, exist_ok=True)
        self._temp_dir = temp_dir
        self._lock = threading.Lock()  # one job at a time uses the connection; jobs are serialized anyway
        self._conn = duckdb.connect(
            config={
                "memory_limit": MEMORY_LIMIT,
                "temp_directory": str(temp_dir),
                "preserve_insertion_order": False,
                "autoinstall_known_extensions": False,
                "autoload_known_extensions": False,
            }
        )
        # Progress of the running statement, read by other threads for the import job's progress bar.
        self._conn.execute("SET enable_progress_bar = true")
        self._conn.execute("SET enable_progress_bar_print = false")

    def progress(self) -> float | None:
        """The running statement's completed fraction (0–1), or None when nothing reports progress."""
        try:
            value = float(self._conn.query_progress())
        except duckdb.Error:
            return None
        return value / 100 if value >= 0 else None

    def load(self, files: Sequence[InputFile], schema_columns: Sequence[Column], dest: Path) -> LoadResult:
        present = {c.name.upper() for f in files for c in f.columns}
        ordered = [c for c in schema_columns if c.name.upper() in present]
        select = ", ".join(quote(c.name.upper()) for c in ordered)
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {_read_csv(f)}" for f in files)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        with self._lock:
            try:
                self._conn.execute(
                    f"COPY (SELECT DISTINCT {select} FROM ({union})) TO {_literal(str(tmp))} (FORMAT parquet)"
                )
            except duckdb.Error as exc:
                tmp.unlink(missing_ok=True)
                raise DataError(self._explain(exc, files)) from None
            try:
                self._check_required(tmp, ordered, files)
                rows = self._conn.execute(
                    f"SELECT count(*) FROM read_parquet({_literal(str(tmp))})"
                ).fetchone()
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(dest)
        return LoadResult(rows=int(rows[0]) if rows else 0, columns=frozenset(present))

    def _check_required(self, parquet: Path, columns: Sequence[Column], files: Sequence[InputFile]) -> None:
        required = [c for c in columns if not c.nullable]
        if not required:
            return
        counts = ", ".join(f"count(*) FILTER (WHERE {quote(c.name.upper())} IS NULL)" for c in required)
        row = self._conn.execute(f"SELECT {counts} FROM read_parquet({_literal(str(parquet))})").fetchone()
        missing = [c for c, n in zip(required, row or (), strict=False) if n]
        if missing:
            raise DataError(self._first_null(missing[0], files))

    def _first_null(self, column: Column, files: Sequence[InputFile]) -> str:
        """The slow path, taken only on failure: the first line whose required value is empty."""
        name = column.name.upper()
        for file in files:
            if name not in {c.name.upper() for c in file.columns}:
                return f"{file.name}: the header has no {name} column, which is required"
            row = self._conn.execute(
                f"SELECT rn FROM (SELECT row_number() OVER () AS rn, {quote(name)} AS v FROM {_read_csv(file)})"
                " WHERE v IS NULL ORDER BY rn LIMIT 1"
            ).fetchone()
            if row:
                return f"{file.name}: line {int(row[0]) + 1}, column {name}: a value is required"
        return f"column {name}: a value is required"

    @staticmethod
    def _explain(error: Exception, files: Sequence[InputFile]) -> str:
        """DuckDB's CSV errors name the line and column; keep those and the first line of the reason."""
        text = str(error)
        file = next((f for f in files if str(f.path) in text), files[0] if len(files) == 1 else None)
        where = file.name if file else "input"
        line = _LINE.search(text)
        column = _COLUMN.search(text)
        lines = [part.strip() for part in text.splitlines() if part.strip()]
        reason = next(
            (
                part
                for part in lines
                if not part.startswith(
                    ("Conversion Error", "Invalid Input Error", "Original Line", "Column ")
                )
                and "CSV Error" not in part
            ),
            lines[0] if lines else "unreadable",
        )
        if "Invalid unicode" in text:
            reason = "the file is not UTF-8 encoded"
        if "Expected Number of Columns" in text or (
            "expected" in reason.lower() and "columns" in reason.lower()
        ):
            reason = f"wrong number of values: {reason}"
        parts = [where]
        if line:
            parts.append(f"line {line.group(1)}")
        if column:
            parts.append(f"column {column.group(1)}")
        return ", ".join(parts) + f": {reason}"

    def distinct(self, parquet: Sequence[Path], column: str) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT DISTINCT {quote(column)} FROM read_parquet({self._list(parquet)}, union_by_name=true)"
                f" WHERE {quote(column)} IS NOT NULL AND TRIM({quote(column)}) != ''"
            ).fetchall()
        return [str(value) for (value,) in rows]

    @staticmethod
    def _list(paths: Sequence[Path]) -> str:
        return "[" + ", ".join(_literal(str(p)) for p in paths) + "]"

    def sources(
        self, query: AttributionQuery, interactions: Sequence[Path], recommendations_csv: Path | None
    ) -> list[str]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                self._bind(cursor, query, interactions, None, recommendations_csv)
                rows = cursor.execute(query.sources_sql(quote)).fetchall()
            finally:
                cursor.close()
        return [str(source) for (source,) in rows]

    def rows(self, parquet: Path) -> list[dict[str, Any]]:
        with self._lock:
            cursor = self._conn.cursor()
            try:
                cursor.execute(f"SELECT * FROM read_parquet({_literal(str(parquet))})")
                names = [d[0] for d in cursor.description or ()]
                result = []
                while batch := cursor.fetchmany(10_000):
                    result += [dict(zip(names, row, strict=True)) for row in batch]
            finally:
                cursor.close()
        return result

    def _bind(
        self,
        cursor: Any,
        query: AttributionQuery,
        interactions: Sequence[Path],
        items_csv: Path | None,
        recommendations_csv: Path | None,
    ) -> None:
        """The plan's four relations, on this cursor's connection."""
        cursor.execute(
            "CREATE OR REPLACE TEMP VIEW interactions AS SELECT * FROM read_parquet("
            f"{self._list(interactions)}, union_by_name=true)"
        )
        cursor.execute("CREATE OR REPLACE TEMP TABLE metrics (IDX INTEGER, ET VARCHAR)")
        if query.metrics:
            cursor.executemany(
                "INSERT INTO metrics VALUES (?, ?)", [(i, m.event_type) for i, m in enumerate(query.metrics)]
            )
        if query.needs_items:
            cols = {"ITEM_ID": "VARCHAR", **dict.fromkeys(query.item_columns(), "DOUBLE")}
            cursor.execute(self._csv_view("items", items_csv, cols))
        if query.needs_recommendations:
            cursor.execute(
                self._csv_view(
                    "recommendations",
                    recommendations_csv,
                    {"RECOMMENDATION_ID": "VARCHAR", "SOURCE": "VARCHAR"},
                )
            )

    def aggregate(
        self,
        query: AttributionQuery,
        interactions: Sequence[Path],
        items_csv: Path | None,
        recommendations_csv: Path | None,
    ) -> list[tuple[int, str, int, float]]:
        if not query.metrics or not interactions:
            return []
        with self._lock:
            cursor = self._conn.cursor()
            try:
                self._bind(cursor, query, interactions, items_csv, recommendations_csv)
                rows: list[Any] = cursor.execute(query.sql(quote)).fetchall()
            finally:
                cursor.close()
        return [(int(i), str(s), int(w), float(v)) for i, s, w, v in rows]

    @staticmethod
    def _csv_view(name: str, path: Path | None, columns: dict[str, str]) -> str:
        if path is None:
            cols = ", ".join(f"CAST(NULL AS {t}) AS {quote(c)}" for c, t in columns.items())
            return f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT {cols} WHERE false"
        spec = "{" + ", ".join(f"{_literal(c)}: {_literal(t)}" for c, t in columns.items()) + "}"
        return (
            f"CREATE OR REPLACE TEMP VIEW {name} AS SELECT * FROM read_csv({_literal(str(path))}, header=true,"
            f" auto_detect=false, columns={spec})"
        )

    def close(self) -> None:
        with self._lock:
            self._conn.close()
