"""The attribution of bulk interactions, as one engine-neutral query.

Engines bind four relations and run the SQL this module renders for their dialect:

- ``interactions``: the job's validated rows (schema columns, upper-case names);
- ``items``: ITEM_ID and the numeric item columns the metrics read, as stored when the job runs;
- ``recommendations``: RECOMMENDATION_ID → SOURCE, the recommender or campaign that issued it;
- ``metrics``: IDX (the metric's position) and ET (its upper-cased event type).

Metric names and event types never appear as SQL literals (they are arbitrary text): the query returns metric
positions, and Python maps them back. The same rules as the live path apply (``domain.attribution``): sources
resolved explicit-first, event types matched case-insensitively, 900-second epoch-aligned windows, SUM over a
missing value contributing nothing, and metrics counting only rows received after they were created. (The live
series is not computed here: INCREMENTAL rows join the event log and are counted by the live path's own rule.)

The dialects differ only in how identifiers are quoted (``double_quote`` for DuckDB, ``backtick_quote`` for Spark
SQL): everything else the query uses (CTEs, CASE, COALESCE/NULLIF/UPPER, FLOOR over a division that yields a
DOUBLE, LEFT JOIN, SUM over DOUBLE) reads and means the same in both.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from recimpact.domain.attribution import SOURCE_NAME_UNDEFINED, WINDOW_SECONDS, CompiledMetric, item_columns
from recimpact.domain.expressions import MetricExpression

Quote = Callable[[str], str]


def double_quote(name: str) -> str:
    """An identifier in standard SQL (DuckDB)."""
    return '"' + name.replace('"', '""') + '"'


def backtick_quote(name: str) -> str:
    """An identifier in Spark SQL (and Hive's), where double quotes make a string."""
    return "`" + name.replace("`", "``") + "`"


# --- the counting rule, as SQL: what every query that counts events toward metrics is built from ----------------


@dataclass(frozen=True)
class EventFields:
    """How a query names an event's columns: a bulk job's (``AttributionQuery``), or the event store's tables
    (``store/analytics.py``, where an Interactions or Items column other than EVENT_VALUE is a key of a JSON
    object)."""

    interaction_column: Callable[[str], str]  # an Interactions column's value (EVENT_VALUE included)
    item_column: Callable[[str], str]  # an Items column's value, for the event's item


def counted_event_type(event_type: str) -> str:
    """The event type a metric's (upper-cased) event type is compared with: matched case-insensitively. (SQL's
    UPPER must map letters as Python's ``str.upper`` does: DuckDB's maps ß to ẞ where Python writes SS, a gap
    the conformance suite declares; the event store's SQLite connections use Python's.)"""
    return f"UPPER({event_type})"


def aggregate_value(aggregate: MetricExpression, fields: EventFields) -> str:
    """What one event of the metric's type adds to an aggregate (``domain.attribution.metric_value``): 1 for
    SAMPLECOUNT(); the column's value for SUM, NULL (nothing) where the event or its item lacks it; NULL for
    IMPRESSIONCOUNT(), which counts exposures, not events."""
    if aggregate.function == "samplecount":
        return "CAST(1 AS DOUBLE)"
    if aggregate.function != "sum" or aggregate.column is None:
        return "CAST(NULL AS DOUBLE)"
    column = fields.item_column if aggregate.dataset == "ITEMS" else fields.interaction_column
    return f"CAST({column(aggregate.column)} AS DOUBLE)"


def window_start_sql(timestamp: str) -> str:
    """The start of the 15-minute window (aligned to the epoch) an event time falls in."""
    return f"CAST(FLOOR({timestamp} / {WINDOW_SECONDS}) AS BIGINT) * {WINDOW_SECONDS}"


@dataclass(frozen=True)
class AttributionQuery:
    """``metrics`` are single aggregates (``domain.attribution.metric_parts`` splits a RATIO in two); ``labels``
    names each one's series function (``ratio_numerator``...), by default the aggregate's own."""

    metrics: tuple[CompiledMetric, ...]  # the metrics that count these rows, in IDX order
    interaction_columns: frozenset[str]  # upper-case columns the interactions relation has
    labels: tuple[str, ...] = ()

    def label(self, idx: int) -> str:
        return self.labels[idx] if self.labels else self.metrics[idx].function

    @property
    def impression_parts(self) -> list[int]:
        """IDX of the IMPRESSIONCOUNT() parts, which count the IMPRESSION column's items, not rows."""
        if "IMPRESSION" not in self.interaction_columns:
            return []
        return [i for i, m in enumerate(self.metrics) if m.expression.function == "impressioncount"]

    @property
    def needs_items(self) -> bool:
        return any(m.expression.reads("ITEMS") for m in self.metrics)

    @property
    def needs_recommendations(self) -> bool:
        return "RECOMMENDATION_ID" in self.interaction_columns

    def item_columns(self) -> list[str]:
        return item_columns(self.metrics)

    def _events(self, quote: Quote) -> str:
        q = quote
        cols = self.interaction_columns
        source_terms = []
        if "EVENT_ATTRIBUTION_SOURCE" in cols:
            # Kept as sent, as PutEvents keeps it (the model's pattern refuses a blank one); no value is no source.
            source_terms.append(f"NULLIF(i.{q('EVENT_ATTRIBUTION_SOURCE')}, '')")
        if self.needs_recommendations:
            source_terms.append(f"r.{q('SOURCE')}")
        source_terms.append(f"'{SOURCE_NAME_UNDEFINED}'")
        event_columns = sorted(
            {
                m.expression.column
                for m in self.metrics
                if m.expression.dataset == "INTERACTIONS" and m.expression.column
            }
        )
        event_type, timestamp = f"i.{q('EVENT_TYPE')}", f"i.{q('TIMESTAMP')}"
        select = [
            f"{counted_event_type(event_type)} AS ET",
            f"{window_start_sql(timestamp)} AS WS",
            f"COALESCE({', '.join(source_terms)}) AS SRC",
        ]
        if self.needs_items:
            select.append(f"i.{q('ITEM_ID')} AS IID")
        if self.impression_parts:
            select.append(f"NULLIF(i.{q('IMPRESSION')}, '') AS IMP")  # items as sent, as in PutEvents
            user = f"i.{q('USER_ID')}" if "USER_ID" in cols else "NULL"
            select.append(f"{user} AS UID")
        # A nullable column the job's files all lack is no value in every row (SUM adds nothing).
        select += [
            f"{f'i.{q(c)}' if c in cols else 'CAST(NULL AS DOUBLE)'} AS {q('C_' + c)}" for c in event_columns
        ]
        joins = ""
        if self.needs_recommendations:
            joins = f" LEFT JOIN recommendations r ON i.{q('RECOMMENDATION_ID')} = r.{q('RECOMMENDATION_ID')}"
        return f"events AS (SELECT {', '.join(select)} FROM interactions i{joins})"

    def sources_sql(self, quote: Quote) -> str:
        """Every source the rows resolve to (the 100-source limit counts them all, matched by a metric or not)."""
        return f"WITH {self._events(quote)} SELECT DISTINCT SRC FROM events"

    def sql(self, quote: Quote) -> str:
        """(IDX, SRC, WS, VALUE) per metric, source and window: one scan, one join per lookup, one aggregate."""
        q = quote
        # The event's own columns were selected as C_<column> by ``_events``; its item's come from the join below.
        # IMPRESSIONCOUNT() parts are NULL here: counted from the IMPRESSION column below.
        fields = EventFields(lambda c: f"e.{q('C_' + c)}", lambda c: f"it.{q(c)}")
        cases = [
            f"WHEN {idx} THEN {aggregate_value(metric.expression, fields)}"
            for idx, metric in enumerate(self.metrics)
        ]
        item_join = ""
        if self.needs_items:
            # Only the rows of metrics that read an item column look their item up: the others (typically the
            # many views of a SAMPLECOUNT) join on NULL, which matches nothing and costs next to nothing.
            reading = ", ".join(str(i) for i, m in enumerate(self.metrics) if m.expression.dataset == "ITEMS")
            item_join = (
                f" LEFT JOIN items it ON (CASE WHEN m.IDX IN ({reading}) THEN e.IID END) = it.{q('ITEM_ID')}"
            )
        impressions = ""
        if self.impression_parts:
            # An impression list (items separated by '|', as AWS's IMPRESSION column holds them) counts once per
            # source, user and list, in the window it first appears, like impression lists sent with PutEvents.
            shown = (
                "shown AS (SELECT SRC, MIN(WS) AS WS, "
                "CAST(LENGTH(IMP) - LENGTH(REPLACE(IMP, '|', '')) + 1 AS DOUBLE) AS N "
                "FROM events WHERE IMP IS NOT NULL GROUP BY SRC, UID, IMP)"
            )
            impressions = "".join(
                f" UNION ALL SELECT {idx} AS IDX, SRC, WS, SUM(N) AS VALUE FROM shown GROUP BY SRC, WS"
                for idx in self.impression_parts
            )
            impressions_cte = f", {shown}"
        else:
            impressions_cte = ""
        return (
            f"WITH {self._events(quote)}{impressions_cte}, "
            f"contributions AS (SELECT m.IDX AS IDX, e.SRC AS SRC, e.WS AS WS, "
            f"CASE m.IDX {' '.join(cases)} END AS V "
            f"FROM events e JOIN metrics m ON e.ET = m.ET{item_join}) "
            "SELECT IDX, SRC, WS, SUM(V) AS VALUE FROM contributions WHERE V IS NOT NULL GROUP BY IDX, SRC, WS"
            f"{impressions}"
        )
