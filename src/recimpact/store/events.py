"""The event store on SQLite: the durable event log, items and users, attribution sources, and the live series.

Durability: a PutEvents call is acknowledged only after the transaction holding its events has been committed and the
WAL synced (``fdatasync``; ``commit.LoopCommitter`` says when), so ``kill -9`` right after a 200, or a power cut, loses
nothing. Throughput comes from group commit: every unit of work that queued up while the previous commit held the
write turn goes into one transaction, each unit inside its own savepoint so one rejected request never touches
another. Requests commit on the event loop that serves them; other callers (import jobs, backfills, the CloudWatch
publisher) through a writer thread. Series aggregates are updated in the same transaction as the events they count,
so the two can never disagree, even after a crash.

Why SQLite rather than DuckDB here: per-request durable commits are SQLite's strength (thousands of fsynced
transactions per second, more with group commit); DuckDB manages a few hundred and serves bulk analytics instead.

This module opens, reads and closes the store; the rest is split by job: the tables and their migrations
(``schema``), group commit, WAL sync and checkpoints (``commit``), the write transaction units run in (``ingest``),
the live series (``series``), the per-user comparison reads (``analytics``), and what another backend implements
(``interfaces``).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from recimpact.domain.expressions import MetricExpression
from recimpact.store import analytics
from recimpact.store.commit import Checkpointer, LoopCommitter, ThreadCommitter, Writer, close_on
from recimpact.store.ingest import SqliteIngestTx, read_items
from recimpact.store.schema import create_or_migrate
from recimpact.store.series import SeriesPoint, read_coverage, read_series, read_unpublished
from recimpact.store.turns import WriteTurn

T = TypeVar("T")

_WAL_REWIND_BYTES = 64 << 20


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


class SqliteEventStore:
    """``<data dir>/events.sqlite3``, SQLite's ``EventStore``. Writes go through ``submit`` (a writer thread) or
    ``submit_async`` (a group commit on the caller's event loop), each on a connection of its own; reads use
    another, which WAL lets run beside the writers.

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
            create_or_migrate(conn)
        self._writer = Writer(conn, turn, SqliteIngestTx(conn))
        (page_size,) = conn.execute("PRAGMA page_size").fetchone()
        self._committers: dict[asyncio.AbstractEventLoop, LoopCommitter[SqliteIngestTx]] = {}
        self._reader = self._connect()
        self._read_lock = threading.Lock()
        self._closed = False
        self._writer_thread = ThreadCommitter(self._writer, "recimpact-event-writer")
        self._checkpointer = Checkpointer(
            self._path, self._connect, page_size, wal_limit, "recimpact-checkpoint"
        )
        self._writer_thread.start()
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
        # SQLite's UPPER maps ASCII letters only; the counting rule matches event types as Python upper-cases
        # them (é → É, ß → SS), so queries built from it (store/analytics.py) see the same.
        conn.create_function("UPPER", 1, _upper, deterministic=True)
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        conn = self._connect()
        # Checkpoints run on their own thread (``Checkpointer``), never inside a commit the callers are waiting for.
        conn.execute("PRAGMA wal_autocheckpoint=0")
        # Each unit runs in a savepoint; its statement journal (what undoes the unit) stays in memory instead of a
        # temporary file, which more than doubles what a writer commits per second.
        conn.execute("PRAGMA temp_store=MEMORY")
        return conn

    def submit(self, work: Callable[[SqliteIngestTx], T]) -> concurrent.futures.Future[T]:
        """Run ``work`` in the next group commit; the future resolves once it is durable (or raised)."""
        future: concurrent.futures.Future[T] = concurrent.futures.Future()
        if self._closed:
            future.set_exception(RuntimeError("the event store is closed"))
        else:
            self._writer_thread.add(work, future)
        return future

    def submit_async(self, work: Callable[[SqliteIngestTx], T]) -> asyncio.Future[T]:
        """``submit`` for a caller on an event loop: committed on that loop (``LoopCommitter``)."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if self._closed:
            future.set_exception(RuntimeError("the event store is closed"))
            return future
        committer = self._committers.get(loop)
        if committer is None:
            committer = self._committers[loop] = LoopCommitter(
                loop, self._path, self._connect_writer, SqliteIngestTx
            )
        committer.add(work, future)
        return future

    def read(self, sql: str, args: Sequence[Any] = ()) -> list[Any]:
        with self._read_lock:
            return self._reader.execute(sql, args).fetchall()

    def series(
        self, series_id: str, start: float | None = None, end: float | None = None
    ) -> list[SeriesPoint]:
        """The live series of one attribution, newest window first, then by metric and source."""
        return read_series(self.read, series_id, start, end)

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
        return read_coverage(self.read, series_id, metric_name)

    def items_by_id(self, dataset_group: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """The stored columns of the named items (those the group has)."""
        return read_items(self.read, dataset_group, item_ids)

    def exposed_users(
        self, dataset_group: str, sources: Sequence[str], since: float, until: float
    ) -> set[tuple[str, str]]:
        """``analytics.exposed_users``: the units source comparisons count."""
        return analytics.exposed_users(self.read, dataset_group, sources, since, until)

    def per_user_totals(
        self,
        dataset_group: str,
        sources: Sequence[str],
        since: float,
        until: float,
        event_type: str,
        aggregate: MetricExpression,
    ) -> dict[tuple[str, str], float]:
        """``analytics.per_user_totals``: (source, user) → the user's total of one aggregate."""
        return analytics.per_user_totals(
            self.read, dataset_group, sources, since, until, event_type, aggregate
        )

    def sources_of(self, dataset_group: str) -> set[str]:
        return {
            s for (s,) in self.read("SELECT source FROM sources WHERE dataset_group = ?", (dataset_group,))
        }

    def unpublished(self, limit: int, until: float, beyond: float) -> list[SeriesPoint]:
        """Series windows whose value changed since they were last published (``read_unpublished``)."""
        return read_unpublished(self.read, limit, until, beyond)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._writer_thread.stop()
        self._checkpointer.stop()
        for loop, committer in list(self._committers.items()):
            close_on(loop, committer.close)
        self._committers.clear()
        self._writer.close()
        with self._read_lock:
            self._reader.close()
