"""The event store's tables and migrations (``store/schema.py``)."""

from __future__ import annotations

from pathlib import Path

from recimpact.domain.events import Interaction
from recimpact.store.events import SqliteEventStore
from recimpact.store.ingest import event_row
from tests.unit.test_event_store import GROUP, append


def test_a_store_from_before_the_record_key_is_rekeyed_once(tmp_path: Path) -> None:
    """Content keys stored by an earlier definition (the session in every key) are recomputed when the store
    opens, so that what was stored before an upgrade still dedupes what arrives after it, by either path."""
    path = tmp_path / "events.sqlite3"
    store = SqliteEventStore(path)
    same_user = [
        Interaction(event_type="View", sent_at=1_700_000_000.0, session_id=s, user_id="u") for s in "ab"
    ]
    # As an earlier version stored them: two events, the session making their keys differ.
    old_rows = [event_row(e, "src", 1_700_000_100.0) for e in same_user]
    append(store, [(r[0], bytearray(n.to_bytes(16, "big")), *r[2:]) for n, r in enumerate(old_rows)]).result()
    store.submit(lambda tx: tx._conn.execute("PRAGMA user_version = 0")).result()
    store.close()

    reopened = SqliteEventStore(path)
    try:
        # The first is rekeyed; the second, one event with it by today's rule, keeps its old key (both had
        # been counted when they arrived).
        keys = reopened.read("SELECT content_key FROM events ORDER BY seq")
        assert keys[0][0] == same_user[0].content_key
        assert keys[1][0] != same_user[0].content_key
        assert reopened.read("PRAGMA user_version") == [(1,)]
        imported = Interaction(event_type="View", sent_at=1_700_000_000.0, user_id="u")  # no session
        seen: list[list[bool]] = []
        reopened.submit(
            lambda tx: seen.append(tx.append_events_now(GROUP, [event_row(imported, "src", 1_700_000_200.0)]))
        ).result()
        assert seen == [[False]]
    finally:
        reopened.close()
