"""What an engine does for an import job, and the errors it reports. Engines are chosen by name in one place
(``engine.registry``); this module imports none of them."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from recimpact.domain.schema import Column
from recimpact.engine.plan import AttributionQuery


class DataError(Exception):
    """Bad input data; the message names the file, line and column of the first bad value."""


@dataclass(frozen=True)
class InputFile:
    path: Path  # where the engine reads it (on Spark, a path every executor sees: a shared filesystem)
    name: str  # how the user named it (s3://..., file://...)
    columns: tuple[Column, ...]  # the schema column of each CSV header field, in file order


@dataclass(frozen=True)
class LoadResult:
    rows: int  # distinct rows stored
    columns: frozenset[str]  # upper-case columns present in at least one file


class Engine(Protocol):
    name: str

    def load(
        self,
        files: Sequence[InputFile],
        schema_columns: Sequence[Column],
        dest: Path,
        dataset_type: str | None = None,
    ) -> LoadResult:
        """Validate every value against the schema and the rules of ``domain.values`` (``engine.rules``; the
        member's string rules and the event time's range of ``dataset_type``, none without one) and store the
        distinct rows as Parquet at ``dest`` (a file on DuckDB, a folder of part files on Spark). Raises DataError
        naming the first bad value (file, line, column, why; ``engine.lines``); writes nothing on failure."""
        ...

    def progress(self) -> float | None:
        """The completed fraction (0–1) of the statement running now, if the engine can tell."""
        ...

    def distinct(self, parquet: Sequence[Path], column: str) -> list[str]:
        """Distinct non-empty values of a string column."""
        ...

    def sources(
        self, query: AttributionQuery, interactions: Sequence[Path], recommendations_csv: Path | None
    ) -> list[str]:
        """Every distinct source the rows resolve to."""
        ...

    def rows(self, parquet: Path) -> list[dict[str, Any]]:
        """All rows of a stored part (items and users imports, which are upserted row by row)."""
        ...

    def aggregate(
        self,
        query: AttributionQuery,
        interactions: Sequence[Path],
        items_csv: Path | None,
        recommendations_csv: Path | None,
    ) -> list[tuple[int, str, int, float]]:
        """(metric index, source, window start, value) for every non-empty window."""
        ...

    def close(self) -> None: ...
