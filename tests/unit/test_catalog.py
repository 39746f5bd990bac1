"""The SQLite catalog: lookups, order, transactions, persistence, and consistency after ``kill -9``."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

from recimpact.domain.arns import Scope
from recimpact.domain.resources import (
    Dataset,
    DatasetGroup,
    EventTracker,
    Metric,
    MetricAttribution,
    Schema,
)
from recimpact.store.catalog import SqliteCatalog

SCOPE = Scope(account="111111111111", region="us-east-1")
OTHER_ACCOUNT = Scope(account="222222222222", region="us-east-1")
OTHER_REGION = Scope(account="111111111111", region="eu-west-1")


def group(name: str, created: float = 1000.0, scope: Scope = SCOPE) -> DatasetGroup:
    return DatasetGroup(
        arn=scope.arn("dataset-group", name),
        name=name,
        creation_date_time=created,
        last_updated_date_time=created,
        account=scope.account,
        region=scope.region,
        tags={"team": "search"},
    )


def dataset(group_arn: str, dataset_type: str, created: float = 1001.0) -> Dataset:
    return Dataset(
        arn=SCOPE.arn("dataset", f"{group_arn.rsplit('/', 1)[1]}/{dataset_type}"),
        name=dataset_type.lower(),
        creation_date_time=created,
        last_updated_date_time=created,
        account=SCOPE.account,
        region=SCOPE.region,
        dataset_group_arn=group_arn,
        dataset_type=dataset_type,
        schema_arn=SCOPE.arn("schema", "s"),
    )


def tracker(group_arn: str, tracking_id: str, name: str = "tracker", created: float = 1002.0) -> EventTracker:
    return EventTracker(
        arn=SCOPE.arn("event-tracker", name),
        name=name,
        creation_date_time=created,
        last_updated_date_time=created,
        account=SCOPE.account,
        region=SCOPE.region,
        dataset_group_arn=group_arn,
        tracking_id=tracking_id,
        account_id=SCOPE.account,
    )


def attribution(group_arn: str, created: float = 1003.0) -> MetricAttribution:
    return MetricAttribution(
        arn=SCOPE.arn("metric-attribution", "ma"),
        name="ma",
        creation_date_time=created,
        last_updated_date_time=created,
        account=SCOPE.account,
        region=SCOPE.region,
        dataset_group_arn=group_arn,
        metrics=[
            Metric(
                event_type="View", metric_name="views", expression="SAMPLECOUNT()", counting_since=created
            ),
            Metric(
                event_type="Buy",
                metric_name="margin",
                expression="SUM(ITEMS.MARGIN)",
                counting_since=created + 5,
            ),
        ],
        metrics_output_config={
            "roleArn": "arn:aws:iam::111111111111:role/R",
            "s3DataDestination": {"path": "s3://b/"},
        },
    )


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.sqlite3"


@pytest.fixture
def catalog(path: Path) -> Iterator[SqliteCatalog]:
    cat = SqliteCatalog(path)
    yield cat
    cat.close()


def test_put_and_get_round_trip(catalog: SqliteCatalog) -> None:
    g = group("g")
    ma = attribution(g.arn)
    with catalog.transaction() as tx:
        tx.put(g)
        tx.put(ma)
    with catalog.transaction() as tx:
        assert tx.get(DatasetGroup, g.arn) == g
        loaded = tx.get(MetricAttribution, ma.arn)
    assert loaded == ma
    assert loaded is not None
    assert all(isinstance(m, Metric) for m in loaded.metrics)
    assert loaded.metric("VIEWS") == ma.metrics[0]


def test_get_checks_the_kind(catalog: SqliteCatalog) -> None:
    g = group("g")
    with catalog.transaction() as tx:
        tx.put(g)
        assert tx.get(Schema, g.arn) is None
        assert tx.get(DatasetGroup, SCOPE.arn("dataset-group", "missing")) is None


def test_get_any_returns_the_right_class(catalog: SqliteCatalog) -> None:
    g = group("g")
    d = dataset(g.arn, "INTERACTIONS")
    with catalog.transaction() as tx:
        tx.put(g)
        tx.put(d)
        assert tx.get_any(d.arn) == d
        assert isinstance(tx.get_any(g.arn), DatasetGroup)
        assert tx.get_any("arn:aws:personalize:us-east-1:111111111111:dataset/none/ITEMS") is None


def test_get_by_lookup(catalog: SqliteCatalog) -> None:
    g = group("g")
    t = tracker(g.arn, "b6c0b0b2-0000-4000-8000-000000000001")
    with catalog.transaction() as tx:
        tx.put(g)
        tx.put(t)
    with catalog.transaction() as tx:
        assert tx.get_by_lookup(EventTracker, t.tracking_id) == t
        assert tx.get_by_lookup(EventTracker, "unknown") is None
        assert tx.get_by_lookup(Dataset, t.tracking_id) is None


def test_a_taken_lookup_key_fails_instead_of_replacing_another_record(catalog: SqliteCatalog) -> None:
    g = group("g")
    with catalog.transaction() as tx:
        tx.put(g)
        tx.put(tracker(g.arn, "same-id", name="first"))
    with pytest.raises(sqlite3.IntegrityError), catalog.transaction() as tx:
        tx.put(tracker(g.arn, "same-id", name="second"))
    with catalog.transaction() as tx:
        found = tx.get_by_lookup(EventTracker, "same-id")
        assert found is not None
        assert found.name == "first"
        rows = catalog._conn.execute("SELECT COUNT(*) FROM resources WHERE lookup = 'same-id'").fetchone()
        assert rows == (1,)


def test_put_replaces(catalog: SqliteCatalog) -> None:
    g = group("g")
    with catalog.transaction() as tx:
        tx.put(g)
    g.status = "DELETE PENDING"
    g.last_updated_date_time = 2000.0
    with catalog.transaction() as tx:
        tx.put(g)
    with catalog.transaction() as tx:
        loaded = tx.get(DatasetGroup, g.arn)
        assert loaded is not None
        assert loaded.status == "DELETE PENDING"
        assert loaded.last_updated_date_time == 2000.0
        assert len(tx.list(DatasetGroup, SCOPE)) == 1


def test_list_newest_first_ties_by_arn(catalog: SqliteCatalog) -> None:
    records = [group("a", 10.0), group("d", 30.0), group("c", 20.0), group("b", 20.0), group("e", 5.0)]
    with catalog.transaction() as tx:
        for record in records:
            tx.put(record)
    with catalog.transaction() as tx:
        assert [r.name for r in tx.list(DatasetGroup, SCOPE)] == ["d", "b", "c", "a", "e"]


def test_list_is_scoped_to_account_region_and_kind(catalog: SqliteCatalog) -> None:
    mine = group("mine")
    with catalog.transaction() as tx:
        tx.put(mine)
        tx.put(group("theirs", scope=OTHER_ACCOUNT))
        tx.put(group("elsewhere", scope=OTHER_REGION))
        tx.put(dataset(mine.arn, "ITEMS"))
    with catalog.transaction() as tx:
        assert [r.name for r in tx.list(DatasetGroup, SCOPE)] == ["mine"]
        assert [r.name for r in tx.list(DatasetGroup, OTHER_ACCOUNT)] == ["theirs"]
        assert [r.name for r in tx.list(DatasetGroup, OTHER_REGION)] == ["elsewhere"]
        assert tx.list(Schema, SCOPE) == []


def test_list_by_parent(catalog: SqliteCatalog) -> None:
    g1, g2 = group("g1"), group("g2")
    with catalog.transaction() as tx:
        for record in (g1, g2, dataset(g1.arn, "INTERACTIONS", 1.0), dataset(g1.arn, "ITEMS", 2.0)):
            tx.put(record)
        tx.put(dataset(g2.arn, "USERS", 3.0))
    with catalog.transaction() as tx:
        assert [d.dataset_type for d in tx.list(Dataset, SCOPE, parent=g1.arn)] == ["ITEMS", "INTERACTIONS"]
        assert [d.dataset_type for d in tx.list(Dataset, SCOPE, parent=g2.arn)] == ["USERS"]
        assert len(tx.list(Dataset, SCOPE)) == 3


def test_children_of_every_kind_oldest_first(catalog: SqliteCatalog) -> None:
    g, other = group("g"), group("other")
    kids = [
        attribution(g.arn, 30.0),
        dataset(g.arn, "INTERACTIONS", 10.0),
        tracker(g.arn, "t-1", created=20.0),
    ]
    with catalog.transaction() as tx:
        tx.put(g)
        tx.put(other)
        for kid in kids:
            tx.put(kid)
        tx.put(dataset(other.arn, "ITEMS"))
    with catalog.transaction() as tx:
        children = tx.children(g.arn)
        assert [type(c) for c in children] == [Dataset, EventTracker, MetricAttribution]
        assert children == sorted(kids, key=lambda r: r.creation_date_time)
        assert tx.children(SCOPE.arn("dataset-group", "empty")) == []


def test_delete(catalog: SqliteCatalog) -> None:
    g = group("g")
    t = tracker(g.arn, "t-1")
    with catalog.transaction() as tx:
        tx.put(g)
        tx.put(t)
    with catalog.transaction() as tx:
        tx.delete(t.arn)
        tx.delete(SCOPE.arn("dataset-group", "never-existed"))  # deleting nothing is not an error
    with catalog.transaction() as tx:
        assert tx.get(EventTracker, t.arn) is None
        assert tx.get_by_lookup(EventTracker, "t-1") is None
        assert tx.children(g.arn) == []
        assert tx.get(DatasetGroup, g.arn) == g
        tx.put(tracker(g.arn, "t-1", name="again"))  # the lookup key is free again


def test_every_spans_accounts_and_regions_oldest_first(catalog: SqliteCatalog) -> None:
    with catalog.transaction() as tx:
        tx.put(group("mine", 20.0))
        tx.put(group("theirs", 10.0, scope=OTHER_ACCOUNT))
        tx.put(group("elsewhere", 30.0, scope=OTHER_REGION))
        tx.put(dataset(group("mine").arn, "ITEMS"))
    with catalog.transaction() as tx:
        assert [g.name for g in tx.every(DatasetGroup)] == ["theirs", "mine", "elsewhere"]
        assert [d.dataset_type for d in tx.every(Dataset)] == ["ITEMS"]
        assert tx.every(Schema) == []


def test_generation_grows_with_committed_writes_only(catalog: SqliteCatalog) -> None:
    start = catalog.generation
    with catalog.transaction() as tx:
        tx.get(DatasetGroup, group("g").arn)
        tx.list(DatasetGroup, SCOPE)
    assert catalog.generation == start  # read-only
    with catalog.transaction() as tx:
        tx.put(group("g"))
    assert catalog.generation == start + 1
    with catalog.transaction() as tx:
        tx.delete(group("g").arn)
    assert catalog.generation == start + 2

    def failed_write() -> None:
        with catalog.transaction() as tx:
            tx.put(group("h"))
            raise RuntimeError("rolled back")

    with pytest.raises(RuntimeError):
        failed_write()
    assert catalog.generation == start + 2  # nothing committed, caches stay valid


def test_a_shared_catalog_sees_another_process_writes(tmp_path: Path) -> None:
    """Two catalogs on one file (as two processes of a --workers server have): a write through one moves the
    other's generation, so its caches are rebuilt; an unshared catalog trusts its own writes only."""
    path = tmp_path / "catalog.sqlite3"
    mine, theirs = SqliteCatalog(path, shared=True), SqliteCatalog(path, shared=True)
    alone = SqliteCatalog(path)
    try:
        before, before_alone = mine.generation, alone.generation
        assert mine.generation == before  # reading moves nothing
        with theirs.transaction() as tx:
            tx.put(group("g"))
        assert mine.generation > before
        assert alone.generation == before_alone
        seen = mine.generation
        with mine.transaction() as tx:
            assert tx.get(DatasetGroup, group("g").arn) == group("g")
            assert mine.generation == seen  # inside a transaction, too (the lock is reentrant)
    finally:
        for catalog in (mine, theirs, alone):
            catalog.close()


def test_a_transaction_that_raises_writes_nothing(catalog: SqliteCatalog) -> None:
    kept = group("kept")
    with catalog.transaction() as tx:
        tx.put(kept)
    doomed = group("doomed")

    class Boom(Exception):
        pass

    def doomed_transaction() -> None:
        with catalog.transaction() as tx:
            tx.put(doomed)
            tx.put(dataset(doomed.arn, "ITEMS"))
            tx.delete(kept.arn)
            assert tx.get(DatasetGroup, doomed.arn) == doomed  # visible inside the transaction
            raise Boom

    with pytest.raises(Boom):
        doomed_transaction()
    with catalog.transaction() as tx:
        assert tx.get(DatasetGroup, doomed.arn) is None
        assert tx.children(doomed.arn) == []
        assert tx.get(DatasetGroup, kept.arn) == kept


def test_catalog_usable_after_a_failed_transaction(catalog: SqliteCatalog) -> None:
    def interrupted() -> None:
        with catalog.transaction() as tx:
            tx.put(group("x"))
            raise KeyboardInterrupt  # a BaseException, not an Exception: rolled back too

    with pytest.raises(KeyboardInterrupt):
        interrupted()
    with catalog.transaction() as tx:
        tx.put(group("y"))
    with catalog.transaction() as tx:
        assert [r.name for r in tx.list(DatasetGroup, SCOPE)] == ["y"]


def test_reopening_finds_the_data(path: Path) -> None:
    g = group("g")
    ma = attribution(g.arn)
    first = SqliteCatalog(path)
    with first.transaction() as tx:
        tx.put(g)
        tx.put(ma)
    first.close()
    second = SqliteCatalog(path)
    try:
        with second.transaction() as tx:
            assert tx.get(DatasetGroup, g.arn) == g
            assert tx.get(MetricAttribution, ma.arn) == ma
            assert tx.children(g.arn) == [ma]
    finally:
        second.close()


def test_wal_mode_and_full_sync(path: Path, catalog: SqliteCatalog) -> None:
    conn = sqlite3.connect(path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        conn.close()
    assert catalog._conn.execute("PRAGMA synchronous").fetchone() == (2,)  # FULL


# --- crash consistency ----------------------------------------------------------------------------------------

RECORDS_PER_TX = 5
_WRITER = textwrap.dedent(
    """
    import sys
    from recimpact.domain.arns import Scope
    from recimpact.domain.resources import DatasetGroup
    from recimpact.store.catalog import SqliteCatalog

    scope = Scope(account="111111111111", region="us-east-1")
    catalog = SqliteCatalog(sys.argv[1])
    per_tx = int(sys.argv[2])
    tx_id = 0
    while True:
        with catalog.transaction() as tx:
            for j in range(per_tx):
                name = f"t{tx_id}-r{j}"
                tx.put(DatasetGroup(
                    arn=scope.arn("dataset-group", name), name=name, creation_date_time=float(tx_id),
                    last_updated_date_time=float(tx_id), account=scope.account, region=scope.region,
                    role_arn="x" * 2000,
                ))
        print(tx_id, flush=True)
        tx_id += 1
    """
)


def test_kill_9_leaves_only_whole_transactions(tmp_path: Path, path: Path) -> None:
    script = tmp_path / "writer.py"
    script.write_text(_WRITER)
    proc = subprocess.Popen(
        [sys.executable, str(script), str(path), str(RECORDS_PER_TX)], stdout=subprocess.PIPE, text=True
    )
    acknowledged: list[int] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 30
        while len(acknowledged) < 40 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            acknowledged.append(int(line))
        # Killed while it is writing: it never stops between transactions on its own.
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    assert acknowledged == list(range(len(acknowledged)))
    assert len(acknowledged) >= 40

    reopened = SqliteCatalog(path)
    try:
        with reopened.transaction() as tx:
            stored = tx.list(DatasetGroup, SCOPE)
    finally:
        reopened.close()
    by_tx: dict[int, set[str]] = defaultdict(set)
    for record in stored:
        by_tx[int(record.creation_date_time)].add(record.name)
    for tx_id, names in by_tx.items():
        assert names == {f"t{tx_id}-r{j}" for j in range(RECORDS_PER_TX)}, f"transaction {tx_id} is partial"
    assert set(acknowledged) <= set(by_tx), "an acknowledged transaction was lost"
    # Beyond the acknowledged ones at most the transaction whose commit raced the kill may be present.
    assert set(by_tx) <= set(range(len(acknowledged) + 2))
