"""``recimpact serve --workers 2``: two worker processes answer on one port and take turns committing, the primary
runs the background work. Everything a single process guarantees must hold across them: counts exact and once,
catalog changes seen by every process, jobs started through any of them run, the 100-source limit, sessions,
kill -9 of the primary (nothing acknowledged lost, no worker left behind) and of a worker (replaced)."""

from __future__ import annotations

import concurrent.futures
import json
import os
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.ingest import VIEWS, Tracked, base_time, event, rows
from tests.integration.test_import_jobs import ACTIVE, LocalStore, start_job, wait_job
from tests.integration.test_sigv4 import Browser
from tests.server import ServerProcess, write_credentials

WORKERS = 2
CALLS_PER_CLIENT = 40


def workers_of(server: ServerProcess) -> list[int]:
    """The worker processes' pids (the primary's children)."""
    assert server.proc is not None
    return [
        int(stat.parent.name)
        for stat in Path("/proc").glob("[0-9]*/stat")
        if _field(stat, 1) == str(server.proc.pid)
    ]


def _field(stat: Path, index: int) -> str | None:
    try:
        return stat.read_text().rsplit(")", 1)[1].split()[index]
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wait_until(condition: Any, what: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


@pytest.fixture
def workers(tmp_path: Path) -> Any:
    with ServerProcess(tmp_path / "data", "--workers", str(WORKERS)) as server:
        wait_until(lambda: len(workers_of(server)) == WORKERS, "the workers did not start")
        yield server


def test_events_from_many_connections_count_once_and_every_worker_answers(workers: ServerProcess) -> None:
    tracked = Tracked(workers, [VIEWS])
    ts = base_time()
    pids = workers_of(workers)
    cpu_before = {pid: cpu_seconds(pid) for pid in pids}

    def client_calls(n: int) -> list[list[dict[str, Any]]]:
        client = workers.client("personalize-events")  # a client per thread: connections of its own
        calls = [
            [
                event("View", ts + i % 800, event_id=f"{n}-{i}-{k}", item=f"{i}-{k}", source=f"src-{k % 3}")
                for k in range(5)
            ]
            for i in range(CALLS_PER_CLIENT)
        ]
        for call in calls:
            client.put_events(
                trackingId=tracked.tracking_id, sessionId=f"s{n}", userId=f"u{n}", eventList=call
            )
        for call in calls[:5]:  # retries, with the same event ids: counted once
            client.put_events(
                trackingId=tracked.tracking_id, sessionId=f"s{n}", userId=f"u{n}", eventList=call
            )
        return calls

    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        sent = [call for calls in pool.map(client_calls, range(16)) for call in calls]

    by_source: dict[str, float] = {}
    for call in sent:
        for e in call:
            source = e["metricAttribution"]["eventAttributionSource"]
            by_source[source] = by_source.get(source, 0) + 1
    counted: dict[str, float] = {}
    for _, _, value, _, source, _ in tracked.rows():
        counted[source] = counted.get(source, 0) + value
    assert counted == by_source
    # Both workers answered a share of the 16 connections (the kernel spreads them): each did a real part of the
    # work. A share, not a number of seconds: how much CPU 720 calls take depends on the machine.
    used = {pid: cpu_seconds(pid) - cpu_before[pid] for pid in pids}
    assert all(spent > 0.1 * sum(used.values()) for spent in used.values()), (
        f"a worker answered little: {used}"
    )


def test_catalog_changes_reach_every_worker_at_once(workers: ServerProcess) -> None:
    """Each call on a fresh connection, so consecutive calls land on either worker: a tracker, an attribution and
    its replacement are usable by the next call whichever process answers it."""
    ts = base_time()
    for round_ in range(6):
        tracked = Tracked(workers, [VIEWS])
        fresh = workers.client("personalize-events")
        fresh.put_events(
            trackingId=tracked.tracking_id,
            sessionId="s",
            eventList=[event("View", ts + round_, event_id="a")],
        )
        personalize = workers.client("personalize")
        personalize.delete_metric_attribution(metricAttributionArn=tracked.attribution_arn)
        clicks = {"eventType": "Click", "expression": "SAMPLECOUNT()", "metricName": "clicks"}
        tracked.personalize = personalize
        replacement = tracked.attribute([clicks])
        for n in range(4):
            workers.client("personalize-events").put_events(
                trackingId=tracked.tracking_id,
                sessionId="s",
                eventList=[event("Click", ts + round_, event_id=f"c{n}", item=f"c{n}")],
            )
        assert [(r[0], r[2]) for r in rows(workers, replacement)] == [("CLICKS", 4.0)]


def test_import_job_started_through_a_worker_runs_in_the_primary(
    workers: ServerProcess, tmp_path: Path
) -> None:
    tracked = Tracked(workers, [VIEWS])
    local = LocalStore(tmp_path / "files")
    ts = base_time()
    lines = ["USER_ID,ITEM_ID,TIMESTAMP,EVENT_TYPE", *(f"u1,i{n},{ts + n},View" for n in range(50))]
    local.put("data/part.csv", ("\n".join(lines) + "\n").encode())
    personalize = workers.client("personalize")
    arn = start_job(personalize, tracked.group.interactions_dataset, local.url + "data/")
    job = wait_job(personalize, arn)
    assert job["status"] == ACTIVE, job.get("failureReason")
    # The job's progress, kept by the primary, is readable through every worker (a new connection each time).
    path = f"/api/v1/import-jobs/progress?datasetImportJobArn={arn}"
    wait_until(lambda: _progress(workers, path) == "done", "the primary's progress never reached the workers")
    for _ in range(6):
        assert _progress(workers, path) == "done"


def _progress(server: ServerProcess, path: str) -> str | None:
    status, _, body, _ = Browser(server).request("GET", path)
    assert status == 200, body
    document = json.loads(body)
    assert document["status"] == ACTIVE
    return document["progress"]["phase"] if document["progress"] else None


def test_source_limit_holds_across_workers(workers: ServerProcess) -> None:
    tracked = Tracked(workers, [VIEWS])
    ts = base_time()

    def send(n: int) -> str | None:
        client = workers.client("personalize-events")
        try:
            client.put_events(
                trackingId=tracked.tracking_id,
                sessionId="s",
                eventList=[event("View", ts, event_id=f"e{n}", source=f"source-{n}")],
            )
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return None

    with concurrent.futures.ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(send, range(110)))
    assert outcomes.count(None) == 100
    assert outcomes.count("InvalidInputException") == 10
    assert len({r[4] for r in tracked.rows()}) == 100


def test_a_session_signed_in_through_one_worker_is_accepted_by_every_worker(tmp_path: Path) -> None:
    credentials = write_credentials(tmp_path / "keys.csv", {"AKIDWORKERS": ("secret-w", "111111111111")})
    with ServerProcess(tmp_path / "data", "--workers", "2", "--credentials", str(credentials)) as server:
        browser = Browser(server)  # a new connection per request
        status, _, _, _ = browser.login("AKIDWORKERS", "secret-w")
        assert status == 303
        for _ in range(10):
            status, body = browser.aws("ListDatasetGroups", {})
            assert status == 200, body


def test_kill_9_of_the_primary_loses_no_acknowledged_event_and_leaves_no_worker(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    first = ServerProcess(data_dir, "--workers", "2").start()
    try:
        wait_until(lambda: len(workers_of(first)) == WORKERS, "the workers did not start")
        orphans = workers_of(first)
        tracked = Tracked(first, [VIEWS])
        ts = base_time()
        acknowledged: list[str] = []
        lock = threading.Lock()
        stop = threading.Event()

        def sender() -> None:
            client = first.client("personalize-events", connect_timeout=2, read_timeout=10)
            while not stop.is_set():
                ids = [str(uuid.uuid4()) for _ in range(10)]
                try:
                    client.put_events(
                        trackingId=tracked.tracking_id,
                        sessionId="s",
                        eventList=[event("View", ts, event_id=i, item=i) for i in ids],
                    )
                except Exception:
                    return  # not acknowledged: the server is going away
                with lock:
                    acknowledged.extend(ids)

        threads = [threading.Thread(target=sender) for _ in range(6)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        first.kill()
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    finally:
        first.kill()
    assert len(acknowledged) >= 200, "too few calls went through to test anything"
    # The workers noticed that their primary was gone, and ended.
    wait_until(
        lambda: not any(Path(f"/proc/{pid}").exists() for pid in orphans), "a worker outlived the primary"
    )

    with ServerProcess(data_dir, "--workers", "2") as second:
        counted = sum(r[2] for r in rows(second, tracked.attribution_arn))
        assert len(acknowledged) <= counted
        assert counted % 10 == 0  # a call is stored whole or not at all


def test_a_worker_killed_is_replaced_and_the_server_keeps_answering(workers: ServerProcess) -> None:
    tracked = Tracked(workers, [VIEWS])
    victim = workers_of(workers)[0]
    os.kill(victim, signal.SIGKILL)
    ts = base_time()
    for n in range(20):  # fresh connections, answered by the surviving worker until the replacement is up
        workers.client("personalize-events").put_events(
            trackingId=tracked.tracking_id,
            sessionId="s",
            eventList=[event("View", ts, event_id=f"after-{n}", item=f"after-{n}")],
        )
    wait_until(
        lambda: len(workers_of(workers)) == WORKERS and victim not in workers_of(workers),
        "the dead worker was not replaced",
    )
    assert sum(r[2] for r in tracked.rows()) == 20
