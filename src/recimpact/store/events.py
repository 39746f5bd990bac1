"""The event store: the durable event log, items and users, attribution sources, and the live series.

Durability: a PutEvents call is acknowledged only after the transaction holding its events has been committed and the
WAL synced (``fdatasync``; ``_LoopCommitter`` says when), so ``kill -9`` right after a 200, or a power cut, loses
nothing. Throughput comes from group commit: every unit of work that queued up while the previous commit held the
write turn goes into one transaction, each unit inside its own savepoint so one rejected request never touches
another. Requests commit on the event loop that serves them; other callers (import jobs, backfills, the CloudWatch
publisher) through a writer thread. Series aggregates are updated in the same transaction as the events they count,
so the two can never disagree, even after a crash.

Why SQLite rather than DuckDB here: per-request durable commits are SQLite's strength (thousands of fsynced
transactions per second, more with group commit); DuckDB manages a few hundred and serves bulk analytics instead.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import json
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple, TypeVar

from recimpact.domain.events import Interaction
from recimpact.domain.expressions import MetricExpression
from recimpact.store.turns import WriteTurn

log = logging.getLogger("recimpact.store")
_sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync

T = TypeVar("T")

_MAX_UNITS_PER_COMMIT = 512
_TURN_RETRY = 0.002  # seconds: how often a loop waiting for the write turn retries if no doorbell rings
_ITEMS_REMEMBERED = 50_000  # the writer's item cache: some 25 MB at most
_WAL_REWIND_BYTES = 64 << 20
_DDL = """
CREATE TABLE IF NOT EXISTS dataset_groups (
    id  INTEGER PRIMARY KEY,
    arn TEXT NOT NULL UNIQUE
);
-- Every interaction the live series has seen, whichever way it came: PutEvents (session_id set, as PutEvents
-- requires one) and INCREMENTAL imports (session_id NULL), so that an event counts once across both paths.
CREATE TABLE IF NOT EXISTS events (
    seq                INTEGER PRIMARY KEY,
    group_id           INTEGER NOT NULL,  -- dataset_groups.id: an integer keeps the dedupe indexes small
    event_id           TEXT,
    content_key        BLOB NOT NULL,     -- 16-byte digest of every attribute but eventId
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
CREATE UNIQUE INDEX IF NOT EXISTS events_by_event_id ON events (group_id, event_id)
    WHERE event_id IS NOT NULL;
-- Identical events have identical timestamps: leading with sent_at keeps the inserts of one commit on a few index
-- pages (events arrive roughly in time order) instead of one random page each.
CREATE UNIQUE INDEX IF NOT EXISTS events_by_content ON events (group_id, sent_at, content_key);
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
    source            TEXT NOT NULL,   -- the recommender or campaign ARN that issued it
    issued_at         REAL NOT NULL,
    dataset_group     TEXT,            -- NULL for ids recorded before recimpact served recommendations
    user_id           TEXT,
    items             TEXT             -- JSON list of the item ids shown, in order (the exposures)
) WITHOUT ROWID;
-- Items a source showed (a GetRecommendations answer, or an impression list sent with events), each counted once:
-- the denominator of click-through rates (IMPRESSIONCOUNT()).
CREATE TABLE IF NOT EXISTS exposures (
    group_id     INTEGER NOT NULL,
    exposure_key BLOB NOT NULL,   -- the recommendationId, or a digest of (source, user, impression list)
    source       TEXT NOT NULL,
    user_id      TEXT,
    shown_at     REAL NOT NULL,
    items        INTEGER NOT NULL,
    received_at  REAL,            -- when recimpact learnt of it (backfills count what the live path left out)
    PRIMARY KEY (group_id, exposure_key)
) WITHOUT ROWID;
-- What each metric's backfills have counted (event time >= since, received before received_before), so that a
-- second backfill never counts an event twice.
CREATE TABLE IF NOT EXISTS backfills (
    series_id       TEXT NOT NULL,
    metric_name     TEXT NOT NULL,
    since           REAL NOT NULL,
    received_before REAL NOT NULL,
    PRIMARY KEY (series_id, metric_name)
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
-- A counter per kind of thing writers keep in memory ('items', 'sources'), moved by every change to it, so that a
-- writer that finds another committed since its own last commit forgets only what changed.
CREATE TABLE IF NOT EXISTS changes (
    what       TEXT PRIMARY KEY,
    generation INTEGER NOT NULL
) WITHOUT ROWID;
"""


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

EventRow = tuple[Any, ...]
_INSERT_EVENTS = (
    "INSERT OR IGNORE INTO events (group_id, event_id, content_key, received_at, sent_at, event_type, source,"
    " user_id, session_id, item_id, event_value, recommendation_id, attribution_source, impression, properties)"
    " VALUES {values}"
)
# A row's parameters, with NULLIF where ``event_row`` writes '' for None.
_EVENT_VALUES = (
    "(?, NULLIF(?, ''), ?, ?, ?, ?, ?, NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''),"
    " NULLIF(?, ''), NULLIF(?, ''), NULLIF(?, ''))"
)


def event_row(event: Interaction, source: str, received_at: float) -> EventRow:
    """An event as the events table stores it (every column after the group id), in the types sqlite3 binds
    fastest: '' for None (every text member of an event is at least one character long, so '' means no value),
    and the content key as a bytearray. Why: sqlite3 binds int, float, str and bytearray directly, but passes None
    and bytes through its adapter lookup first, which costs more than the insert itself (measured: ~300 ns per
    value against ~70 for a str; 0.9 µs of an event's 2.4)."""
    return (
        event.event_id or "",
        bytearray(event.content_key),
        received_at,
        event.sent_at,
        event.event_type,
        source,
        event.user_id or "",
        event.session_id or "",
        event.item_id or "",
        "" if event.event_value is None else event.event_value,
        event.recommendation_id or "",
        event.attribution_source or "",
        event.impression_json or "",
        event.properties_json or "",
    )


_COVERAGE = "SELECT since, received_before FROM backfills WHERE series_id = ? AND metric_name = ?"


def _coverage(rows: Sequence[Any]) -> tuple[float, float] | None:
    """(since, received before) of what a metric's backfills have counted, or None before the first."""
    return (float(rows[0][0]), float(rows[0][1])) if rows else None


_UPSERT_BACKFILL = (
    "INSERT INTO series (series_id, metric_name, event_type, function, source, window_start, value, published)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
    " ON CONFLICT DO UPDATE SET value = value + excluded.value, published = published + excluded.published"
)


def insert_rows(conn: sqlite3.Connection, statement: str, row: str, rows: Sequence[Sequence[Any]]) -> int:
    """``statement`` (an INSERT with ``VALUES {values}``, and maybe an upsert clause) for all ``rows``, each bound to
    ``row`` (its VALUES tuple: ``"(?, ?)"``, or with expressions around the parameters), in multi-row statements
    of 256, 128, ... 1 rows (160 rows: 128 + 32); returns the rows inserted or updated.

    Why: a statement per row costs a call into SQLite per row, and from a thread each such call lets the GIL go
    and waits to get it back. Sizes that are powers of two keep the cached statements few; a commit's rows are
    never padded up to one size, which made SQLite look up and skip hundreds of duplicates per commit (measured:
    160 rows took 0.93 ms padded to 256, 0.56 ms as 128 + 32)."""
    most = _rows_per_statement(conn, row.count("?"))
    done = 0
    start = 0
    while start < len(rows):
        size = min(most, 1 << ((len(rows) - start).bit_length() - 1))
        sql = _MULTI_ROW.get((statement, row, size))
        if sql is None:
            values = ", ".join([row] * size)
            sql = _MULTI_ROW[(statement, row, size)] = statement.format(values=values)
        done += conn.execute(sql, [value for row in rows[start : start + size] for value in row]).rowcount
        start += size
    return done


def _rows_per_statement(conn: sqlite3.Connection, width: int) -> int:
    """256, or the largest power of two whose parameters this SQLite accepts in one statement (999 before 3.32)."""
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER) // width
    return min(256, 1 << (limit.bit_length() - 1))


_MULTI_ROW: dict[tuple[str, str, int], str] = {}


def _inserted_among(conn: sqlite3.Connection, rows: Sequence[EventRow], count: int) -> list[bool]:
    """Which of ``rows`` (group id first) the INSERT OR IGNORE just inserted, given that it inserted ``count``: the
    events with the ``count`` highest seqs, as SQLite numbers a new row one past the highest. Rows are inserted in
    order, so of two equal rows the first is the one stored. Only asked when some row was a duplicate."""
    stored = collections.Counter(
        conn.execute(
            "SELECT group_id, event_id, content_key FROM events ORDER BY seq DESC LIMIT ?", (count,)
        ).fetchall()
        if count
        else ()
    )
    found = []
    for row in rows:
        key = (row[0], row[1] or None, bytes(row[2]))  # as stored: '' is NULL, the bytearray a blob
        found.append(stored[key] > 0)
        if found[-1]:
            stored[key] -= 1
    return found


_CHANGED = "INSERT INTO changes VALUES (?, 1) ON CONFLICT DO UPDATE SET generation = generation + 1"


def _items_in(
    read: Callable[[str, Sequence[Any]], list[Any]], dataset_group: str, item_ids: Sequence[str]
) -> dict[str, dict[str, Any]]:
    """The stored columns of the named items (those the group has), 500 ids per query; from the reader or from
    inside the writer's transaction."""
    found: dict[str, dict[str, Any]] = {}
    for i in range(0, len(item_ids), 500):
        chunk = item_ids[i : i + 500]
        marks = ", ".join("?" * len(chunk))
        rows = read(
            f"SELECT item_id, properties FROM items WHERE dataset_group = ? AND item_id IN ({marks})",
            [dataset_group, *chunk],
        )
        found.update((item, json.loads(properties)) for item, properties in rows)
    return found


AppendCallback = Callable[["IngestTx", list[bool]], None]


@dataclass(frozen=True)
class _Append:
    group: str
    rows: Sequence[EventRow]
    then: AppendCallback
    items: tuple[str, ...]


class IngestTx:
    """What a unit of work may do inside a writer's transaction.

    It lives as long as its writer (the writer thread, or one event loop's group commit) and keeps in memory what
    rarely changes (group ids, each group's sources, item values), so a PutEvents unit reads nothing it does not
    have to. Events and series contributions are collected
    in memory and written once per commit (a few multi-row statements, one upsert per window touched). A unit's
    savepoint is opened by its first statement, so a unit that only works in memory costs none. Everything a unit
    changes, in memory or not, is undone with it when it fails."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._group_ids: dict[str, int] = {}  # never change once assigned
        self._sources: dict[str, set[str]] = {}
        self._generations: dict[str, int] = {}  # of what is remembered (the ``changes`` table)
        # Items as stored, kept across commits: dropped when this writer changes items, and when another writer
        # did (``catch_up``).
        self._items: dict[tuple[str, str], dict[str, Any] | None] = {}
        self._series: dict[SeriesKey, float] = {}  # this commit's contributions of finished units
        self._appends: list[_Append] = []  # ... and their events
        self._in_unit = False
        self._savepoint = False
        self._unit_series: dict[SeriesKey, float] = {}
        self._unit_sources: list[tuple[str, str]] = []
        self._unit_appends: list[_Append] = []

    @property
    def _sql(self) -> sqlite3.Connection:
        """The connection, after opening the running unit's savepoint if this is its first statement."""
        if self._in_unit and not self._savepoint:
            self._conn.execute("SAVEPOINT unit")
            self._savepoint = True
        return self._conn

    # -- unit and commit boundaries (called by EventStore) --

    def begin_unit(self) -> None:
        self._in_unit = True
        self._savepoint = False
        self._unit_series = {}
        self._unit_sources = []
        self._unit_appends = []

    def end_unit(self, succeeded: bool) -> None:
        """Keep or undo what the unit did (its statements, if it ran any, and what it left in memory)."""
        self._in_unit = False
        if self._savepoint:
            if not succeeded:
                self._conn.execute("ROLLBACK TO unit")
            self._conn.execute("RELEASE unit")
        if succeeded:
            for key, value in self._unit_series.items():
                self._series[key] = self._series.get(key, 0.0) + value
            for group, source in self._unit_sources:
                self._sources.setdefault(group, set()).add(source)
            self._appends += self._unit_appends
        else:
            self._items.clear()  # the unit may have upserted items it no longer has
        self._unit_series = {}
        self._unit_sources = []
        self._unit_appends = []

    def flush(self) -> None:
        """Write the commit's events and series contributions (inside the transaction, before COMMIT)."""
        if self._appends:
            self._write_appends()
        if self._series:
            insert_rows(
                self._conn,
                _UPSERT_SERIES,
                _SERIES_VALUES,
                [(*key, value) for key, value in self._series.items()],
            )
        self._series = {}

    def _write_appends(self) -> None:
        """All the commit's events in a few statements when none is a duplicate (the usual case: the count of rows
        inserted says so); otherwise again row by row, to learn which ones were. Then each unit's callback."""
        appends, self._appends = self._appends, []
        conn = self._conn
        group_ids = [self.group_id(append.group) for append in appends]
        rows = [(g, *row) for g, append in zip(group_ids, appends, strict=True) for row in append.rows]
        inserted = insert_rows(conn, _INSERT_EVENTS, _EVENT_VALUES, rows)
        fresh = iter([True] * len(rows) if inserted == len(rows) else _inserted_among(conn, rows, inserted))
        appended = [[next(fresh) for _ in append.rows] for append in appends]
        wanted: dict[str, set[str]] = {}
        for append in appends:
            wanted.setdefault(append.group, set()).update(append.items)
        for group, items in wanted.items():
            self.load_items(group, items)
        for append, new in zip(appends, appended, strict=True):
            append.then(self, new)

    def forget(self) -> None:
        """After a failed commit: nothing in memory may claim what the database does not hold."""
        self._series = {}
        self._appends = []
        self._sources.clear()
        self._items.clear()
        self._group_ids.clear()
        self._generations = {}

    def catch_up(self) -> None:
        """At the start of a commit, when another writer has committed since this one last did: forget the items
        or sources if it changed them (group ids never change). One small read instead of reading them all again
        on every turn, as several server processes take turns."""
        seen = dict(self._conn.execute("SELECT what, generation FROM changes").fetchall())
        if seen.get("items") != self._generations.get("items"):
            self._items.clear()
        if seen.get("sources") != self._generations.get("sources"):
            self._sources.clear()
        self._generations = seen

    # -- what units do --

    def append_events(
        self, dataset_group: str, rows: Sequence[EventRow], then: AppendCallback, items: Iterable[str] = ()
    ) -> None:
        """Append events (``event_row``s) with the commit, except duplicates (same eventId, or the same content).
        ``then`` receives, for each row, whether it was appended, still inside the transaction: what it adds to the
        series or writes is committed with the events. ``items`` it will look up (``item``) are read beforehand,
        all of the commit's in one statement."""
        self._unit_appends.append(_Append(dataset_group, rows, then, tuple(items)))

    def append_events_now(self, dataset_group: str, rows: Sequence[EventRow]) -> list[bool]:
        """Append events (``event_row``s) at once, in this unit, except duplicates; returns for each row whether it
        was appended. For an import job's unit, which appends its rows batch by batch instead of holding them all
        until the commit's end (``append_events``)."""
        group = self.group_id(dataset_group)
        rows = [(group, *row) for row in rows]
        inserted = insert_rows(self._sql, _INSERT_EVENTS, _EVENT_VALUES, rows)
        return [True] * len(rows) if inserted == len(rows) else _inserted_among(self._sql, rows, inserted)

    def group_id(self, dataset_group: str) -> int:
        found = self._group_ids.get(dataset_group)
        if found is None:
            self._sql.execute("INSERT OR IGNORE INTO dataset_groups (arn) VALUES (?)", (dataset_group,))
            row = self._sql.execute(
                "SELECT id FROM dataset_groups WHERE arn = ?", (dataset_group,)
            ).fetchone()
            found = self._group_ids[dataset_group] = int(row[0])
        return found

    def recommendation_source(self, recommendation_id: str) -> str | None:
        row = self._sql.execute(
            "SELECT source FROM recommendations WHERE recommendation_id = ?", (recommendation_id,)
        ).fetchone()
        return row[0] if row else None

    def record_recommendation(
        self,
        recommendation_id: str,
        source: str,
        issued_at: float,
        dataset_group: str | None = None,
        user_id: str | None = None,
        items: Sequence[str] = (),
    ) -> None:
        self._sql.execute(
            "INSERT OR IGNORE INTO recommendations VALUES (?, ?, ?, ?, ?, ?)",
            (
                recommendation_id,
                source,
                issued_at,
                dataset_group,
                user_id,
                json.dumps(list(items), separators=(",", ":")),
            ),
        )

    def known_sources(self, dataset_group: str) -> set[str]:
        """The group's sources (a live view: do not modify)."""
        known = self._sources.get(dataset_group)
        if known is None:
            rows = self._sql.execute("SELECT source FROM sources WHERE dataset_group = ?", (dataset_group,))
            known = self._sources[dataset_group] = {source for (source,) in rows}
        return (
            known | {s for g, s in self._unit_sources if g == dataset_group} if self._unit_sources else known
        )

    def add_sources(self, dataset_group: str, sources: Iterable[str], now: float) -> None:
        added = [(dataset_group, s, now) for s in sources]
        if added:
            self._sql.executemany("INSERT OR IGNORE INTO sources VALUES (?, ?, ?)", added)
            self._sql.execute(_CHANGED, ("sources",))
            self._unit_sources += [(dataset_group, s) for _, s, _ in added]

    def load_items(self, dataset_group: str, item_ids: Iterable[str]) -> None:
        """Read the named items into memory in one statement, for ``item`` to find."""
        missing = [i for i in item_ids if (dataset_group, i) not in self._items]
        if len(self._items) + len(missing) > _ITEMS_REMEMBERED:
            self._items.clear()
        found = _items_in(lambda sql, args: self._sql.execute(sql, args).fetchall(), dataset_group, missing)
        for item_id in missing:
            self._items[(dataset_group, item_id)] = found.get(item_id)

    def item(self, dataset_group: str, item_id: str) -> dict[str, Any] | None:
        """An item's columns as they are now (this commit's upserts included), read once per commit."""
        key = (dataset_group, item_id)
        if key in self._items:
            return self._items[key]
        if len(self._items) >= _ITEMS_REMEMBERED:
            self._items.clear()
        row = self._sql.execute(
            "SELECT properties FROM items WHERE dataset_group = ? AND item_id = ?", key
        ).fetchone()
        found = self._items[key] = json.loads(row[0]) if row else None
        return found

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
        if table == "items":
            self._items.clear()
            self._sql.execute(_CHANGED, ("items",))
        self._sql.executemany(
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
        if table == "items":
            self._items.clear()
            self._sql.execute(_CHANGED, ("items",))
        self._sql.execute(
            f"DELETE FROM {table} WHERE dataset_group = ? AND origin = 'bulk'", (dataset_group,)
        )

    def add_to_series(self, key: SeriesKey, value: float) -> None:
        """O(1) per event: the window's running total, summed in memory and written once per commit."""
        series = self._unit_series if self._in_unit else self._series  # an append callback runs at the commit
        series[key] = series.get(key, 0.0) + value

    def add_exposure(
        self,
        dataset_group: str,
        key: bytes,
        source: str,
        user_id: str | None,
        shown_at: float,
        items: int,
        received_at: float | None = None,
    ) -> bool:
        """Record that ``source`` showed ``items`` items (learnt of at ``received_at``, by default when they were
        shown: a recommendation recimpact served); False if this exposure was recorded before."""
        cursor = self._sql.execute(
            "INSERT OR IGNORE INTO exposures (group_id, exposure_key, source, user_id, shown_at, items, received_at)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                self.group_id(dataset_group),
                key,
                source,
                user_id,
                shown_at,
                items,
                shown_at if received_at is None else received_at,
            ),
        )
        return cursor.rowcount == 1

    def add_backfill(self, key: SeriesKey, value: float, publish: bool) -> None:
        """A backfilled contribution, written at once; with ``publish`` False it is marked as already published,
        so the CloudWatch publisher leaves it out."""
        self._sql.execute(
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

    def coverage(self, series_id: str, metric_name: str) -> tuple[float, float] | None:
        return _coverage(self._sql.execute(_COVERAGE, (series_id, metric_name)).fetchall())

    def set_coverage(self, series_id: str, metric_name: str, since: float, received_before: float) -> None:
        self._sql.execute(
            "INSERT OR REPLACE INTO backfills VALUES (?, ?, ?, ?)",
            (series_id, metric_name, since, received_before),
        )

    def mark_published(self, points: Sequence[tuple[SeriesKey, float]]) -> None:
        self._sql.executemany(
            "UPDATE series SET published = ? WHERE series_id = ? AND metric_name = ? AND event_type = ?"
            " AND function = ? AND source = ? AND window_start = ?",
            [
                (v, k.series_id, k.metric_name, k.event_type, k.function, k.source, k.window_start)
                for k, v in points
            ],
        )


_STOP = object()

Unit = tuple[Callable[[IngestTx], Any], Any]  # the work, and the future that waits for it
Outcome = tuple[Any, Any, BaseException | None]  # the future, the work's result, or its error


class _Writer:
    """A connection that commits units of work, and what it keeps in memory between its commits (``IngestTx``).
    The caller holds the write turn."""

    def __init__(self, conn: sqlite3.Connection, turn: WriteTurn) -> None:
        self.conn = conn
        self.turn = turn
        self.tx = IngestTx(conn)
        self._data_version = -1

    def commit(self, units: Sequence[Unit]) -> list[Outcome]:
        """One transaction for all ``units``, each kept or undone on its own."""
        conn, tx = self.conn, self.tx
        try:
            conn.execute("BEGIN IMMEDIATE")
            (data_version,) = conn.execute("PRAGMA data_version").fetchone()
            if data_version != self._data_version:  # another writer committed: memory may be stale
                tx.catch_up()
                self._data_version = data_version
            outcomes = _run_units(tx, units)
            tx.flush()
            conn.execute("COMMIT")
        except Exception as exc:  # the commit itself failed (disk full, I/O error): nothing was stored
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            tx.forget()
            outcomes = [(future, None, exc) for _, future in units]
        return outcomes

    def close(self) -> None:
        self.conn.close()
        self.turn.close()


def _run_units(tx: IngestTx, units: Sequence[Unit]) -> list[Outcome]:
    """Each unit kept or undone on its own (``IngestTx``), so one rejected request never touches another."""
    outcomes: list[Outcome] = []
    for work, future in units:
        tx.begin_unit()
        try:
            result = work(tx)
        except Exception as exc:  # the unit's own failure (a rejected request): undo it alone
            tx.end_unit(succeeded=False)
            outcomes.append((future, None, exc))
        else:
            tx.end_unit(succeeded=True)
            outcomes.append((future, result, None))
    return outcomes


def _settle(outcomes: Iterable[Outcome]) -> None:
    """Resolve the futures of committed (or failed) units: concurrent ones, or asyncio ones on their loop's
    thread."""
    for future, result, error in outcomes:
        if future.done():  # a request cancelled (client gone): its unit committed all the same
            continue
        if error is None:
            future.set_result(result)
        else:
            future.set_exception(error)


class _LoopCommitter:
    """Group commit on an event loop, for the requests that loop serves.

    Why not the writer thread: a thread committing for the loop's requests competes with the loop for the GIL.
    Every SQLite call lets the GIL go and then waits to get it back from a busy loop, all while holding the write
    turn that the other processes of the server wait for: measured on two cores, the turn was held twice as long
    as its work took. Here the loop commits itself, between requests: it holds the turn only as long as the work
    takes (a few milliseconds for a few hundred events), and with ``--workers`` the other processes serve their
    requests meanwhile. Requests that arrive while a turn is awaited join it.

    The commit's fsync comes after the turn, not inside it: SQLite writes the commit to the WAL
    (``synchronous=NORMAL``: no sync of its own), the turn goes to the next writer, and only then does this loop
    ``fdatasync`` the WAL, before it answers anyone. So the next process writes while this one waits for the disk
    (half of a commit's time), and a 200 still means on disk: the sync covers every frame written before it,
    this commit's and all earlier ones; a checkpoint syncs the WAL before copying it, and the WAL starts over only
    once everything in it is in the synced database file. What another writer or reader sees of a commit before
    its sync is never acknowledged until a sync covers it (that writer's own sync does)."""

    def __init__(self, store: EventStore, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        conn = store._connect_writer()
        conn.execute("PRAGMA synchronous=NORMAL")  # the sync is ours: ``_durable``
        # The WAL file outlives this fd: SQLite deletes it only when the last connection closes, and the store's
        # own (which created it) stay open as long as this committer.
        self._wal = os.open(store._path + "-wal", os.O_RDWR)
        self._writer = _Writer(conn, WriteTurn(store._path))
        self._pending: list[Unit] = []
        self._scheduled = False  # a turn is about to be tried, or awaited
        self._listening: int | None = None  # the doorbell this loop watches while it waits
        self._retry: asyncio.TimerHandle | None = None

    def add(self, work: Callable[[IngestTx], Any], future: asyncio.Future[Any]) -> None:
        self._pending.append((work, future))
        if not self._scheduled:
            self._scheduled = True
            # Soon, not now: the requests this loop has already read join the unit in the same commit.
            self._loop.call_soon(self._take_turn)

    def _take_turn(self) -> None:
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if not self._pending:
            self._scheduled = False
            return
        turn = self._writer.turn
        if not turn.try_acquire():
            if self._listening is None and turn.doorbell is not None:
                self._loop.add_reader(turn.doorbell, self._rung)
                self._listening = turn.doorbell
            self._retry = self._loop.call_later(_TURN_RETRY, self._take_turn)
            return
        if self._listening is not None:
            self._loop.remove_reader(self._listening)
            self._listening = None
        units = self._pending[:_MAX_UNITS_PER_COMMIT]
        del self._pending[:_MAX_UNITS_PER_COMMIT]
        try:
            outcomes = self._writer.commit(units)
        except BaseException as exc:  # not even a rollback worked: every caller learns it
            outcomes = [(future, None, exc) for _, future in units]
            raise
        finally:
            turn.release()
            _settle(self._durable(outcomes))
            if self._pending:
                self._loop.call_soon(self._take_turn)
            else:
                self._scheduled = False

    def _rung(self) -> None:
        self._writer.turn.answer()
        self._take_turn()

    def _durable(self, outcomes: list[Outcome]) -> list[Outcome]:
        """``outcomes`` once the WAL is on disk; if the sync fails, no unit may say it is stored. (The client
        retries, and retried events count once.)"""
        if all(error is not None for _, _, error in outcomes):
            return outcomes  # nothing was committed: nothing to sync
        try:
            _sync(self._wal)
        except OSError as error:
            log.error(
                "could not sync the event store's WAL; the requests of this commit are refused: %s", error
            )
            return [(future, None, own or error) for future, _, own in outcomes]
        return outcomes

    def close(self) -> None:
        """On the loop's thread (or once the loop has stopped): what is still pending is refused, not lost
        silently."""
        if self._retry is not None:
            self._retry.cancel()
        if self._listening is not None:
            with contextlib.suppress(Exception):  # the loop may be closed already
                self._loop.remove_reader(self._listening)
        pending, self._pending = self._pending, []
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            _settle((future, None, RuntimeError("the event store is closed")) for _, future in pending)
        self._writer.close()
        os.close(self._wal)


def _event_value_sql(aggregate: MetricExpression) -> tuple[str, list[Any]]:
    """What one event adds to a SAMPLECOUNT() or SUM(...) aggregate, as SQL over events ``e`` and items ``i``."""
    if aggregate.function == "samplecount":
        return "1.0", []
    if aggregate.dataset == "INTERACTIONS" and aggregate.column == "EVENT_VALUE":
        return "e.event_value", []
    table = "i" if aggregate.dataset == "ITEMS" else "e"
    return f"json_extract({table}.properties, ?)", [f"$.{aggregate.column}"]


def _migrate(conn: sqlite3.Connection) -> None:
    """What changed since a data directory was created: columns added (SQLite adds a column without rewriting the
    table), and content keys computed by an earlier definition (``PRAGMA user_version`` says which)."""
    have = {row[1] for row in conn.execute("PRAGMA table_info(recommendations)")}
    for column in ("dataset_group", "user_id", "items"):
        if column not in have:
            conn.execute(f"ALTER TABLE recommendations ADD COLUMN {column} TEXT")
    if "received_at" not in {row[1] for row in conn.execute("PRAGMA table_info(exposures)")}:
        conn.execute("ALTER TABLE exposures ADD COLUMN received_at REAL")
        conn.execute("UPDATE exposures SET received_at = shown_at")
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    if version < _CONTENT_KEY_VERSION:
        conn.execute("BEGIN IMMEDIATE")
        _rekey(conn)
        conn.execute(f"PRAGMA user_version = {_CONTENT_KEY_VERSION}")
        conn.execute("COMMIT")


# 1: the key of the Interactions record (no sessionId for a known user), so imported rows and events match.
_CONTENT_KEY_VERSION = 1


def _rekey(conn: sqlite3.Connection) -> None:
    """Every stored event's content key by today's definition (``Interaction``), so that an event stored before an
    upgrade still dedupes what arrives after it. Where two stored events are one by today's rule, the later keeps
    its old key (both were counted when they arrived; neither is counted again)."""
    last = 0
    while True:
        rows = conn.execute(
            "SELECT seq, event_type, sent_at, session_id, user_id, event_value, item_id, recommendation_id,"
            " attribution_source, impression, properties FROM events WHERE seq > ? ORDER BY seq LIMIT 10000",
            (last,),
        ).fetchall()
        if not rows:
            return
        keys = []
        for seq, event_type, sent_at, session, user, value, item, rid, source, impression, props in rows:
            event = Interaction(
                event_type=event_type,
                sent_at=sent_at,
                session_id=session,
                user_id=user,
                event_value=value,
                item_id=item,
                recommendation_id=rid,
                attribution_source=source,
                impression=tuple(json.loads(impression)) if impression else (),
                properties=json.loads(props) if props else {},
            )
            keys.append((event.content_key, seq))
        conn.executemany("UPDATE OR IGNORE events SET content_key = ? WHERE seq = ?", keys)
        last = rows[-1][0]


class EventStore:
    """``<data dir>/events.sqlite3``. Writes go through ``submit`` (a writer thread) or ``submit_async`` (a group
    commit on the caller's event loop), each on a connection of its own; reads use another, which WAL lets run
    beside the writers.

    The processes of one server (``--workers``) each have a store on the same file. All writers take turns
    (``WriteTurn``), and a writer that finds another committed since its own last commit forgets what it keeps in
    memory. Only one process (``checkpoints``) checkpoints the WAL."""

    def __init__(
        self, path: Path | str, checkpoints: bool = True, wal_limit: int = _WAL_REWIND_BYTES
    ) -> None:
        self._path = str(path)
        self._wal_limit = wal_limit
        turn = WriteTurn(self._path)
        conn = self._connect_writer()
        with turn.held():
            conn.executescript(_DDL)
            _migrate(conn)
        self._writer = _Writer(conn, turn)
        (self._page_size,) = conn.execute("PRAGMA page_size").fetchone()
        self._committers: dict[asyncio.AbstractEventLoop, _LoopCommitter] = {}
        self._reader = self._connect()
        self._read_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._closed = False
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="recimpact-event-writer", daemon=True)
        self._checkpointer = threading.Thread(
            target=self._checkpoint, name="recimpact-checkpoint", daemon=True
        )
        self._thread.start()
        if checkpoints:
            self._checkpointer.start()

    @property
    def path(self) -> str:
        return self._path

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=FULL")
        conn.execute(f"PRAGMA journal_size_limit={self._wal_limit}")  # what a rewound WAL is truncated to
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("PRAGMA cache_size=-131072")  # 128 MiB: the dedupe indexes' hot pages stay in memory
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        # Checkpoints run on their own thread (below), never inside a commit the callers are waiting for.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # Each unit runs in a savepoint; its statement journal (what undoes the unit) stays in memory instead of a
        # temporary file, which more than doubles what a writer commits per second.
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def _checkpoint(self) -> None:
        """Copy the WAL back into the database twice a second without blocking the writers (PASSIVE).

        Under steady ingest that alone never lets the WAL start over: SQLite rewinds it only when a writer finds
        every frame copied, and by the time a checkpoint ends new frames have arrived, so the file grows by
        gigabytes an hour. Once the WAL is past ``wal_limit`` bytes, the next checkpoint takes the write turn:
        the background one has copied nearly everything, so this one copies only the pages changed since (a few
        milliseconds), and the next commit starts the WAL over (and truncates it to that size)."""
        conn = self._connect()
        turn = WriteTurn(self._path)
        try:
            while not self._stopped.wait(0.5):
                _, frames, _ = conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                if frames * self._page_size > self._wal_limit:
                    with turn.held():
                        conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
        finally:
            conn.close()
            turn.close()

    def submit(self, work: Callable[[IngestTx], T]) -> concurrent.futures.Future[T]:
        """Run ``work`` in the next group commit; the future resolves once it is durable (or raised)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(RuntimeError("the event store is closed"))
        else:
            self._queue.put((work, future))
        return future

    def submit_async(self, work: Callable[[IngestTx], T]) -> asyncio.Future[T]:
        """``submit`` for a caller on an event loop: committed on that loop (``_LoopCommitter``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(RuntimeError("the event store is closed"))
            return future
        committer = self._committers.get(loop)
        if committer is None:
            committer = self._committers[loop] = _LoopCommitter(self, loop)
        committer.add(work, future)
        return future

    def _run(self) -> None:
        writer = self._writer
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            # The queue is drained once the write turn is ours: what arrived while another writer was committing
            # joins this commit instead of waiting for the next turn.
            with writer.turn.held():
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
                outcomes = writer.commit(units)
            _settle(outcomes)

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

    def recommendation_source(self, recommendation_id: str) -> str | None:
        """The recommender or campaign that issued ``recommendation_id`` (committed: it is durable before the
        recommendation is answered)."""
        return self.recommendation_sources([recommendation_id]).get(recommendation_id)

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

    def _stream(self, sql: str, args: Sequence[Any]) -> Iterator[tuple[Any, ...]]:
        """Rows of a long read, fetched in batches on a connection of its own, so that it never holds up the
        other readers."""
        conn = self._connect()
        try:
            rows = conn.execute(sql, args)
            while batch := rows.fetchmany(10_000):
                yield from batch
        finally:
            conn.close()

    def interactions(self, dataset_group: str) -> Iterator[tuple[str, str, str, float]]:
        """(user id, item id, event type, timestamp) of every stored event of a group (model training)."""
        return self._stream(
            "SELECT e.user_id, e.item_id, e.event_type, e.sent_at FROM events e"
            " JOIN dataset_groups g ON g.id = e.group_id"
            # Imported rows (no session) are read from the import jobs' own files, which FULL imports replace.
            " WHERE g.arn = ? AND e.user_id IS NOT NULL AND e.item_id IS NOT NULL AND e.session_id IS NOT NULL",
            (dataset_group,),
        )

    def stored_events(self, dataset_group: str, since: float, until: float) -> Iterator[tuple[Any, ...]]:
        """(event type, sent at, received at, user, item, event value, properties JSON, source) of a group's
        events with event times in [since, until) (backfills)."""
        return self._stream(
            "SELECT e.event_type, e.sent_at, e.received_at, e.user_id, e.item_id, e.event_value, e.properties,"
            " e.source FROM events e JOIN dataset_groups g ON g.id = e.group_id"
            " WHERE g.arn = ? AND e.sent_at >= ? AND e.sent_at < ?",
            (dataset_group, since, until),
        )

    def stored_exposures(self, dataset_group: str, since: float) -> Iterator[tuple[Any, ...]]:
        """(source, shown at, received at, items shown) of a group's exposures shown from ``since`` on
        (backfills)."""
        return self._stream(
            "SELECT x.source, x.shown_at, x.received_at, x.items FROM exposures x"
            " JOIN dataset_groups g ON g.id = x.group_id WHERE g.arn = ? AND x.shown_at >= ?",
            (dataset_group, since),
        )

    def coverage(self, series_id: str, metric_name: str) -> tuple[float, float] | None:
        """What a metric's backfills have counted (``IngestTx.coverage``, from a reader)."""
        return _coverage(self.read(_COVERAGE, (series_id, metric_name)))

    def items_by_id(self, dataset_group: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored columns of the named items (those the group has)."""
        return _items_in(self.read, dataset_group, item_ids)

    def exposed_users(
        self, dataset_group: str, sources: Sequence[str], since: float, until: float
    ) -> set[tuple[str, str]]:
        """(source, user) of every user with an event attributed to, or an exposure from, one of ``sources`` in
        [since, until): the units source comparisons count."""
        marks = ", ".join("?" * len(sources))
        rows = self.read(
            "SELECT DISTINCT e.source, e.user_id FROM events e JOIN dataset_groups g ON g.id = e.group_id"
            f" WHERE g.arn = ? AND e.source IN ({marks}) AND e.user_id IS NOT NULL AND e.sent_at >= ?"
            " AND e.sent_at < ?"
            " UNION SELECT x.source, x.user_id FROM exposures x JOIN dataset_groups g ON g.id = x.group_id"
            f" WHERE g.arn = ? AND x.source IN ({marks}) AND x.user_id IS NOT NULL AND x.shown_at >= ?"
            " AND x.shown_at < ?",
            [dataset_group, *sources, since, until, dataset_group, *sources, since, until],
        )
        return {(source, user) for source, user in rows}

    def per_user_totals(
        self,
        dataset_group: str,
        sources: Sequence[str],
        since: float,
        until: float,
        event_type: str,
        aggregate: MetricExpression,
    ) -> dict[tuple[str, str], float]:
        """(source, user) → the user's total of one aggregate in [since, until): the items shown to them
        (IMPRESSIONCOUNT()), or what their events of ``event_type`` (upper-case) add to SAMPLECOUNT() / SUM()
        (items' current values for SUM(ITEMS.col))."""
        marks = ", ".join("?" * len(sources))
        if aggregate.function == "impressioncount":
            sql = (
                "SELECT x.source, x.user_id, SUM(x.items) FROM exposures x JOIN dataset_groups g ON g.id = x.group_id"
                f" WHERE g.arn = ? AND x.source IN ({marks}) AND x.user_id IS NOT NULL AND x.shown_at >= ?"
                " AND x.shown_at < ? GROUP BY x.source, x.user_id"
            )
            args: list[Any] = [dataset_group, *sources, since, until]
        else:
            value, value_args = _event_value_sql(aggregate)
            join = (
                "LEFT JOIN items i ON i.dataset_group = g.arn AND i.item_id = e.item_id"
                if aggregate.dataset == "ITEMS"
                else ""
            )
            sql = (
                f"SELECT e.source, e.user_id, SUM({value}) FROM events e JOIN dataset_groups g ON g.id = e.group_id"
                f" {join} WHERE g.arn = ? AND e.source IN ({marks}) AND e.user_id IS NOT NULL AND e.sent_at >= ?"
                " AND e.sent_at < ? AND upper(e.event_type) = ? GROUP BY e.source, e.user_id"
            )
            args = [*value_args, dataset_group, *sources, since, until, event_type]
        return {(source, user): float(total or 0.0) for source, user, total in self.read(sql, args)}

    def sources_of(self, dataset_group: str) -> set[str]:
        return {
            s for (s,) in self.read("SELECT source FROM sources WHERE dataset_group = ?", (dataset_group,))
        }

    def unpublished(self, limit: int, until: float, beyond: float) -> list[SeriesPoint]:
        """Series windows whose value changed since they were last published, starting up to ``until`` or after
        ``beyond`` (a window in between is left until its time comes)."""
        rows = self.read(
            "SELECT series_id, metric_name, event_type, function, source, window_start, value, published"
            " FROM series WHERE value != published AND (window_start <= ? OR window_start > ?) LIMIT ?",
            (until, beyond, limit),
        )
        return [SeriesPoint(SeriesKey(i, m, e, f, s, w), v, p) for i, m, e, f, s, w, v, p in rows]

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._thread.join()
        self._stopped.set()
        if self._checkpointer.ident is not None:
            self._checkpointer.join()
        for loop, committer in list(self._committers.items()):
            _close_on(loop, committer.close)
        self._committers.clear()
        self._writer.close()
        with self._read_lock:
            self._reader.close()


def _close_on(loop: asyncio.AbstractEventLoop, close: Callable[[], None]) -> None:
    """Run ``close`` on ``loop``'s thread if that loop is running elsewhere (and wait for it), else here."""
    try:
        running_here = asyncio.get_running_loop() is loop
    except RuntimeError:
        running_here = False
    if running_here or not loop.is_running():
        close()
        return
    done = concurrent.futures.Future[None]()

    def on_loop() -> None:
        try:
            close()
        finally:
            done.set_result(None)

    try:
        loop.call_soon_threadsafe(on_loop)
        done.result(timeout=10)
    except (RuntimeError, concurrent.futures.TimeoutError):  # the loop stopped meanwhile
        close()
