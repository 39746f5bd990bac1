"""An INCREMENTAL import's rows joining the event log PutEvents writes, so that an event counts once whichever path
brings it (and however often).

The rows go in a batch at a time, each batch prepared outside the write turn (as PutEvents prepares a request) and
committed in a transaction of its own: PutEvents waits for one batch's commit (some 10,000 rows, tens of
milliseconds), never for the whole import (1M rows in one transaction held the turn for 22 s). The preparation is
Python work (each row's Interaction, content key and contributions, some 15 µs a row): in the server's process it
took the GIL from the event loop, which then answered 290 of 500 PutEvents calls a second during a 1M-row import. So
the job runs it in a process of its own on the same event store file, as a ``--workers`` process writes it: another
core prepares, and the server's loop only shares the write turn with it, one batch at a time.

The source limit is checked with the first batch, before any row is stored. Should the server stop part-way, the
job runs again at its next start and the rows already stored count once (the event log dedupes them); a batch that
cannot be stored fails the job, saying how many rows were.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from multiprocessing.connection import Connection
from pathlib import Path

from recimpact.domain.errors import ServiceError
from recimpact.domain.events import interaction_from_record
from recimpact.ingest.events import PreparedEvents, prepare_events, record_imported_batch
from recimpact.ingest.targets import IngestTarget
from recimpact.store.events import SqliteEventStore
from recimpact.store.interfaces import EventStore, IngestTx
from recimpact.store.parts import rows_by_time

BATCH = 10_000


class RowsNotStored(Exception):
    """The event store failed part-way through a job's rows; the message says how far it got."""


def append_rows(
    events: EventStore,
    target: IngestTarget,
    part: Path,
    sources: Sequence[str],
    received_at: float,
    work_dir: Path,
    stored_so_far: Callable[[int], None] = lambda stored: None,
    batch: int = BATCH,
) -> int:
    """Put the rows of ``part`` (a stored Parquet part) into the event log, batch by batch; returns how many rows
    were offered (duplicates included). ``stored_so_far`` hears of each batch."""
    stored = 0
    for prepared in _prepared_batches(events, target, part, received_at, work_dir, batch):
        first = stored == 0

        def unit(tx: IngestTx, prepared: PreparedEvents = prepared, first: bool = first) -> None:
            record_imported_batch(tx, target, prepared, sources if first else ())

        try:
            events.submit(unit).result()
        except ServiceError:
            raise  # the source limit (first batch): nothing stored
        except Exception as exc:
            if first:
                raise
            raise RowsNotStored(
                f"the event store failed after {stored:,} of the job's rows were stored ({exc}); run the job again"
                " to store the rest (the rows stored count once)"
            ) from exc
        stored += len(prepared.rows)
        stored_so_far(stored)
    return stored


def _prepared_batches(
    events: EventStore, target: IngestTarget, part: Path, received_at: float, work_dir: Path, batch: int
) -> Iterator[PreparedEvents]:
    """The job's rows as PutEvents' events would be, in event-time order, a batch at a time (so that they are never
    all in memory): received when the job was created, their recommendationIds looked up once per batch."""
    for rows in rows_by_time(part, work_dir, batch):
        interactions = [interaction_from_record(row) for row in rows]
        ids = sorted({e.recommendation_id for e in interactions if e.recommendation_id})
        issued = events.recommendation_sources(ids) if ids else {}
        yield prepare_events(events, target, interactions, received_at, issued.get)


def append_rows_apart(
    events: EventStore,
    target: IngestTarget,
    part: Path,
    sources: Sequence[str],
    received_at: float,
    work_dir: Path,
    stored_so_far: Callable[[int], None] = lambda stored: None,
) -> int:
    """``append_rows`` in a process of its own, on ``events``' file; its errors are raised here."""
    context = multiprocessing.get_context(
        "spawn"
    )  # a fresh interpreter: no threads or locks copied from this one
    receiving, sending = context.Pipe(duplex=False)
    child = context.Process(
        target=_child,
        args=(sending, events.path, target, part, list(sources), received_at, work_dir),
        name="recimpact-import-rows",
        daemon=True,
    )
    child.start()
    sending.close()
    try:
        while True:
            try:
                kind, value = receiving.recv()
            except EOFError:
                raise RowsNotStored(
                    f"the process storing the job's rows ended unexpectedly (exit code {child.exitcode})"
                ) from None
            if kind == "stored":
                stored_so_far(value)
            elif kind == "done":
                return int(value)
            else:
                raise value
    finally:
        receiving.close()
        child.join()


def _child(
    sending: Connection,
    store_path: str,
    target: IngestTarget,
    part: Path,
    sources: list[str],
    received_at: float,
    work_dir: Path,
) -> None:
    events = SqliteEventStore(store_path, checkpoints=False)
    try:
        stored = append_rows(
            events, target, part, sources, received_at, work_dir, lambda n: sending.send(("stored", n))
        )
        sending.send(("done", stored))
    except Exception as exc:
        sending.send(("failed", exc))
    finally:
        events.close()
        sending.close()
