"""The per-user reads comparisons count, built from the counting rule's SQL: event types matched as Python
upper-cases them (SQLite's own UPPER maps ASCII only), values from the event's member or its properties, items'
columns from their stored properties."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from recimpact.domain.events import Interaction
from recimpact.domain.expressions import parse_expression
from recimpact.store.events import SqliteEventStore
from recimpact.store.ingest import event_row
from recimpact.store.interfaces import IngestTx

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"
T0 = 1_700_000_000.0


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    opened = SqliteEventStore(tmp_path / "events.sqlite3")
    events = [
        Interaction("Café", T0 + 1, "s", "u1", item_id="i1", attribution_source="a", event_value=2.0),
        Interaction("CAFÉ", T0 + 2, "s", "u1", item_id="i2", attribution_source="a", properties={"TIP": 0.5}),
        Interaction("straße", T0 + 3, "s", "u2", item_id="i1", attribution_source="b"),
        Interaction("View", T0 + 4, "s", "u2", item_id="i9", attribution_source="b", event_value=7.0),
    ]

    def work(tx: IngestTx) -> None:
        tx.upsert_records("items", GROUP, [("i1", {"MARGIN": 3.0}), ("i2", {"MARGIN": 4.5})], T0, "bulk")
        tx.append_events_now(GROUP, [event_row(e, e.attribution_source or "", T0 + 10) for e in events])

    opened.submit(work).result()
    yield opened
    opened.close()


def totals(store: SqliteEventStore, event_type: str, expression: str) -> dict[tuple[str, str], float]:
    return store.per_user_totals(GROUP, ["a", "b"], T0, T0 + 900, event_type, parse_expression(expression))


def test_event_types_match_as_python_upper_cases_them(store: SqliteEventStore) -> None:
    assert totals(store, "CAFÉ", "SAMPLECOUNT()") == {("a", "u1"): 2.0}
    assert totals(store, "STRASSE", "SAMPLECOUNT()") == {("b", "u2"): 1.0}


def test_values_from_the_member_the_properties_and_the_item(store: SqliteEventStore) -> None:
    assert totals(store, "CAFÉ", "SUM(INTERACTIONS.EVENT_VALUE)") == {("a", "u1"): 2.0}
    assert totals(store, "CAFÉ", "SUM(INTERACTIONS.TIP)") == {("a", "u1"): 0.5}
    assert totals(store, "CAFÉ", "SUM(ITEMS.MARGIN)") == {("a", "u1"): 7.5}
    assert totals(store, "VIEW", "SUM(ITEMS.MARGIN)") == {
        ("b", "u2"): 0.0
    }  # an item the group lacks adds nothing
