"""The Parquet parts import jobs store (``<data dir>/bulk/``): one file when DuckDB wrote it, a folder of files when
Spark did. Read on this machine with DuckDB whichever engine wrote them, for the work that must happen here (an
INCREMENTAL import's rows joining the event log)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb

_MEMORY_LIMIT = "256MB"  # the import's engine is done when its rows are read back; a sort spills past this


def discard_part(part: Path) -> None:
    """Remove a stored part (a file, or a folder of them); gone already is fine."""
    if part.is_dir():
        shutil.rmtree(part, ignore_errors=True)
    else:
        part.unlink(missing_ok=True)


def parquet_glob(part: Path) -> str:
    return str(part / "*.parquet") if part.is_dir() else str(part)


def rows_by_time(part: Path, temp_dir: Path, batch: int = 10_000) -> Iterator[list[dict[str, Any]]]:
    """The part's rows (upper-case column → value, None where empty), in TIMESTAMP order, ``batch`` at a time, so
    a job's rows are never all in memory."""
    conn = duckdb.connect(
        config={
            "memory_limit": _MEMORY_LIMIT,
            "temp_directory": str(temp_dir),
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
        }
    )
    try:
        cursor = conn.execute('SELECT * FROM read_parquet(?) ORDER BY "TIMESTAMP"', [parquet_glob(part)])
        names = [str(d[0]) for d in cursor.description or ()]
        while rows := cursor.fetchmany(batch):
            yield [dict(zip(names, row, strict=True)) for row in rows]
    finally:
        conn.close()
