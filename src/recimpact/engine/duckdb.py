"""The embedded engine: DuckDB streams CSV into Parquet and aggregates columnar, on every core, within a memory
limit (larger inputs spill to disk instead of failing)."""

from __future__ import annotations

import shutil
import threading
import uuid
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import regex

from recimpact.domain.schema import Column
from recimpact.engine import lines
from recimpact.engine.base import DataError, InputFile, LoadResult
from recimpact.engine.plan import AttributionQuery
from recimpact.engine.rules import DUCKDB, ColumnRule, column_rules, duckdb_literal, typed_sql

# DuckDB's own memory (hash tables, buffers), not the process's: the server around it holds ~0.15 GiB, and a job
# should keep the whole process under 1 GiB whatever the input's size (the dedupe spills to temp_directory instead).
MEMORY_LIMIT = "768MB"
_DISTINCT_MAX_BYTES = 768 * 10**6  # CSV input up to which the load dedupes with DISTINCT (see load)
_LINE = regex.compile(r"CSV Error on Line: (\d+)")
_COLUMN = regex.compile(r'converting column "([^"]+)"')
_REFUSED = "recimpact: a value is refused"  # error()'s message; the slow path (engine.lines) names it
_literal = duckdb_literal


def quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _read_csv(file: InputFile) -> str:
    # Every cell is read as text and typed by engine.rules (DuckDB's reader would round 2.5 into an integer
    # column, read 0x10 or 1e3 into one, and 1e-400 as 0 into a double).
    columns = "{" + ", ".join(f"{_literal(c.name.upper())}: 'VARCHAR'" for c in file.columns) + "}"
    return (
        f"read_csv({_literal(str(file.path))}, header=true, auto_detect=false, strict_mode=true,"
        f" columns={columns})"
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

    def load(
        self,
        files: Sequence[InputFile],
        schema_columns: Sequence[Column],
        dest: Path,
        dataset_type: str | None = None,
    ) -> LoadResult:
        present = {c.name.upper() for f in files for c in f.columns}
        ordered = [c for c in schema_columns if c.name.upper() in present]
        rules = column_rules(ordered, dataset_type)
        tmp = dest.with_name(f".{dest.name}.{uuid.uuid4().hex}.tmp")
        with self._lock:
            try:
                self._write_distinct(files, rules, tmp)
                rows = self._conn.execute(
                    f"SELECT count(*) FROM read_parquet({_literal(str(tmp))})"
                ).fetchone()
            except BaseException:
                tmp.unlink(missing_ok=True)
                raise
        tmp.replace(dest)
        return LoadResult(rows=int(rows[0]) if rows else 0, columns=frozenset(present))

    def _write_distinct(self, files: Sequence[InputFile], rules: Mapping[str, ColumnRule], tmp: Path) -> None:
        """Write the distinct typed rows to ``tmp``. A refused value (an empty required one included) raises
        DataError naming it: the slow path (engine.lines) reads the files again to find it."""
        try:
            self._copy(files, rules, tmp)
            return
        except duckdb.OutOfMemoryException as exc:  # even with the window plan: no value to name
            tmp.unlink(missing_ok=True)
            raise DataError(self._explain(exc, files)) from None
        except duckdb.Error as exc:
            tmp.unlink(missing_ok=True)
            found = lines.check(files, rules)
            if found.reason is not None:
                raise DataError(found.reason) from None
            if not found.irregular:
                raise DataError(self._explain(exc, files)) from None
        # Nothing is wrong with the values, but a file mixes line endings, which the strict reader refuses: it
        # reads those files written again with \n alone.
        folder = self._temp_dir / f"inputs-{uuid.uuid4().hex}"
        try:
            read = [lines.normalized(f, folder) if i in found.irregular else f for i, f in enumerate(files)]
            try:
                self._copy(read, rules, tmp)
            except duckdb.Error as exc:
                tmp.unlink(missing_ok=True)
                raise DataError(self._explain(exc, read)) from None
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def _copy(self, files: Sequence[InputFile], rules: Mapping[str, ColumnRule], tmp: Path) -> None:
        fail = f"error({_literal(_REFUSED)})"
        select = ", ".join(typed_sql(rule, DUCKDB, quote(name), fail) for name, rule in rules.items())
        names = ", ".join(quote(name) for name in rules)
        union = " UNION ALL BY NAME ".join(f"SELECT * FROM {_read_csv(f)}" for f in files)
        # Two plans for the same distinct rows. DISTINCT (one hash table entry per distinct row) is the fastest,
        # but DuckDB cannot spill all of that table: with a 6-column file it ran out of memory on 40M rows (1.9 GB)
        # at a 768MB limit and on 100M rows (4.8 GB) at 1GB. A window partitioned by every column spills
        # completely (100M rows stay under the limit) for ~10-20% more CPU: it dedupes large inputs, and any
        # input DISTINCT runs out of memory on.
        distinct = f"SELECT DISTINCT {select} FROM ({union})"
        windowed = (
            f"SELECT * FROM (SELECT {select} FROM ({union}))"
            f" QUALIFY row_number() OVER (PARTITION BY {names}) = 1"
        )
        small = sum(f.path.stat().st_size for f in files) <= _DISTINCT_MAX_BYTES
        plans = [distinct, windowed] if small else [windowed]
        for plan in plans:
            try:
                self._conn.execute(f"COPY ({plan}) TO {_literal(str(tmp))} (FORMAT parquet)")
                return
            except duckdb.OutOfMemoryException:
                tmp.unlink(missing_ok=True)
                if plan is plans[-1]:
                    raise

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
