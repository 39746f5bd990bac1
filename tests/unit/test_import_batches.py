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
from recimpact.domain.expressions import parse_expression
from recimpact.services.import_execution import JobEnvironment, JobFailed, append_rows
from recimpact.services.ingest_targets import IngestTarget
from recimpact.store.events import EventStore

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
def store(tmp_path: Path) -> Iterator[EventStore]:
    opened = EventStore(tmp_path / "events.sqlite3")
    yield opened
    opened.close()


class FailingAfter:
    """The store, but its ``submit`` fails from the ``n``-th call on (a full disk, say)."""

    def __init__(self, store: EventStore, n: int) -> None:
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


def environment(events: Any, tmp_path: Path) -> JobEnvironment:
    return JobEnvironment(catalog=None, events=events, engine=None, data_dir=tmp_path, s3_endpoint_url=None)  # type: ignore[arg-type]


def counted(store: EventStore) -> dict[str, float]:
    return {p.key.source: p.value for p in store.series("series")}


def test_every_batch_is_stored_and_counted_once(store: EventStore, part: Path, tmp_path: Path) -> None:
    env = environment(store, tmp_path)
    append_rows(env, TARGET, part, ["a", "b"], 1_700_000_200.0, tmp_path, batch=10)
    assert env.progress.stored == ROWS
    assert counted(store) == {"a": 13.0, "b": 12.0}
    assert store.read("SELECT COUNT(*) FROM events") == [(ROWS,)]
    assert store.sources_of(GROUP) == {"a", "b"}
    append_rows(environment(store, tmp_path), TARGET, part, ["a", "b"], 1_700_000_300.0, tmp_path, batch=10)
    assert counted(store) == {"a": 13.0, "b": 12.0}  # the same rows again: nothing new


def test_a_store_failing_part_way_fails_the_job_and_a_rerun_completes_it(
    store: EventStore, part: Path, tmp_path: Path
) -> None:
    with pytest.raises(JobFailed, match="after 10 of the job's rows were stored"):
        append_rows(
            environment(FailingAfter(store, 1), tmp_path), TARGET, part, ["a", "b"], 1e9, tmp_path, batch=10
        )
    assert sum(counted(store).values()) == 10
    append_rows(environment(store, tmp_path), TARGET, part, ["a", "b"], 1e9, tmp_path, batch=10)
    assert counted(store) == {"a": 13.0, "b": 12.0}


def test_a_store_failing_at_the_first_batch_stores_nothing(
    store: EventStore, part: Path, tmp_path: Path
) -> None:
    with pytest.raises(OSError, match="disk is full"):
        append_rows(
            environment(FailingAfter(store, 0), tmp_path), TARGET, part, ["a", "b"], 1e9, tmp_path, batch=10
        )
    assert counted(store) == {}
    assert store.sources_of(GROUP) == set()
