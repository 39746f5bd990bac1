"""The event store's writer: events appended with the commit (duplicates found whichever way they come), units
kept or undone on their own, and two stores on one file (two processes of a --workers server) taking turns and
seeing each other's commits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from recimpact.domain.events import Interaction
from recimpact.store.events import SqliteEventStore
from recimpact.store.ingest import event_row
from recimpact.store.interfaces import IngestTx
from recimpact.store.series import SeriesKey

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"


def interaction(n: int, event_id: str | None = None) -> Interaction:
    return Interaction(
        event_type="View",
        sent_at=1_700_000_000.0 + n,
        session_id="s",
        user_id="u",
        event_id=event_id if event_id is not None else f"e{n}",
        item_id=f"i{n}",
    )


def rows(*ns: int) -> list[Any]:
    return [event_row(interaction(n), "src", 1_700_000_100.0) for n in ns]


def key(source: str = "src") -> SeriesKey:
    return SeriesKey("series", "VIEWS", "VIEW", "samplecount", source, 1_700_000_000)


def appending(unit_rows: list[Any], seen: list[list[bool]] | None = None) -> Any:
    """A unit that appends ``unit_rows``, counts each new one in the series, and returns how many it was given."""

    def work(tx: IngestTx) -> int:
        def then(tx: IngestTx, new: list[bool]) -> None:
            if seen is not None:
                seen.append(new)
            for is_new in new:
                if is_new:
                    tx.add_to_series(key(), 1.0)

        tx.append_events(GROUP, unit_rows, then)
        return len(unit_rows)

    return work


def append(store: SqliteEventStore, unit_rows: list[Any], seen: list[list[bool]] | None = None) -> Any:
    return store.submit(appending(unit_rows, seen))


def counted(store: SqliteEventStore) -> float:
    return sum(p.value for p in store.series("series"))


def stored(store: SqliteEventStore) -> int:
    return int(store.read("SELECT COUNT(*) FROM events")[0][0])


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    opened = SqliteEventStore(tmp_path / "events.sqlite3")
    yield opened
    opened.close()


def test_new_events_and_duplicates_by_id_or_content(store: SqliteEventStore) -> None:
    first: list[list[bool]] = []
    append(store, rows(1, 2, 3), first).result()
    assert first == [[True, True, True]]
    again: list[list[bool]] = []
    retried_id = [event_row(interaction(9, event_id="e2"), "src", 1.0)]  # same eventId, other content
    same_content = [event_row(interaction(3, event_id="other"), "src", 1_700_000_100.0)]  # other eventId
    append(store, [*rows(4), *retried_id, *same_content, *rows(4)], again).result()
    assert again == [[True, False, False, False]]  # the second copy of 4, in the same call, too
    assert stored(store) == 4
    assert counted(store) == 4.0


def test_absent_members_are_stored_as_null_and_such_events_still_deduplicate(store: SqliteEventStore) -> None:
    """``event_row`` binds '' for None (the faster type for sqlite3); the table must still hold NULL, and events
    without an eventId must still be told apart from their duplicates by content."""
    bare = Interaction(event_type="View", sent_at=1_700_000_000.0)
    full = Interaction(
        event_type="View",
        sent_at=1_700_000_001.0,
        event_id="e",
        user_id="u",
        session_id="s",
        item_id="i",
        event_value=0.0,
        recommendation_id="r",
        attribution_source="a",
        impression=("i", "j"),
        properties={"PRICE": 2.5},
    )
    seen: list[list[bool]] = []
    bare_row, full_row = (event_row(e, "src", 1_700_000_100.0) for e in (bare, full))
    append(store, [bare_row, full_row, bare_row], seen).result()
    append(store, [bare_row], seen).result()
    assert seen == [[True, True, False], [False]]
    columns = (
        "event_id, user_id, session_id, item_id, event_value, recommendation_id, attribution_source, impression,"
        " properties, typeof(content_key)"
    )
    assert store.read(f"SELECT {columns} FROM events ORDER BY seq") == [
        (None, None, None, None, None, None, None, None, None, "blob"),
        ("e", "u", "s", "i", 0.0, "r", "a", '["i", "j"]', '{"PRICE":2.5}', "blob"),
    ]


def test_the_same_event_is_new_in_each_group(store: SqliteEventStore) -> None:
    """Duplicates are per dataset group; which rows of a commit were stored is worked out per group too."""
    other = GROUP + "-other"
    seen: dict[str, list[list[bool]]] = {GROUP: [], other: []}

    def work(tx: IngestTx) -> None:
        for group in (GROUP, other):
            tx.append_events(group, [*rows(1, 2), *rows(1)], lambda tx, new, g=group: seen[g].append(new))

    store.submit(work).result()
    assert seen == {GROUP: [[True, True, False]], other: [[True, True, False]]}
    assert stored(store) == 4


def test_duplicates_across_units_of_one_commit(store: SqliteEventStore) -> None:
    """Units queued together commit together; the later copy of an event is the duplicate."""
    seen: list[list[bool]] = []
    futures = [append(store, rows(1, 2), seen), append(store, rows(2, 3), seen), append(store, rows(1), seen)]
    for future in futures:
        future.result()
    assert sorted(map(tuple, seen)) == sorted([(True, True), (False, True), (False,)])
    assert stored(store) == 3
    assert counted(store) == 3.0


def test_a_failing_unit_is_undone_alone(store: SqliteEventStore) -> None:
    def fails(tx: IngestTx) -> None:
        tx.add_sources(GROUP, ["doomed"], 1.0)  # a statement: the unit's savepoint is opened
        tx.append_events(GROUP, rows(7), lambda tx, new: None)
        tx.add_to_series(key("doomed"), 5.0)
        raise ValueError("rejected")

    ok_before = append(store, rows(1))
    failed = store.submit(fails)
    ok_after = append(store, rows(2))
    ok_before.result()
    ok_after.result()
    with pytest.raises(ValueError, match="rejected"):
        failed.result()
    assert stored(store) == 2
    assert counted(store) == 2.0
    assert store.sources_of(GROUP) == set()


def test_two_stores_on_one_file_take_turns_and_see_each_others_sources(tmp_path: Path) -> None:
    path = tmp_path / "events.sqlite3"
    one, two = SqliteEventStore(path), SqliteEventStore(path, checkpoints=False)
    try:
        known: list[set[str]] = []

        def add(source: str) -> Any:
            def work(tx: IngestTx) -> None:
                known.append(set(tx.known_sources(GROUP)))
                tx.add_sources(GROUP, [source], 1.0)

            return work

        one.submit(add("a")).result()
        two.submit(add("b")).result()  # two remembers nothing of a yet: it must read it
        one.submit(add("c")).result()  # one remembers {a}: it must notice b
        assert known == [set(), {"a"}, {"a", "b"}]
        futures = [store.submit(add(f"s{n}")) for n in range(40) for store in (one, two)]
        for future in futures:
            future.result()
        futures = [append(store, rows(n)) for n in range(30) for store in (one, two)]
        for future in futures:
            future.result()
        assert stored(one) == stored(two) == 30  # each event once, whichever store took it first
        assert counted(one) == 30.0
        assert len(one.sources_of(GROUP)) == 43  # a, b, c and s0..s39, each once
    finally:
        one.close()
        two.close()


def test_item_values_are_remembered_across_commits_until_they_change(tmp_path: Path) -> None:
    """The writer keeps items it read from one commit to the next; its own upsert and another store's upsert on
    the same file (another process) both make it read them again, and another store's commit that changed no item
    does not."""
    path = tmp_path / "events.sqlite3"
    one, two = SqliteEventStore(path), SqliteEventStore(path, checkpoints=False)

    def upsert(margin: float) -> Any:
        return lambda tx: tx.upsert_records("items", GROUP, [("i1", {"MARGIN": margin})], 1.0, "live")

    def margin(tx: IngestTx) -> Any:
        found = tx.item(GROUP, "i1")
        return found and found["MARGIN"]

    try:
        one.submit(upsert(1.0)).result()
        assert one.submit(margin).result() == 1.0
        assert one.submit(margin).result() == 1.0  # remembered
        one.submit(upsert(2.0)).result()
        assert one.submit(margin).result() == 2.0  # its own upsert
        two.submit(upsert(3.0)).result()
        assert one.submit(margin).result() == 3.0  # another process's
        statements: list[str] = []
        one._writer.conn.set_trace_callback(statements.append)
        append(two, rows(1)).result()  # another process's commit, items untouched
        two.submit(lambda tx: tx.add_sources(GROUP, ["new"], 1.0)).result()
        assert one.submit(margin).result() == 3.0
        assert not [s for s in statements if "FROM items" in s]
        assert [s for s in statements if "FROM changes" in s]  # it did look
        two.submit(upsert(4.0)).result()
        assert one.submit(margin).result() == 4.0
    finally:
        one.close()
        two.close()


def test_append_events_now_tells_new_rows_from_duplicates(store: SqliteEventStore) -> None:
    append(store, rows(1, 2)).result()
    seen: list[list[bool]] = []
    store.submit(lambda tx: seen.append(tx.append_events_now(GROUP, rows(2, 3, 3, 1, 4)))).result()
    assert seen == [[False, True, False, False, True]]
    assert stored(store) == 4
