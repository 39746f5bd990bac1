"""The commit machinery (``store/commit.py``): the group commit on an event loop that waits for the write turn
without blocking, syncs the WAL after letting the turn go and before answering, and refuses what is pending when the
store closes; the checkpointer that keeps the WAL starting over."""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import itertools
import os
import threading
import time
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest

import recimpact.store.commit as commit_module
from recimpact.store.events import SqliteEventStore
from recimpact.store.interfaces import IngestTx
from recimpact.store.turns import WriteTurn
from tests.unit.test_event_store import append, appending, counted, key, rows, stored

T = TypeVar("T")


def run(scenario: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on a thread of its own: the test's thread may have a loop running already (Playwright's
    sync API keeps one in the main thread for the session)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, scenario).result(timeout=120)


def test_a_loop_waiting_for_the_turn_is_woken_by_the_doorbell(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The retry timer is set beyond the test's patience: only the doorbell can wake the loop in time. While it
    waits, the loop keeps serving (its other callbacks run)."""
    monkeypatch.setattr(commit_module, "_TURN_RETRY", 120.0)
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path)
    other = WriteTurn(str(path))
    try:
        other.acquire()

        async def scenario() -> tuple[int, int, float]:
            future = store.submit_async(appending(rows(1, 2)))
            ticks = 0
            while ticks < 20:  # the loop is free while the unit waits for the turn
                await asyncio.sleep(0.005)
                ticks += 1
            assert not future.done()
            released = time.monotonic()
            threading.Thread(target=other.release).start()
            result = await asyncio.wait_for(future, timeout=10)
            return ticks, result, time.monotonic() - released

        ticks, result, waited = run(scenario())
        assert (ticks, result) == (20, 2)
        assert waited < 10
        assert counted(store) == 2.0
    finally:
        other.close()
        store.close()


def test_units_of_one_loop_iteration_share_a_commit_and_each_keeps_its_own_outcome(tmp_path: Path) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite3")
    statements: list[str] = []
    try:

        def failing(tx: IngestTx) -> None:
            tx.add_to_series(key("never"), 1.0)
            raise ValueError("rejected")

        async def scenario() -> list[Any]:
            first = store.submit_async(appending(rows(1, 2)))
            committer = store._committers[asyncio.get_running_loop()]
            committer._writer.conn.set_trace_callback(statements.append)
            futures = [
                first,
                store.submit_async(failing),
                store.submit_async(appending(rows(2, 3))),
            ]
            return await asyncio.gather(*futures, return_exceptions=True)

        outcomes = run(scenario())
        assert outcomes[0] == outcomes[2] == 2
        assert isinstance(outcomes[1], ValueError)
        assert counted(store) == 3.0  # 1, 2, 3: the second 2 was a duplicate
        assert [p.key.source for p in store.series("series")] == ["src"]
        assert statements.count("BEGIN IMMEDIATE") == statements.count("COMMIT") == 1
    finally:
        store.close()


def test_a_loop_syncs_the_wal_after_letting_the_turn_go_and_before_answering(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """SQLite does not sync the loop's commits (synchronous=NORMAL); the loop does, on the WAL file, once another
    writer may have the turn, and before any caller learns its unit is stored."""
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path)
    other = WriteTurn(str(path))
    seen: list[tuple[bool, bool, bool]] = []
    futures: list[asyncio.Future[Any]] = []

    def sync(fd: int) -> None:
        same_file = os.fstat(fd).st_ino == os.stat(f"{path}-wal").st_ino
        turn_free = other.try_acquire()
        if turn_free:
            other.release()
        seen.append((same_file, turn_free, any(f.done() for f in futures)))

    monkeypatch.setattr(commit_module, "_sync", sync)
    try:

        async def scenario() -> list[Any]:
            futures.extend(store.submit_async(appending(rows(n))) for n in (1, 2))
            return await asyncio.gather(*futures)

        assert run(scenario()) == [1, 1]
        assert seen == [(True, True, False)]  # one commit, one sync
        # The writer thread's commits (imports, backfills) still sync themselves: FULL.
        assert store._writer.conn.execute("PRAGMA synchronous").fetchone() == (2,)
    finally:
        other.close()
        store.close()


def test_a_failed_sync_refuses_the_commits_units_and_their_retry_counts_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = SqliteEventStore(tmp_path / "events.sqlite3")
    failures = [OSError(errno.EIO, "Input/output error")]

    def sync(fd: int) -> None:
        if failures:
            raise failures.pop()

    monkeypatch.setattr(commit_module, "_sync", sync)

    def rejected(tx: IngestTx) -> None:
        raise ValueError("rejected")

    try:

        async def scenario() -> list[Any]:
            return await asyncio.gather(
                store.submit_async(appending(rows(1, 2))),
                store.submit_async(rejected),
                return_exceptions=True,
            )

        first = run(scenario())
        assert isinstance(first[0], OSError)
        assert first[0].errno == errno.EIO
        assert isinstance(first[1], ValueError)  # a unit's own error stays its own
        seen: list[list[bool]] = []

        async def retry() -> Any:
            return await asyncio.wait_for(store.submit_async(appending(rows(1, 2), seen)), timeout=10)

        retried = run(retry())
        assert retried == 2
        assert seen == [[False, False]]
        assert counted(store) == 2.0
    finally:
        store.close()


def test_loops_and_the_writer_thread_of_two_stores_on_one_file_count_each_event_once(tmp_path: Path) -> None:
    """Two processes of a --workers server, each with its loop and its writer thread, on the same file."""
    path = tmp_path / "events.sqlite3"
    one, two = SqliteEventStore(path), SqliteEventStore(path, checkpoints=False)
    try:

        def serve(store: SqliteEventStore, first: int) -> None:
            async def calls() -> None:
                await asyncio.gather(
                    *(store.submit_async(appending(rows(n, n + 1))) for n in range(first, first + 200, 2))
                )

            asyncio.run(calls())

        threads = [threading.Thread(target=serve, args=(store, 0)) for store in (one, two)]
        for thread in threads:
            thread.start()
        for n in range(0, 200, 10):
            (one if n % 20 else two).submit(appending(rows(n))).result()
        for thread in threads:
            thread.join(timeout=60)
        assert counted(one) == counted(two) == 200.0
    finally:
        one.close()
        two.close()


def test_closing_the_store_refuses_what_is_still_waiting_for_the_turn(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path)
    other = WriteTurn(str(path))
    try:
        other.acquire()

        async def scenario() -> BaseException | None:
            future = store.submit_async(appending(rows(1)))
            await asyncio.sleep(0.05)
            store.close()
            try:
                await asyncio.wait_for(future, timeout=5)
            except RuntimeError as error:
                return error
            return None

        error = run(scenario())
        assert error is not None
        assert "closed" in str(error)
    finally:
        other.release()
        other.close()
        store.close()


def test_without_fifos_a_waiting_loop_is_woken_by_its_timer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A data directory on a filesystem that has no FIFOs: the store still opens, and a loop that waited for the
    turn takes it once it is free, on its retry timer. The missing doorbell is logged once, not per writer."""

    def no_fifos(path: str, mode: int = 0o666) -> None:
        raise PermissionError(1, "Operation not permitted", path)

    monkeypatch.setattr("os.mkfifo", no_fifos)
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path)
    other = WriteTurn(str(path))
    try:
        assert other.doorbell is None
        other.acquire()

        async def scenario() -> int:
            future = store.submit_async(appending(rows(1, 2, 3)))
            await asyncio.sleep(0.05)
            assert not future.done()
            other.release()
            return int(await asyncio.wait_for(future, timeout=10))

        assert run(scenario()) == 3
        assert counted(store) == 3.0
        assert not (tmp_path / "events.sqlite3.turn").exists()
        warnings = [r for r in caplog.records if "no doorbell" in r.getMessage()]
        assert len(warnings) == 1  # four writers: the store's thread, its checkpointer, the loop's, ``other``
    finally:
        other.close()
        store.close()


def test_the_wal_starts_over_under_steady_ingest(tmp_path: Path) -> None:
    """Commits that never pause would let the WAL grow without end (SQLite rewinds it only when a writer finds it
    all copied back); the checkpointer takes a write turn once it is past the limit, so it keeps starting over."""
    limit = 1 << 20
    store = SqliteEventStore(tmp_path / "events.sqlite3", wal_limit=limit)
    wal = tmp_path / "events.sqlite3-wal"
    stop = threading.Event()
    sent = [0]

    def feed() -> None:  # keeps the writer's queue full: it never waits for work
        pending: list[Any] = []
        while not stop.is_set():
            pending.append(append(store, rows(*range(sent[0], sent[0] + 10))))
            sent[0] += 10
            if len(pending) > 200:
                pending.pop(0).result()
        for future in pending:
            future.result()

    feeder = threading.Thread(target=feed)
    feeder.start()
    try:
        sizes = []
        deadline = time.monotonic() + 5.0
        while time.monotonic() < deadline:
            sizes.append(wal.stat().st_size)
            time.sleep(0.05)
    finally:
        stop.set()
        feeder.join()
    try:
        rewinds = sum(1 for before, after in itertools.pairwise(sizes) if after < before)
        assert stored(store) == sent[0]
        assert rewinds >= 3, sizes
        assert max(sizes) < 64 * limit, f"the WAL grew to {max(sizes):,} bytes"
    finally:
        store.close()
