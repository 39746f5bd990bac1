"""The per-user reads that source comparisons count (``services/comparison.py``): which users each source reached,
and each user's total of one aggregate, over the stored events and exposures.

What an event adds here (``_event_value_sql``, the event-type match) restates the counting rule that the live
series and the bulk engines apply; keep them in step until this SQL is generated from the same rule.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from recimpact.domain.expressions import MetricExpression
from recimpact.store.schema import Read


def _event_value_sql(aggregate: MetricExpression) -> tuple[str, list[Any]]:
    """What one event adds to a SAMPLECOUNT() or SUM(...) aggregate, as SQL over events ``e`` and items ``i``."""
    if aggregate.function == "samplecount":
        return "1.0", []
    if aggregate.dataset == "INTERACTIONS" and aggregate.column == "EVENT_VALUE":
        return "e.event_value", []
    table = "i" if aggregate.dataset == "ITEMS" else "e"
    return f"json_extract({table}.properties, ?)", [f"$.{aggregate.column}"]


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
    return {(source, user): float(total or 0.0) for source, user, total in read(sql, args)}
