"""The live series: each metric part's running total per source and 15-minute window (``series``), what backfills
have counted (``backfills``), and what the CloudWatch publisher has published of each window (``published``).

Writes run inside a writer's transaction (``SqliteIngestTx`` calls them, on its connection); reads take the
store's reader (``Read``).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from recimpact.store.commit import insert_rows
from recimpact.store.schema import Read


class SeriesKey(NamedTuple):
    """One 15-minute window of one metric part and source. A tuple: hashed and compared in C, many times per
    commit, and cheap to send to another process."""

    series_id: str
    metric_name: str
    event_type: str
    function: str
    source: str
    window_start: int


@dataclass(frozen=True)
class SeriesPoint:
    key: SeriesKey
    value: float
    published: float


_UPSERT_SERIES = (
    "INSERT INTO series (series_id, metric_name, event_type, function, source, window_start, value)"
    " VALUES {values}"
    " ON CONFLICT DO UPDATE SET value = value + excluded.value"
)
_SERIES_VALUES = "(?, ?, ?, ?, ?, ?, ?)"


def write_contributions(conn: sqlite3.Connection, contributions: dict[SeriesKey, float]) -> None:
    """A commit's contributions, summed in memory per window: one upsert per window touched."""
    insert_rows(
        conn,
        _UPSERT_SERIES,
        _SERIES_VALUES,
        [(*key, value) for key, value in contributions.items()],
    )


_UPSERT_BACKFILL = (
    "INSERT INTO series (series_id, metric_name, event_type, function, source, window_start, value, published)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET value = value + excluded.value, published = published + excluded.published"
)


def write_backfill(conn: sqlite3.Connection, key: SeriesKey, value: float, publish: bool) -> None:
    """``IngestTx.add_backfill``: ``value`` added to the window, and to what was published unless ``publish``."""
    conn.execute(
        _UPSERT_BACKFILL,
        (
            key.series_id,
            key.metric_name,
            key.event_type,
            key.function,
            key.source,
            key.window_start,
            value,
            0.0 if publish else value,
        ),
    )


_COVERAGE = "SELECT since, received_before FROM backfills WHERE series_id = ? AND metric_name = ?"


def read_coverage(read: Read, series_id: str, metric_name: str) -> tuple[float, float] | None:
    """(since, received before) of what a metric's backfills have counted, or None before the first."""
    rows = read(_COVERAGE, (series_id, metric_name))
    return (float(rows[0][0]), float(rows[0][1])) if rows else None


def write_coverage(
    conn: sqlite3.Connection, series_id: str, metric_name: str, since: float, received_before: float
) -> None:
    conn.execute(
        "INSERT OR REPLACE INTO backfills VALUES (?, ?, ?, ?)",
        (series_id, metric_name, since, received_before),
    )


def write_published(conn: sqlite3.Connection, points: Sequence[tuple[SeriesKey, float]]) -> None:
    conn.executemany(
        "UPDATE series SET published = ? WHERE series_id = ? AND metric_name = ? AND event_type = ?"
        " AND function = ? AND source = ? AND window_start = ?",
        [
            (v, k.series_id, k.metric_name, k.event_type, k.function, k.source, k.window_start)
            for k, v in points
        ],
    )


def read_series(
    read: Read, series_id: str, start: float | None = None, end: float | None = None
) -> list[SeriesPoint]:
    """The live series of one attribution, newest window first, then by metric and source."""
    sql = (
        "SELECT metric_name, event_type, function, source, window_start, value, published FROM series"
        " WHERE series_id = ?"
    )
    args: list[Any] = [series_id]
    if start is not None:
        sql += " AND window_start >= ?"
        args.append(start)
    if end is not None:
        sql += " AND window_start < ?"
        args.append(end)
    sql += " ORDER BY window_start DESC, metric_name, source"
    return [SeriesPoint(SeriesKey(series_id, m, e, f, s, w), v, p) for m, e, f, s, w, v, p in read(sql, args)]


def read_unpublished(read: Read, limit: int, until: float, beyond: float) -> list[SeriesPoint]:
    """Series windows whose value changed since they were last published, starting up to ``until`` or after
    ``beyond`` (a window in between is left until its time comes)."""
    rows = read(
        "SELECT series_id, metric_name, event_type, function, source, window_start, value, published"
        " FROM series WHERE value != published AND (window_start <= ? OR window_start > ?) LIMIT ?",
        (until, beyond, limit),
    )
    return [SeriesPoint(SeriesKey(i, m, e, f, s, w), v, p) for i, m, e, f, s, w, v, p in rows]
