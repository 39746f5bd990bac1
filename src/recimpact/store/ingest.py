"""The event store's write transaction on SQLite (``SqliteIngestTx``, its ``IngestTx``): what units of work write
(events, items, users, sources, recommendations, exposures, series contributions, backfill coverage, publish marks),
and how an event is encoded for the events table (``event_row``) and appended.

One lives as long as its writer; the commit machinery (``store/commit.py``) calls its unit and commit boundaries.
"""

from __future__ import annotations

import collections
import json
import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from recimpact.domain.events import Interaction
from recimpact.store.commit import insert_rows
from recimpact.store.interfaces import AppendCallback, EventRow
from recimpact.store.schema import Read
from recimpact.store.series import (
    SeriesKey,
    read_coverage,
    write_backfill,
    write_contributions,
    write_coverage,
    write_published,
)

_ITEMS_REMEMBERED = 50_000  # the writer's item cache: some 25 MB at most
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


def read_items(read: Read, dataset_group: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
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


@dataclass(frozen=True)
class _Append:
    group: str
    rows: Sequence[EventRow]
    then: AppendCallback
    items: tuple[str, ...]


class SqliteIngestTx:
    """What a unit of work may do inside a writer's transaction (SQLite's ``IngestTx``).

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

    # -- unit and commit boundaries (called by the commit machinery: ``store/commit.py``'s ``Transaction``) --

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
            write_contributions(self._conn, self._series)
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
        found = read_items(lambda sql, args: self._sql.execute(sql, args).fetchall(), dataset_group, missing)
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
        write_backfill(self._sql, key, value, publish)

    def coverage(self, series_id: str, metric_name: str) -> tuple[float, float] | None:
        return read_coverage(
            lambda sql, args: self._sql.execute(sql, args).fetchall(), series_id, metric_name
        )

    def set_coverage(self, series_id: str, metric_name: str, since: float, received_before: float) -> None:
        write_coverage(self._sql, series_id, metric_name, since, received_before)

    def mark_published(self, points: Sequence[tuple[SeriesKey, float]]) -> None:
        write_published(self._sql, points)
