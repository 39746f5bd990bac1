"""kill -9 in the middle of a PutEvents stream: every acknowledged event survives and counts once, and retrying
every call that was not acknowledged brings the series to exactly the full set of attempted events."""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from contextlib import closing
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from tests.integration.ingest import VIEWS, Tracked, base_time, event, rows
from tests.server import ServerProcess

THREADS = 4
EVENTS_PER_CALL = 10


def make_call(ts: int) -> list[dict[str, Any]]:
    """Ten events with unique ids and unique content (content alone also dedupes)."""
    return [
        event("View", ts + n, event_id=str(uuid.uuid4()), item=str(uuid.uuid4()))
        for n in range(EVENTS_PER_CALL)
    ]


def total(server: ServerProcess, arn: str) -> float:
    return float(sum(row[2] for row in rows(server, arn)))


def test_kill_during_put_events_loses_no_acknowledged_event(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir).start()
    try:
        tracked = Tracked(first, [VIEWS])
        ts = base_time()
        attempted: list[list[dict[str, Any]]] = []
        acknowledged: list[list[dict[str, Any]]] = []
        unacknowledged: list[list[dict[str, Any]]] = []
        errors: list[Exception] = []
        lock = threading.Lock()
        stop = threading.Event()

        def sender() -> None:
            client = first.client("personalize-events", connect_timeout=2, read_timeout=10)
            while not stop.is_set():
                call = make_call(ts)
                with lock:
                    attempted.append(call)
                try:
                    client.put_events(
                        trackingId=tracked.tracking_id, sessionId="s", userId="u", eventList=call
                    )
                except Exception as exc:
                    with lock:
                        unacknowledged.append(call)
                        errors.append(exc)
                    return  # the server is gone
                with lock:
                    acknowledged.append(call)

        threads = [threading.Thread(target=sender) for _ in range(THREADS)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        first.kill()  # mid-stream: the senders are still sending
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in threads)
    finally:
        first.kill()
    assert first.proc is not None
    assert first.proc.returncode == -9
    # The senders stopped because the server went away, not because it answered with an error.
    assert not [e for e in errors if isinstance(e, ClientError)], errors
    assert len(acknowledged) >= 20, "too few calls went through to test anything"
    assert unacknowledged, "the kill should have interrupted the senders"
    assert len(attempted) == len(acknowledged) + len(unacknowledged)

    with ServerProcess(data_dir) as second:
        # (a) Every acknowledged event is there once; an in-flight call may have been committed or not.
        after_restart = total(second, tracked.attribution_arn)
        assert len(acknowledged) * EVENTS_PER_CALL <= after_restart <= len(attempted) * EVENTS_PER_CALL
        assert after_restart % EVENTS_PER_CALL == 0  # a call is stored whole or not at all

        # Retry every call that was not acknowledged, and a few that were: the retries dedupe.
        events = second.client("personalize-events")
        for call in [*unacknowledged, *acknowledged[:5]]:
            events.put_events(trackingId=tracked.tracking_id, sessionId="s", userId="u", eventList=call)
        assert total(second, tracked.attribution_arn) == len(attempted) * EVENTS_PER_CALL
        # Retrying again changes nothing.
        for call in unacknowledged:
            events.put_events(trackingId=tracked.tracking_id, sessionId="s", userId="u", eventList=call)
        assert rows(second, tracked.attribution_arn) == [
            (
                "COUNTVIEWS",
                "VIEW",
                float(len(attempted) * EVENTS_PER_CALL),
                "samplecount",
                "SOURCE_NAME_UNDEFINED",
                ts,
            )
        ]

    # (b) The event log holds each attempted event exactly once.
    expected_ids = sorted(e["eventId"] for call in attempted for e in call)
    with closing(sqlite3.connect(f"file:{data_dir / 'events.sqlite3'}?mode=ro", uri=True)) as conn:
        stored = [
            event_id
            for (event_id,) in conn.execute(
                "SELECT event_id FROM events JOIN dataset_groups g ON g.id = events.group_id"
                " WHERE g.arn = ? ORDER BY event_id",
                (tracked.group.arn,),
            )
        ]
        duplicates = conn.execute(
            "SELECT COUNT(*) FROM (SELECT group_id, content_key FROM events"
            " GROUP BY group_id, content_key HAVING COUNT(*) > 1)"
        ).fetchone()[0]
    assert stored == expected_ids
    assert duplicates == 0
