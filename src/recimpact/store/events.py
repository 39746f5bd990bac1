"""The event store: the durable event log, items and users, attribution sources, and the live series.

Durability: a PutEvents call is acknowledged only after the transaction holding its events has been committed with
``synchronous=FULL`` (fsync of the WAL), so ``kill -9`` right after a 200 loses nothing. Throughput comes from group
commit: one writer thread owns the connection and commits every unit of work that queued up while the previous
commit was syncing in one transaction, each unit inside its own savepoint so one rejected request never touches
another. Series aggregates are updated in the same transaction as the events they count, so the two can never
disagree, even after a crash.

Why SQLite rather than DuckDB here: per-request durable commits are SQLite's strength (thousands of fsynced
transactions per second, more with group commit); DuckDB manages a few hundred and serves bulk analytics instead.
"""

from __future__ import annotations

import concurrent.futures
import json
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from recimpact.domain.events import Interaction

T = TypeVar("T")

_MAX_UNITS_PER_COMMIT = 512
_DDL = """
CREATE TABLE IF NOT EXISTS events (
    seq                INTEGER PRIMARY KEY,
    dataset_group      TEXT NOT NULL,
    event_id           TEXT,
    content_key        TEXT NOT NULL,
    received_at        REAL NOT NULL,
    sent_at            REAL NOT NULL,
    event_type         TEXT NOT NULL,
    source             TEXT NOT NULL,
    user_id            TEXT,
    session_id         TEXT,
    item_id            TEXT,
    event_value        REAL,
    recommendation_id  TEXT,
    attribution_source TEXT,
    impression         TEXT,
    properties         TEXT
);
CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_id ON events (dataset_group, event_id)
    WHERE event_id IS NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS events_by_content ON events (dataset_group, content_key);
CREATE TABLE IF NOT EXISTS items (
    dataset_group TEXT NOT NULL,
    item_id       TEXT NOT NULL,
    properties    TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    origin        TEXT NOT NULL,  -- 'live' (PutItems/PutUsers) or 'bulk' (import jobs)
    PRIMARY KEY (dataset_group, item_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS users (
    dataset_group TEXT NOT NULL,
    user_id       TEXT NOT NULL,
    properties    TEXT NOT NULL,
    updated_at    REAL NOT NULL,
    origin        TEXT NOT NULL,  -- 'live' (PutItems/PutUsers) or 'bulk' (import jobs)
    PRIMARY KEY (dataset_group, user_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sources (
    dataset_group TEXT NOT NULL,
    source        TEXT NOT NULL,
    first_seen    REAL NOT NULL,
    PRIMARY KEY (dataset_group, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS recommendations (
    recommendation_id TEXT PRIMARY KEY,
    source            TEXT NOT NULL,
    issued_at         REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS series (
    series_id    TEXT NOT NULL,
    metric_name  TEXT NOT NULL,
    event_type   TEXT NOT NULL,
    function     TEXT NOT NULL,
    source       TEXT NOT NULL,
    window_start INTEGER NOT NULL,
    value        REAL NOT NULL,
    published    REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (series_id, metric_name, event_type, function, source, window_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS series_unpublished ON series (series_id) WHERE value != published;
"""


@dataclass(frozen=True)
class SeriesKey:
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


class IngestTx:
    """What a unit of work may do inside the writer's transaction."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def recommendation_source(self, recommendation_id: str) -> str | None:
        row = self._conn.execute(
            "SELECT source FROM recommendations WHERE recommendation_id = ?", (recommendation_id,)
        ).fetchone()
        return row[0] if row else None

    def record_recommendation(self, recommendation_id: str, source: str, issued_at: float) -> None:
        self._conn.execute(
            "INSERT OR IGNORE INTO recommendations VALUES (?, ?, ?)", (recommendation_id, source, issued_at)
        )

    def known_sources(self, dataset_group: str) -> set[str]:
        rows = self._conn.execute("SELECT source FROM sources WHERE dataset_group = ?", (dataset_group,))
        return {source for (source,) in rows}

    def add_sources(self, dataset_group: str, sources: Iterable[str], now: float) -> None:
        self._conn.executemany(
            "INSERT OR IGNORE INTO sources VALUES (?, ?, ?)", [(dataset_group, s, now) for s in sources]
        )

    def insert_event(self, dataset_group: str, event: Interaction, source: str, received_at: float) -> bool:
        """Append an event unless it is a duplicate (same eventId, or the same content); True if appended."""
        cursor = self._conn.execute(
            "INSERT OR IGNORE INTO events (dataset_group, event_id, content_key, received_at, sent_at, event_type,"
            " source, user_id, session_id, item_id, event_value, recommendation_id, attribution_source, impression,"
            " properties) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                dataset_group,
                event.event_id,
                event.content_key(),
                received_at,
                event.sent_at,
                event.event_type,
                source,
                event.user_id,
                event.session_id,
                event.item_id,
                event.event_value,
                event.recommendation_id,
                event.attribution_source,
                json.dumps(list(event.impression)) if event.impression else None,
                json.dumps(event.properties, separators=(",", ":")) if event.properties else None,
            ),
        )
        return cursor.rowcount == 1

    def item(self, dataset_group: str, item_id: str) -> dict[str, Any] | None:
        row = self._conn.execute(
            "SELECT properties FROM items WHERE dataset_group = ? AND item_id = ?", (dataset_group, item_id)
        ).fetchone()
        return json.loads(row[0]) if row else None

    def upsert_item(self, dataset_group: str, item_id: str, properties: dict[str, Any], now: float) -> None:
        self.upsert_records("items", dataset_group, [(item_id, properties)], now, "live")

    def upsert_user(self, dataset_group: str, user_id: str, properties: dict[str, Any], now: float) -> None:
        self.upsert_records("users", dataset_group, [(user_id, properties)], now, "live")

    def upsert_records(
        self,
        table: str,
        dataset_group: str,
        records: Iterable[tuple[str, dict[str, Any]]],
        now: float,
        origin: str,
    ) -> None:
        """Items or users replaced whole by id (the latest write wins, whichever way it came)."""
        if table not in ("items", "users"):
            raise ValueError(table)
        self._conn.executemany(
            f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?, ?, ?)",
            (
                (dataset_group, key, json.dumps(props, separators=(",", ":")), now, origin)
                for key, props in records
            ),
        )

    def drop_bulk_records(self, table: str, dataset_group: str) -> None:
        """A FULL import replaces all bulk data and keeps what came through PutItems / PutUsers."""
        if table not in ("items", "users"):
            raise ValueError(table)
        self._conn.execute(
            f"DELETE FROM {table} WHERE dataset_group = ? AND origin = 'bulk'", (dataset_group,)
        )

    def add_to_series(self, key: SeriesKey, value: float) -> None:
        """O(1) per event: one upsert of the window's running total."""
        self._conn.execute(
            "INSERT INTO series (series_id, metric_name, event_type, function, source, window_start, value)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT DO UPDATE SET value = value + excluded.value",
            (
                key.series_id,
                key.metric_name,
                key.event_type,
                key.function,
                key.source,
                key.window_start,
                value,
            ),
        )

    def mark_published(self, points: Sequence[tuple[SeriesKey, float]]) -> None:
        self._conn.executemany(
            "UPDATE series SET published = ? WHERE series_id = ? AND metric_name = ? AND event_type = ?"
            " AND function = ? AND source = ? AND window_start = ?",
            [
                (v, k.series_id, k.metric_name, k.event_type, k.function, k.source, k.window_start)
                for k, v in points
            ],
        )


_STOP = object()


class EventStore:
    """``<data dir>/events.sqlite3``. Writes go through ``submit`` (one writer thread, group commit); reads use a
    separate connection, which WAL lets run beside the writer."""

    def __init__(self, path: Path | str) -> None:
        self._path = str(path)
        self._writer = self._connect()
        self._writer.executescript(_DDL)
        self._reader = self._connect()
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="recimpact-event-writer", daemon=True)
        self._closed = False
        self._thread.start()

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute("PRAGMA busy_timeout=10000")
        return conn

    def submit(self, work: Callable[[IngestTx], T]) -> concurrent.futures.Future[T]:
        """Run ``work`` in the next group commit; the future resolves once it is durable (or raised)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(RuntimeError("the event store is closed"))
        else:
            self._queue.put((work, future))
        return future

    def _run(self) -> None:
        tx = IngestTx(self._writer)
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            units = [first]
            while len(units) < _MAX_UNITS_PER_COMMIT:
                try:
                    unit = self._queue.get_nowait()
                except queue.Empty:
                    break
                if unit is _STOP:
                    self._queue.put(_STOP)
                    break
                units.append(unit)
            self._commit(tx, units)

    def _commit(
        self, tx: IngestTx, units: list[tuple[Callable[[IngestTx], Any], concurrent.futures.Future[Any]]]
    ) -> None:
        outcomes: list[tuple[concurrent.futures.Future[Any], Any, BaseException | None]] = []
        conn = self._writer
        try:
            conn.execute("BEGIN IMMEDIATE")
            for work, future in units:
                conn.execute("SAVEPOINT unit")
                try:
                    result = work(tx)
                except Exception as exc:  # the unit's own failure (a rejected request): undo it alone
                    conn.execute("ROLLBACK TO unit")
                    conn.execute("RELEASE unit")
                    outcomes.append((future, None, exc))
                else:
                    conn.execute("RELEASE unit")
                    outcomes.append((future, result, None))
            conn.execute("COMMIT")
        except Exception as exc:  # the commit itself failed (disk full, I/O error): nothing was stored
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            for _, future in units:
                future.set_exception(exc)
            return
        for future, result, error in outcomes:
            if error is None:
                future.set_result(result)
            else:
                future.set_exception(error)

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            return self._reader.execute(sql, args).fetchall()

    def series(
        self, series_id: str, start: float | None = None, end: float | None = None
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
        return [
            SeriesPoint(SeriesKey(series_id, m, e, f, s, w), v, p)
            for m, e, f, s, w, v, p in self.read(sql, args)
        ]

    def item_values(self, dataset_group: str, columns: Sequence[str]) -> Iterable[tuple[Any, ...]]:
        """(ITEM_ID, value of each column) for every item of a group: the item side of a bulk report's join."""
        with self._read_lock:
            rows = self._reader.execute(
                "SELECT item_id, properties FROM items WHERE dataset_group = ?", (dataset_group,)
            ).fetchall()
        for item_id, properties in rows:
            values = json.loads(properties)
            yield (item_id, *(values.get(c) for c in columns))

    def recommendation_sources(self, recommendation_ids: Sequence[str]) -> dict[str, str]:
        found: dict[str, str] = {}
        for i in range(0, len(recommendation_ids), 500):
            chunk = recommendation_ids[i : i + 500]
            marks = ", ".join("?" * len(chunk))
            found.update(
                self.read(
                    f"SELECT recommendation_id, source FROM recommendations WHERE recommendation_id IN ({marks})",
                    chunk,
                )
            )
        return found

    def sources_of(self, dataset_group: str) -> set[str]:
        return {
            s for (s,) in self.read("SELECT source FROM sources WHERE dataset_group = ?", (dataset_group,))
        }

    def unpublished(self, limit: int = 1000) -> list[SeriesPoint]:
        """Series windows whose value changed since they were last published."""
        rows = self.read(
            "SELECT series_id, metric_name, event_type, function, source, window_start, value, published"
            " FROM series WHERE value != published LIMIT ?",
            (limit,),
        )
        return [SeriesPoint(SeriesKey(i, m, e, f, s, w), v, p) for i, m, e, f, s, w, v, p in rows]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._writer.close()
        with self._read_lock:
            self._reader.close()
