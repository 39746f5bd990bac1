"""What the rest of recimpact may ask of the event store, whichever backend holds it (as ``store/catalog.py``'s
``Catalog`` and ``CatalogTx`` for the catalog): ``EventStore``, which services, sinks, jobs and the server's state
hold, and ``IngestTx``, what a unit of work may do inside the store's write transaction. SQLite's are
``SqliteEventStore`` (``store/events.py``) and ``SqliteIngestTx`` (``store/ingest.py``).

Types only: callers hold the backend's own objects, so a call costs what it costs on them (no wrapper in the ingest
path).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Protocol, TypeVar

from recimpact.domain.expressions import MetricExpression
from recimpact.store.series import SeriesKey, SeriesPoint

T = TypeVar("T")

EventRow = tuple[Any, ...]  # an event as the store appends it (``store/ingest.py``'s ``event_row``)
AppendCallback = Callable[["IngestTx", list[bool]], None]


class IngestTx(Protocol):
    """What a unit of work may do inside the event store's write transaction. A unit that raises is undone whole
    (its writes, and what it left in memory), without touching the other units of its commit."""

    def append_events(
        self, dataset_group: str, rows: Sequence[EventRow], then: AppendCallback, items: Iterable[str] = ()
    ) -> None:
        """Append events with the commit, except duplicates; ``then`` learns which were appended, in the same
        transaction."""
        ...

    def append_events_now(self, dataset_group: str, rows: Sequence[EventRow]) -> list[bool]:
        """Append events at once, except duplicates; for each row, whether it was appended."""
        ...

    def recommendation_source(self, recommendation_id: str) -> str | None: ...

    def record_recommendation(
        self,
        recommendation_id: str,
        source: str,
        issued_at: float,
        dataset_group: str | None = None,
        user_id: str | None = None,
        items: Sequence[str] = (),
    ) -> None: ...

    def known_sources(self, dataset_group: str) -> set[str]:
        """The group's sources (a live view: do not modify)."""
        ...

    def add_sources(self, dataset_group: str, sources: Iterable[str], now: float) -> None: ...

    def load_items(self, dataset_group: str, item_ids: Iterable[str]) -> None:
        """Read the named items at once, for ``item`` to find."""
        ...

    def item(self, dataset_group: str, item_id: str) -> dict[str, Any] | None:
        """An item's columns as they are now (this commit's upserts included)."""
        ...

    def upsert_records(
        self,
        table: str,
        dataset_group: str,
        records: Iterable[tuple[str, dict[str, Any]]],
        now: float,
        origin: str,
    ) -> None: ...

    def drop_bulk_records(self, table: str, dataset_group: str) -> None: ...

    def add_to_series(self, key: SeriesKey, value: float) -> None: ...

    def add_exposure(
        self,
        dataset_group: str,
        key: bytes,
        source: str,
        user_id: str | None,
        shown_at: float,
        items: int,
        received_at: float | None = None,
    ) -> bool:
        """False if this exposure was recorded before."""
        ...

    def add_backfill(self, key: SeriesKey, value: float, publish: bool) -> None: ...

    def coverage(self, series_id: str, metric_name: str) -> tuple[float, float] | None: ...

    def set_coverage(
        self, series_id: str, metric_name: str, since: float, received_before: float
    ) -> None: ...

    def mark_published(self, points: Sequence[tuple[SeriesKey, float]]) -> None: ...


class EventStore(Protocol):
    """The durable event log, items and users, attribution sources, exposures and the live series."""

    @property
    def path(self) -> str:
        """Where the store lives, for another process to open it there (an import job's rows)."""
        ...

    def submit(self, work: Callable[[IngestTx], T]) -> concurrent.futures.Future[T]:
        """Run ``work`` in the next group commit; the future resolves once it is durable (or raised)."""
        ...

    def submit_async(self, work: Callable[[IngestTx], T]) -> asyncio.Future[T]:
        """``submit`` for a caller on an event loop."""
        ...

    def series(
        self, series_id: str, start: float | None = None, end: float | None = None
    ) -> list[SeriesPoint]: ...

    def unpublished(self, limit: int, until: float, beyond: float) -> list[SeriesPoint]: ...

    def coverage(self, series_id: str, metric_name: str) -> tuple[float, float] | None: ...

    def item_values(self, dataset_group: str, columns: Sequence[str]) -> Iterable[tuple[Any, ...]]: ...

    def items_by_id(self, dataset_group: str, item_ids: Sequence[str]) -> dict[str, dict[str, Any]]: ...

    def recommendation_source(self, recommendation_id: str) -> str | None: ...

    def recommendation_sources(self, recommendation_ids: Sequence[str]) -> dict[str, str]: ...

    def sources_of(self, dataset_group: str) -> set[str]: ...

    def interactions(self, dataset_group: str) -> Iterator[tuple[str, str, str, float]]: ...

    def stored_events(self, dataset_group: str, since: float, until: float) -> Iterator[tuple[Any, ...]]: ...

    def stored_exposures(self, dataset_group: str, since: float) -> Iterator[tuple[Any, ...]]: ...

    def exposed_users(
        self, dataset_group: str, sources: Sequence[str], since: float, until: float
    ) -> set[tuple[str, str]]: ...

    def per_user_totals(
        self,
        dataset_group: str,
        sources: Sequence[str],
        since: float,
        until: float,
        event_type: str,
        aggregate: MetricExpression,
    ) -> dict[tuple[str, str], float]: ...

    def close(self) -> None: ...
