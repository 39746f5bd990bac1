"""Group commit on SQLite: units of work from many callers committed together, on a writer thread or on the event
loop that serves the callers; the WAL synced before anyone is answered, and checkpointed beside the writers.

Nothing here knows what a unit writes: a unit is a function of a transaction object (``Transaction``; the event
store's is ``SqliteIngestTx``), one per writer (given to it, or made for it by a factory), which may keep in memory
what it read in earlier commits.

A unit's future resolves only once the transaction holding it is committed and the WAL synced (``LoopCommitter``
says when); every unit that queued up while the previous commit held the write turn goes into one transaction, each
kept or undone on its own (``Transaction``'s unit boundaries). Why group commit, and why SQLite: ``store/events.py``.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import logging
import os
import queue
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from recimpact.store.turns import WriteTurn

log = logging.getLogger("recimpact.store")
_sync = getattr(os, "fdatasync", os.fsync)  # macOS has no fdatasync

_MAX_UNITS_PER_COMMIT = 512
_TURN_RETRY = 0.002  # seconds: how often a loop waiting for the write turn retries if no doorbell rings


class Transaction(Protocol):
    """What the commit machinery asks of the object units of work run against: where units and commits begin and
    end. It lives as long as its writer and may keep in memory what it read in earlier commits."""

    def begin_unit(self) -> None: ...

    def end_unit(self, succeeded: bool) -> None:
        """Keep or undo what the unit did."""
        ...

    def flush(self) -> None:
        """Write what the commit's units left in memory (inside the transaction, before COMMIT)."""
        ...

    def forget(self) -> None:
        """After a failed commit: nothing in memory may claim what the database does not hold."""
        ...

    def catch_up(self) -> None:
        """At the start of a commit, when another writer has committed since this one last did."""
        ...


TxT = TypeVar("TxT", bound=Transaction)

Unit = tuple[Callable[[TxT], Any], Any]  # the work, and the future that waits for it
Outcome = tuple[Any, Any, BaseException | None]  # the future, the work's result, or its error


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

_STOP = object()


class Writer(Generic[TxT]):
    """A connection that commits units of work, and what it keeps in memory between its commits (``tx``). The
    caller holds the write turn."""

    def __init__(self, conn: sqlite3.Connection, turn: WriteTurn, tx: TxT) -> None:
        self.conn = conn
        self.turn = turn
        self.tx = tx
        self._data_version = -1

    def commit(self, units: Sequence[Unit[TxT]]) -> list[Outcome]:
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


def _run_units(tx: TxT, units: Sequence[Unit[TxT]]) -> list[Outcome]:
    """Each unit kept or undone on its own (``Transaction``), so one rejected request never touches another."""
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


class ThreadCommitter(Generic[TxT]):
    """Group commit on a thread of its own, for callers that are not on an event loop (import jobs, backfills, the
    CloudWatch publisher): they wait on a ``concurrent.futures.Future``. Its writer keeps SQLite's own sync
    (``synchronous=FULL``)."""

    def __init__(self, writer: Writer[TxT], name: str) -> None:
        self.writer = writer
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def add(self, work: Callable[[TxT], Any], future: concurrent.futures.Future[Any]) -> None:
        self._queue.put((work, future))

    def stop(self) -> None:
        """Commit what was added before, then end the thread (the writer stays open)."""
        self._queue.put(_STOP)
        self._thread.join()

    def _run(self) -> None:
        writer = self.writer
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


class LoopCommitter(Generic[TxT]):
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

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        path: str,
        connect: Callable[[], sqlite3.Connection],
        make_tx: Callable[[sqlite3.Connection], TxT],
    ) -> None:
        self._loop = loop
        conn = connect()
        conn.execute("PRAGMA synchronous=NORMAL")  # the sync is ours: ``_durable``
        # The WAL file outlives this fd: SQLite deletes it only when the last connection closes, and the store's
        # own (which created it) stay open as long as this committer.
        self._wal = os.open(path + "-wal", os.O_RDWR)
        self._writer = Writer(conn, WriteTurn(path), make_tx(conn))
        self._pending: list[Unit[TxT]] = []
        self._scheduled = False  # a turn is about to be tried, or awaited
        self._listening: int | None = None  # the doorbell this loop watches while it waits
        self._retry: asyncio.TimerHandle | None = None

    def add(self, work: Callable[[TxT], Any], future: asyncio.Future[Any]) -> None:
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


def close_on(loop: asyncio.AbstractEventLoop, close: Callable[[], None]) -> None:
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


class Checkpointer:
    """Copy the WAL back into the database twice a second without blocking the writers (PASSIVE).

    Under steady ingest that alone never lets the WAL start over: SQLite rewinds it only when a writer finds
    every frame copied, and by the time a checkpoint ends new frames have arrived, so the file grows by
    gigabytes an hour. Once the WAL is past ``wal_limit`` bytes, the next checkpoint takes the write turn:
    the background one has copied nearly everything, so this one copies only the pages changed since (a few
    milliseconds), and the next commit starts the WAL over (and truncates it to that size)."""

    def __init__(
        self, path: str, connect: Callable[[], sqlite3.Connection], page_size: int, wal_limit: int, name: str
    ) -> None:
        self._path = path
        self._connect = connect
        self._page_size = page_size
        self._wal_limit = wal_limit
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped.set()
        if self._thread.ident is not None:
            self._thread.join()

    def _run(self) -> None:
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
