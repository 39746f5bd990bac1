"""Events into the event log, and what they add to the live series: the ingest machinery PutEvents, the exposures
GetRecommendations records and INCREMENTAL import jobs share (``services/events.py``,
``services/recommendations.py``, ``jobs/import_rows.py``), so that an event counts once, and counts the same,
whichever path brings it.

An event is prepared outside the write turn (``prepare_events``: sources resolved, rows built, contributions to its
15-minute windows computed) and recorded inside it (``record_events``, ``record_imported_batch``): the 100-source
limit checked, the events that are not duplicates appended, their exposures and contributions added.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from recimpact.domain.attribution import (
    MAX_SOURCES_PER_DATASET_GROUP,
    CompiledAttribution,
    exposure_contributions,
    live_contributions,
    new_sources,
    resolve_source,
)
from recimpact.domain.errors import InvalidInputException
from recimpact.domain.events import Interaction
from recimpact.ingest.targets import IngestTarget
from recimpact.store.ingest import event_row
from recimpact.store.interfaces import EventRow, EventStore, IngestTx
from recimpact.store.series import SeriesKey


@dataclass(frozen=True)
class PreparedEvents:
    """One request's events made ready before they meet the writer: sources resolved, rows built, what each event
    adds to the series computed. The writer is the one place that can say whether an event is new, so everything
    else is done here, beside it (and, with several server processes, in parallel)."""

    events: list[Interaction]
    sources: list[str]
    rows: list[EventRow]
    # What each event adds to the series; None where it depends on an item's columns, which the writer reads
    # as they are when the event is stored.
    contributions: list[list[tuple[SeriesKey, float]] | None]
    received_at: float

    def items_to_read(self) -> list[str]:
        """The items whose columns counting reads (``prepare_events`` left their contributions to the writer)."""
        wanted = {e.item_id for e, a in zip(self.events, self.contributions, strict=True) if a is None}
        return [item for item in wanted if item]


def prepare_events(
    store: EventStore,
    target: IngestTarget,
    events: list[Interaction],
    received_at: float,
    recommendation_source: Callable[[str], str | None] | None = None,
) -> PreparedEvents:
    """Sources come from committed state (a recommendation recimpact issued is durable before it is answered);
    ``recommendation_source`` looks them up instead of the store (an import job's batch, looked up at once)."""
    lookup = recommendation_source or store.recommendation_source
    sources = [resolve_source(event, lookup) for event in events]
    attribution = target.attribution
    contributions: list[list[tuple[SeriesKey, float]] | None] = []
    for event, source in zip(events, sources, strict=True):
        if attribution is None:
            contributions.append([])
        elif event.item_id and event.event_type.upper() in attribution.item_event_types:
            contributions.append(None)
        else:
            contributions.append(series_contributions(attribution, event, source, received_at, None))
    rows = [event_row(event, source, received_at) for event, source in zip(events, sources, strict=True)]
    return PreparedEvents(events, sources, rows, contributions, received_at)


def series_contributions(
    attribution: CompiledAttribution,
    event: Interaction,
    source: str,
    received_at: float,
    item: dict[str, Any] | None,
) -> list[tuple[SeriesKey, float]]:
    return [
        (
            SeriesKey(attribution.series_id, metric.metric_name, metric.event_type, label, source, window),
            value,
        )
        for metric, label, window, value in live_contributions(attribution, event, received_at, item)
    ]


def record_events(tx: IngestTx, target: IngestTarget, prepared: PreparedEvents) -> None:
    """One request's events, all or nothing: the source limit is checked now, the events are appended with the
    commit, and each one that was not a duplicate then adds its contributions (a duplicate counts once)."""
    group = target.dataset_group_arn
    added = sources_within_limit(tx, group, prepared.sources)
    tx.append_events(
        group,
        prepared.rows,
        lambda tx, new: count_new_events(tx, target, prepared, new),
        items=prepared.items_to_read(),
    )
    tx.add_sources(group, added, prepared.received_at)


def record_imported_batch(
    tx: IngestTx, target: IngestTarget, prepared: PreparedEvents, sources: Sequence[str] = ()
) -> None:
    """A batch of an INCREMENTAL import's rows, as ``record_events`` records a request's events: they join the same
    event log, so a row that repeats an event sent with PutEvents, or a row of an earlier import, counts once.
    ``sources``, the whole job's, are checked against the limit and added with its first batch."""
    group = target.dataset_group_arn
    if sources:
        tx.add_sources(group, sources_within_limit(tx, group, sources), prepared.received_at)
    tx.load_items(group, prepared.items_to_read())
    count_new_events(tx, target, prepared, tx.append_events_now(group, prepared.rows))


def sources_within_limit(tx: IngestTx, dataset_group: str, sources: Sequence[str]) -> list[str]:
    """The sources new to the group, checked against the 100-source limit inside the writer's transaction, so
    that two requests (or an import) adding sources at the same moment cannot pass it together. The error is
    InvalidInputException: personalize-events models no LimitExceededException, and boto3's standard and
    adaptive retry modes would retry that code as throttling."""
    known = tx.known_sources(dataset_group)
    added = new_sources(sources, known)
    if len(known) + len(added) > MAX_SOURCES_PER_DATASET_GROUP:
        raise InvalidInputException(
            f"Dataset group {dataset_group} would exceed the limit of {MAX_SOURCES_PER_DATASET_GROUP} unique event "
            f"attribution sources (it has {len(known)}; this adds {len(added)})"
        )
    return added


def count_new_events(
    tx: IngestTx, target: IngestTarget, prepared: PreparedEvents, new: Sequence[bool]
) -> None:
    """What the events that were appended (``new``) add: their exposures, and their contributions to the series,
    with an item's columns as stored now where a contribution reads them. A duplicate adds nothing."""
    group = target.dataset_group_arn
    attribution = target.attribution
    received_at = prepared.received_at
    for is_new, event, source, adds in zip(
        new, prepared.events, prepared.sources, prepared.contributions, strict=True
    ):
        if not is_new:
            continue
        if event.impression:
            record_exposure(tx, target, event, source, received_at)
        if adds is None and attribution is not None and event.item_id:
            item = tx.item(group, event.item_id)
            adds = series_contributions(attribution, event, source, received_at, item)
        for key, value in adds or ():
            tx.add_to_series(key, value)


def record_exposure(
    tx: IngestTx, target: IngestTarget, event: Interaction, source: str, received_at: float
) -> None:
    """An event's ``impression`` list: the items its source showed. The same list shown to the same user by the
    same source counts once (a View and the Purchase that follows carry the same carousel), and a list behind a
    recommendationId recimpact issued was counted when the recommendation was served."""
    if event.recommendation_id and tx.recommendation_source(event.recommendation_id) is not None:
        return
    who = event.user_id or event.session_id or ""
    key = hashlib.blake2b("\x00".join((source, who, *event.impression)).encode(), digest_size=16).digest()
    if tx.add_exposure(
        target.dataset_group_arn,
        key,
        source,
        event.user_id,
        event.sent_at,
        len(event.impression),
        received_at,
    ):
        add_exposure_contributions(
            tx, target.attribution, source, event.sent_at, received_at, len(event.impression)
        )


def add_exposure_contributions(
    tx: IngestTx,
    attribution: CompiledAttribution | None,
    source: str,
    shown_at: float,
    received_at: float,
    items_shown: int,
) -> None:
    if attribution is None or not attribution.counts_impressions:
        return
    for metric, label, window, value in exposure_contributions(
        attribution, shown_at, received_at, items_shown
    ):
        tx.add_to_series(
            SeriesKey(attribution.series_id, metric.metric_name, metric.event_type, label, source, window),
            value,
        )
