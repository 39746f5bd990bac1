"""An INCREMENTAL import's rows join the event log a batch at a time, each batch its own transaction: every row
counted once, and a store failing part-way fails the job saying how many rows were stored, which a second run
completes without counting them again."""

from __future__ import annotations

import concurrent.futures
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from recimpact.domain.attribution import CompiledAttribution, CompiledMetric
from recimpact.domain.errors import InvalidInputException
from recimpact.domain.expressions import parse_expression
from recimpact.ingest.targets import IngestTarget
from recimpact.jobs.import_rows import RowsNotStored, append_rows, append_rows_apart
from recimpact.store.events import SqliteEventStore

GROUP = "arn:aws:personalize:us-east-1:000000000000:dataset-group/g"
ROWS = 25
TARGET = IngestTarget(
    dataset_group_arn=GROUP,
    account="000000000000",
    region="us-east-1",
    schemas={},
    datasets={},
    attribution=CompiledAttribution(
        arn=GROUP.replace("dataset-group", "metric-attribution"),
        series_id="series",
        dataset_group_arn=GROUP,
        metrics=(CompiledMetric("VIEWS", "VIEW", parse_expression("SAMPLECOUNT()"), 0.0),),
    ),
)


@pytest.fixture
def part(tmp_path: Path) -> Path:
    """A stored part of ROWS distinct Views, two sources, one 15-minute window."""
    path = tmp_path / "part.parquet"
    duckdb.sql(
        f"COPY (SELECT 'u' || (i % 7) AS USER_ID, 'i' || i AS ITEM_ID, 1700000100 + i AS TIMESTAMP,"
        f" 'View' AS EVENT_TYPE, CASE WHEN i % 2 = 0 THEN 'a' ELSE 'b' END AS EVENT_ATTRIBUTION_SOURCE"
        f" FROM range({ROWS}) t(i)) TO '{path}' (FORMAT parquet)"
    )
    return path


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqliteEventStore]:
    opened = SqliteEventStore(tmp_path / "events.sqlite3")
    yield opened
    opened.close()


class FailingAfter:
    """The store, but its ``submit`` fails from the ``n``-th call on (a full disk, say)."""

    def __init__(self, store: SqliteEventStore, n: int) -> None:
        self._store, self._left = store, n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def submit(self, work: Any) -> concurrent.futures.Future[Any]:
        self._left -= 1
        if self._left < 0:
            failed: concurrent.futures.Future[Any] = concurrent.futures.Future()
            failed.set_exception(OSError("database or disk is full"))
            return failed
        return self._store.submit(work)


def counted(store: SqliteEventStore) -> dict[str, float]:
    return {p.key.source: p.value for p in store.series("series")}


def test_every_batch_is_stored_and_counted_once(store: SqliteEventStore, part: Path, tmp_path: Path) -> None:
    heard: list[int] = []
    assert (
        append_rows(store, TARGET, part, ["a", "b"], 1_700_000_200.0, tmp_path, heard.append, batch=10)
        == ROWS
    )
    assert heard == [10, 20, ROWS]
    assert counted(store) == {"a": 13.0, "b": 12.0}
    assert store.read("SELECT COUNT(*) FROM events") == [(ROWS,)]
    assert store.sources_of(GROUP) == {"a", "b"}
    append_rows(store, TARGET, part, ["a", "b"], 1_700_000_300.0, tmp_path, batch=10)
    assert counted(store) == {"a": 13.0, "b": 12.0}  # the same rows again: nothing new


def test_a_store_failing_part_way_fails_the_job_and_a_rerun_completes_it(
    store: SqliteEventStore, part: Path, tmp_path: Path
) -> None:
    failing: Any = FailingAfter(store, 1)
    with pytest.raises(RowsNotStored, match="after 10 of the job's rows were stored"):
        append_rows(failing, TARGET, part, ["a", "b"], 1e9, tmp_path, batch=10)
    assert sum(counted(store).values()) == 10
    append_rows(store, TARGET, part, ["a", "b"], 1e9, tmp_path, batch=10)
    assert counted(store) == {"a": 13.0, "b": 12.0}


def test_a_store_failing_at_the_first_batch_stores_nothing(
    store: SqliteEventStore, part: Path, tmp_path: Path
) -> None:
    failing: Any = FailingAfter(store, 0)
    with pytest.raises(OSError, match="disk is full"):
        append_rows(failing, TARGET, part, ["a", "b"], 1e9, tmp_path, batch=10)
    assert counted(store) == {}
    assert store.sources_of(GROUP) == set()


def test_in_a_process_of_its_own_on_the_same_store(
    store: SqliteEventStore, part: Path, tmp_path: Path
) -> None:
    """The job's process writes the server's event store file, taking the same write turn: what it stored is seen
    here, and its errors are raised here."""
    heard: list[int] = []
    assert append_rows_apart(store, TARGET, part, ["a", "b"], 1e9, tmp_path, heard.append) == ROWS
    assert heard == [ROWS]
    assert counted(store) == {"a": 13.0, "b": 12.0}
    assert store.sources_of(GROUP) == {"a", "b"}
    too_many = [f"s{n}" for n in range(101)]
    with pytest.raises(InvalidInputException, match="limit of 100 unique event attribution sources"):
        append_rows_apart(store, TARGET, part, too_many, 1e9, tmp_path)
    assert store.sources_of(GROUP) == {"a", "b"}
