"""The per-user reads that source comparisons count (``analysis/comparison.py``): which users each source reached,
and each user's total of one aggregate, over the stored events and exposures.

What an event adds, and which events a metric's type takes, are the counting rule's SQL (``engine/plan.py``),
rendered over the event store's tables: an Interactions column other than EVENT_VALUE, and an Items column, are
keys of the row's ``properties`` JSON.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recimpact.domain.expressions import MetricExpression
from recimpact.engine.plan import EventFields, aggregate_value, counted_event_type
from recimpact.store.schema import Read


def _json_key(table: str, column: str) -> str:
    # Schema field names are [A-Za-z_][A-Za-z0-9_]* (domain/schema.py): safe inside a JSON path literal.
    return f"json_extract({table}.properties, '$.{column}')"


STORED = EventFields(
    interaction_column=lambda c: "e.event_value" if c == "EVENT_VALUE" else _json_key("e", c),
    item_column=lambda c: _json_key("i", c),
)


def exposed_users(
    read: Read, dataset_group: str, sources: Sequence[str], since: float, until: float
) -> set[tuple[str, str]]:
    """(source, user) of every user with an event attributed to, or an exposure from, one of ``sources`` in
    [since, until): the units source comparisons count."""
    marks = ", ".join("?" * len(sources))
    rows = read(
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
    read: Read,
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
        value = aggregate_value(aggregate, STORED)
        join = (
            "LEFT JOIN items i ON i.dataset_group = g.arn AND i.item_id = e.item_id"
            if aggregate.dataset == "ITEMS"
            else ""
        )
        sql = (
            f"SELECT e.source, e.user_id, SUM({value}) FROM events e JOIN dataset_groups g ON g.id = e.group_id"
            f" {join} WHERE g.arn = ? AND e.source IN ({marks}) AND e.user_id IS NOT NULL AND e.sent_at >= ?"
            f" AND e.sent_at < ? AND {counted_event_type('e.event_type')} = ? GROUP BY e.source, e.user_id"
        )
        args = [dataset_group, *sources, since, until, event_type]
    return {(source, user): float(total or 0.0) for source, user, total in read(sql, args)}
